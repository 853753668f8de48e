/**
 * The INI store, reading and writing like gopkg.in/ini.v1 with `AllowNonUniqueSections` (sops' options).
 *
 * Tree: one branch whose items are sections (`DEFAULT` first, always present); each section is a branch of
 * string values. A section's comment is its first item, a key's comment the item right after the key.
 * Metadata: an extra last section `[sops]` of flattened keys, newlines written as the two characters `\n`.
 *
 * @module
 */
import {
  type Branch,
  branch,
  comment,
  type Documents,
  type Item,
  isBranch,
  isComment,
  isList,
  type Value,
} from "../tree.ts"
import { emitError, metadataError, parseError } from "./errors.ts"
import { flattenMetadata, unflattenMetadata } from "./flatten.ts"
import { valToString } from "./gofmt.ts"
import { singleDocument } from "./json.ts"
import type { EncryptedFile, SyncStore } from "./store.ts"
import { decodeUtf8, encodeUtf8 } from "./text.ts"

interface IniKey {
  name: string
  value: string
  comment: string
}
interface IniSection {
  name: string
  comment: string
  keys: Array<IniKey>
}

// Go's unicode.IsSpace for the characters that can appear in text.
const SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/
const trimLeft = (s: string): string => {
  let i = 0
  while (i < s.length && SPACE.test(s[i]!)) i++
  return s.slice(i)
}
const trimRight = (s: string): string => {
  let i = s.length
  while (i > 0 && SPACE.test(s[i - 1]!)) i--
  return s.slice(0, i)
}
const trim = (s: string): string => trimRight(trimLeft(s))

const surrounded = (s: string, q: string): boolean =>
  s.length >= 2 && s[0] === q && s[s.length - 1] === q && s.indexOf(q, 1) === s.length - 1

/** Parses INI text into sections, as ini.v1's parser does with default options. */
export const parseIni = (input: string): Array<IniSection> => {
  let text = input
  if (text.startsWith("\ufeff")) text = text.slice(1)
  // ini.v1 reads up to and including each '\n'.
  const lines: Array<string> = []
  for (let start = 0; start < text.length; ) {
    const nl = text.indexOf("\n", start)
    const end = nl < 0 ? text.length : nl + 1
    lines.push(text.slice(start, end))
    start = end
  }
  let li = 0
  const sections: Array<IniSection> = [{ name: "DEFAULT", comment: "", keys: [] }]
  let section = sections[0]!
  let pending = ""
  let autoCount = 1
  const fail = (reason: string, line = li): never => {
    throw parseError("ini", reason, { line, path: [section.name] })
  }
  const readMultilines = (val: string, quote: string): string => {
    let v = val
    for (;;) {
      if (li >= lines.length) return fail("missing closing value quote")
      const next = lines[li++]!
      const pos = next.lastIndexOf(quote)
      if (pos > -1) {
        v += next.slice(0, pos)
        const rest = next.slice(pos)
        const c = rest.search(/[#;]/)
        if (c > -1) pending += trim(rest.slice(c))
        return v
      }
      v += next
      if (li >= lines.length) return fail("missing closing value quote")
    }
  }
  const readContinuation = (val: string): string => {
    let v = val
    while (li < lines.length) {
      const next = trim(lines[li++]!)
      if (next.length === 0) break
      v += next
      if (!v.endsWith("\\")) break
      v = v.slice(0, -1)
    }
    return v
  }
  const readValue = (raw: string): string => {
    let line = trimLeft(raw)
    if (line.length === 0) return ""
    let quote = ""
    if (line.length > 3 && line.startsWith('"""')) quote = '"""'
    else if (line[0] === "`") quote = "`"
    if (quote !== "") {
      const body = line.slice(quote.length)
      const pos = body.lastIndexOf(quote)
      if (pos === -1) return readMultilines(body, quote)
      return body.slice(0, pos)
    }
    line = trim(line)
    if (line.endsWith("\\")) return readContinuation(line.slice(0, -1))
    const c = line.search(/[#;]/)
    if (c > -1) {
      pending += line.slice(c)
      line = trim(line.slice(0, c))
    }
    if (surrounded(line, "'") || surrounded(line, '"')) line = line.slice(1, -1)
    return line
  }
  const readKeyName = (line: string): { name: string; offset: number } => {
    let quote = ""
    if (line[0] === '"') quote = line.length > 6 && line.startsWith('"""') ? '"""' : '"'
    else if (line[0] === "`") quote = "`"
    if (quote !== "") {
      const start = quote.length
      const pos = line.indexOf(quote, start)
      if (pos === -1) return fail("missing closing key quote")
      const rest = line.slice(pos + start)
      const i = rest.search(/[=:]/)
      if (i < 0) return fail("key-value delimiter not found")
      return { name: trim(line.slice(start, pos)), offset: pos + i + start + 1 }
    }
    const end = line.search(/[=:]/)
    if (end < 0) return fail("key-value delimiter not found")
    if (end === 0) return fail("empty key name")
    return { name: trim(line.slice(0, end)), offset: end + 1 }
  }
  while (li < lines.length) {
    const line = trimLeft(lines[li++]!)
    if (line.length === 0) continue
    if (line[0] === "#" || line[0] === ";") {
      pending += line
      continue
    }
    if (line[0] === "[") {
      const close = line.lastIndexOf("]")
      if (close === -1) fail("unclosed section")
      const name = line.slice(1, close)
      if (name.length === 0) fail("empty section name")
      const after = line.slice(close + 1)
      const c = after.search(/[#;]/)
      if (c > -1) pending += after.slice(c)
      section = { name, comment: trim(pending), keys: [] }
      autoCount = 1
      sections.push(section)
      pending = ""
      continue
    }
    const { name: kname, offset } = readKeyName(line)
    const name = kname === "-" ? `#${autoCount++}` : kname
    const value = readValue(line.slice(offset))
    if (name.length === 0) fail("empty key name")
    const existing = section.keys.find((k) => k.name === name)
    if (existing !== undefined) {
      existing.value = value
      existing.comment = trim(pending)
    } else section.keys.push({ name, value, comment: trim(pending) })
    pending = ""
  }
  return sections
}

/** sops strips a leading run of `;`/space (or `#`/space) from comment text. */
const stripComment = (c: string): string =>
  c.startsWith(";") ? c.replace(/^[; ]+/, "") : c.startsWith("#") ? c.replace(/^[# ]+/, "") : c

const sectionToBranch = (s: IniSection): Branch => {
  const items: Array<Item> = []
  if (s.comment !== "") items.push({ key: comment(stripComment(s.comment)), value: null })
  for (const k of s.keys) {
    items.push({ key: k.name, value: k.value })
    if (k.comment !== "") items.push({ key: comment(stripComment(k.comment)), value: null })
  }
  return branch(items)
}

const valueText = (v: Value, path: Array<string>): string => {
  if (isBranch(v) || isList(v)) throw emitError("ini", "INI values must be scalars", { path })
  return valToString(v)
}

/** The tree's sections back into ini.v1's model (sops' encoder: comment items attach to the preceding key). */
const toSections = (root: Branch): Array<IniSection> => {
  const sections: Array<IniSection> = []
  for (const item of root.items) {
    if (isComment(item.key)) continue
    const name = item.key
    if (!isBranch(item.value))
      throw emitError("ini", "Section values should always be mappings", { path: [name] })
    if (name.length === 0) throw emitError("ini", "empty section name", { path: [name] })
    const s: IniSection = { name, comment: "", keys: [] }
    let first = 0
    const head = item.value.items[0]
    if (head !== undefined && isComment(head.key)) {
      s.comment = head.key.value
      first = 1
    }
    let last: IniKey | undefined
    for (const kv of item.value.items.slice(first)) {
      if (isComment(kv.key)) {
        if (last !== undefined) last.comment = kv.key.value
        continue
      }
      if (kv.key.length === 0) throw emitError("ini", "empty key name", { path: [name] })
      const value = valueText(kv.value as Value, [name, kv.key])
      // ini.v1 keeps the first position of a repeated key and takes the new value.
      const existing = s.keys.find((k) => k.name === kv.key)
      if (existing !== undefined) {
        existing.value = value
        last = existing
      } else {
        last = { name: kv.key, value, comment: "" }
        s.keys.push(last)
      }
    }
    sections.push(s)
  }
  return sections
}

const commentLines = (c: string, trimPlain: boolean, path: Array<string>): string => {
  let out = ""
  for (const line of c.split("\n")) {
    if (line.length === 0) throw emitError("ini", "empty comment line", { path })
    if (line[0] !== "#" && line[0] !== ";") out += `; ${trimPlain ? trim(line) : line}\n`
    else out += `${line[0]} ${trim(line.slice(1))}\n`
  }
  return out
}

/** Writes sections like ini.v1's `WriteTo` with its default pretty format. */
const writeIni = (sections: ReadonlyArray<IniSection>): string => {
  let out = ""
  sections.forEach((sec, i) => {
    if (sec.comment.length > 0) out += commentLines(sec.comment, false, [sec.name])
    if (i > 0 || sec.name.toUpperCase() !== "DEFAULT") out += `[${sec.name}]\n`
    else if (sec.keys.length === 0) return
    const shown = (k: string): string =>
      k.includes('"') || /[=:]/.test(k) ? `\`${k}\`` : k.includes("`") ? `"""${k}"""` : k
    let align = 0
    for (const k of sec.keys) align = Math.max(align, shown(k.name).length)
    for (const k of sec.keys) {
      if (k.comment.length > 0) out += commentLines(k.comment, true, [sec.name, k.name])
      const name = shown(k.name)
      let val = k.value
      if (/[\n`]/.test(val)) val = `"""${val}"""`
      else if (/[#;]/.test(val)) val = `\`${val}\``
      else if (trim(val).length !== val.length) val = `"${val}"`
      out += `${name}${" ".repeat(align - name.length)} = ${val}\n`
    }
    if (i !== sections.length - 1) out += "\n"
  })
  return out
}

const readTree = (bytes: Uint8Array): Branch =>
  branch(parseIni(decodeUtf8(bytes)).map((s): Item => ({ key: s.name, value: sectionToBranch(s) })))

/** The INI store. */
export const iniStore = (): SyncStore => ({
  readPlain: (bytes): Documents => [readTree(bytes)],
  readEncrypted: (bytes): EncryptedFile => {
    const sections = parseIni(decodeUtf8(bytes))
    const meta = sections.filter((s) => s.name === "sops")
    if (meta.length === 0) throw metadataError("ini", "sops metadata not found")
    if (meta.length > 1) throw metadataError("ini", "Found duplicate sops entry", { path: ["sops"] })
    // Flat metadata stores newlines as the two characters \n (sops ≤3.12 and 3.13.2+).
    const pairs = meta[0]!.keys.map((k) => [k.name, k.value.replaceAll("\\n", "\n")] as const)
    const data = sections.filter((s) => s.name !== "sops")
    return {
      documents: [branch(data.map((s): Item => ({ key: s.name, value: sectionToBranch(s) })))],
      metadata: unflattenMetadata(pairs, "ini"),
    }
  },
  writePlain: (docs) => encodeUtf8(writeIni(toSections(singleDocument(docs, "ini")))),
  writeEncrypted: (docs, metadata) => {
    const sections = toSections(singleDocument(docs, "ini"))
    if (sections.some((s) => s.name === "sops"))
      throw metadataError("ini", "section sops is reserved for SOPS metadata", { path: ["sops"] })
    const keys = flattenMetadata(metadata, "ini").map(([name, v]) => ({
      name,
      value: v.replaceAll("\n", "\\n"),
      comment: "",
    }))
    return encodeUtf8(writeIni([...sections, { name: "sops", comment: "", keys }]))
  },
})
