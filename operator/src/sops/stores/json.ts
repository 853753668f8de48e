/**
 * The JSON store (sops 3.13.2+ semantics): one top-level object, key order and duplicate keys kept, integers
 * that fit int64 as `bigint`, other numbers as `Float`; emitted like Go's encoding/json (HTML-safe escaping)
 * re-indented by `json.Indent` with one TAB (or N spaces), with a trailing newline.
 *
 * @module
 */
import {
  type Branch,
  branch,
  type Documents,
  float,
  type Item,
  isBranch,
  isComment,
  isFloat,
  isList,
  isTimestamp,
  list,
  type Value,
} from "../tree.ts"
import { emitError, type Format, metadataError, parseError } from "./errors.ts"
import { formatFloatJson, timestampText } from "./gofmt.ts"
import type { EncryptedFile, StoreOptions, SyncStore } from "./store.ts"
import { decodeUtf8, encodeUtf8, lineColumn } from "./text.ts"

const MAX_DEPTH = 1000
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/** A JSON text into a Branch, as sops' token-streaming decoder reads it. */
export const parseJsonObject = (text: string, format: Format = "json"): Branch => {
  let pos = 0
  const path: Array<string> = []
  const fail = (reason: string, at = pos): never => {
    throw parseError(format, reason, { ...lineColumn(text, at), path: [...path] })
  }
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(pos)
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) pos++
      else return
    }
  }
  const str = (): string => {
    pos++ // opening quote
    let out = ""
    let start = pos
    for (;;) {
      if (pos >= text.length) fail("unterminated string")
      const c = text.charCodeAt(pos)
      if (c === 0x22) {
        out += text.slice(start, pos)
        pos++
        return out
      }
      if (c < 0x20) fail("invalid control character in string")
      if (c === 0x5c) {
        out += text.slice(start, pos)
        const e = text[pos + 1]
        switch (e) {
          case '"':
          case "\\":
          case "/":
            out += e
            pos += 2
            break
          case "b":
            out += "\b"
            pos += 2
            break
          case "f":
            out += "\f"
            pos += 2
            break
          case "n":
            out += "\n"
            pos += 2
            break
          case "r":
            out += "\r"
            pos += 2
            break
          case "t":
            out += "\t"
            pos += 2
            break
          case "u": {
            const hex = (at: number): number => {
              const h = text.slice(at, at + 4)
              return /^[0-9a-fA-F]{4}$/.test(h) ? Number.parseInt(h, 16) : -1
            }
            const u = hex(pos + 2)
            if (u < 0) fail("invalid \\u escape in string")
            pos += 6
            if (u >= 0xd800 && u < 0xdc00 && text[pos] === "\\" && text[pos + 1] === "u") {
              const lo = hex(pos + 2)
              if (lo >= 0xdc00 && lo < 0xe000) {
                out += String.fromCharCode(u, lo)
                pos += 6
                break
              }
            }
            // A lone surrogate is not valid Unicode; Go substitutes U+FFFD.
            out += u >= 0xd800 && u < 0xe000 ? "\ufffd" : String.fromCharCode(u)
            break
          }
          default:
            fail("invalid escape in string")
        }
        start = pos
        continue
      }
      pos++
    }
  }
  const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y
  const num = (): Value => {
    NUMBER.lastIndex = pos
    const m = NUMBER.exec(text)
    if (m === null) return fail("invalid number")
    const lit = m[0]
    pos += lit.length
    if (/^-?[0-9]+$/.test(lit)) {
      const b = BigInt(lit)
      if (b >= INT64_MIN && b <= INT64_MAX) return b
    }
    const f = Number(lit)
    if (!Number.isFinite(f)) fail("number out of range")
    return float(f)
  }
  const lit = (word: string, v: Value): Value => {
    if (text.startsWith(word, pos)) {
      pos += word.length
      return v
    }
    return fail("invalid literal")
  }
  const value = (depth: number): Value => {
    if (depth > MAX_DEPTH) fail("nesting too deep")
    ws()
    const c = text[pos]
    switch (c) {
      case "{":
        return object(depth + 1)
      case "[":
        return array(depth + 1)
      case '"':
        return str()
      case "t":
        return lit("true", true)
      case "f":
        return lit("false", false)
      case "n":
        return lit("null", null)
      default:
        if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return num()
        return fail(c === undefined ? "unexpected end of input" : "invalid character looking for a value")
    }
  }
  const array = (depth: number): Value => {
    pos++
    const items: Array<Value> = []
    ws()
    if (text[pos] === "]") {
      pos++
      return list(items)
    }
    for (;;) {
      items.push(value(depth))
      ws()
      const c = text[pos]
      pos++
      if (c === "]") return list(items)
      if (c !== ",") fail("expected ',' or ']' after array element", pos - 1)
    }
  }
  const object = (depth: number): Branch => {
    pos++
    const items: Array<Item> = []
    ws()
    if (text[pos] === "}") {
      pos++
      return branch(items)
    }
    for (;;) {
      ws()
      if (text[pos] !== '"') fail("expected a string object key")
      const key = str()
      ws()
      if (text[pos] !== ":") fail("expected ':' after object key")
      pos++
      path.push(key)
      items.push({ key, value: value(depth) })
      path.pop()
      ws()
      const c = text[pos]
      pos++
      if (c === "}") return branch(items)
      if (c !== ",") fail("expected ',' or '}' after object value", pos - 1)
    }
  }
  ws()
  if (text[pos] !== "{")
    fail(
      "SOPS only supports JSON files with a top-level object (starting with '{'); arrays and values are not supported",
    )
  // Like sops' token decoder, nothing after the top-level object is read.
  return object(1)
}

/** Go encoding/json string escaping (HTML-safe: `<`, `>`, `&`, U+2028, U+2029 escaped; lone surrogates → U+FFFD). */
export const quoteJson = (s: string): string => {
  let out = '"'
  let start = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    let rep: string | undefined
    if (
      c < 0x20 ||
      c === 0x22 ||
      c === 0x5c ||
      c === 0x3c ||
      c === 0x3e ||
      c === 0x26 ||
      c === 0x2028 ||
      c === 0x2029
    ) {
      switch (c) {
        case 0x22:
          rep = '\\"'
          break
        case 0x5c:
          rep = "\\\\"
          break
        case 0x08:
          rep = "\\b"
          break
        case 0x0c:
          rep = "\\f"
          break
        case 0x0a:
          rep = "\\n"
          break
        case 0x0d:
          rep = "\\r"
          break
        case 0x09:
          rep = "\\t"
          break
        default:
          rep = `\\u${c.toString(16).padStart(4, "0")}`
      }
    } else if (c >= 0xd800 && c < 0xe000) {
      const next = s.charCodeAt(i + 1)
      if (c < 0xdc00 && next >= 0xdc00 && next < 0xe000) {
        i++
        continue
      }
      rep = "\ufffd"
    }
    if (rep !== undefined) {
      out += s.slice(start, i) + rep
      start = i + 1
    }
  }
  return out + s.slice(start, s.length) + '"'
}

const base64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64")

/** Writes a value the way sops' JSON encoder followed by `json.Indent(prefix "", indent)` would. */
const emitValue = (v: Value, indent: string, level: number, path: Array<string>, format: Format): string => {
  if (v === null) return "null"
  if (typeof v === "string") return quoteJson(v)
  if (typeof v === "boolean") return v ? "true" : "false"
  if (typeof v === "bigint") return v.toString()
  if (v instanceof Uint8Array) return quoteJson(base64(v))
  if (isFloat(v)) {
    if (!Number.isFinite(v.value))
      throw emitError(format, "JSON cannot represent NaN or infinite floats", { path })
    return formatFloatJson(v.value)
  }
  if (isTimestamp(v)) return quoteJson(timestampText(v))
  const inner = `\n${indent.repeat(level + 1)}`
  const close = `\n${indent.repeat(level)}`
  if (isBranch(v)) {
    const parts: Array<string> = []
    for (const item of v.items) {
      if (isComment(item.key)) continue
      path.push(item.key)
      parts.push(`${quoteJson(item.key)}: ${emitValue(item.value as Value, indent, level + 1, path, format)}`)
      path.pop()
    }
    return parts.length === 0 ? "{}" : `{${inner}${parts.join(`,${inner}`)}${close}}`
  }
  if (isList(v)) {
    const parts: Array<string> = []
    for (const e of v.items) {
      if (isComment(e)) continue
      parts.push(emitValue(e, indent, level + 1, path, format))
    }
    return parts.length === 0 ? "[]" : `[${inner}${parts.join(`,${inner}`)}${close}]`
  }
  throw emitError(format, "unsupported value type", { path })
}

/** `--indent`/`stores.json.indent`: N ≥ 0 spaces, -1 (default) one TAB, less than -1 rejected. */
export const indentFor = (options: StoreOptions, format: Format = "json"): string => {
  const n = options.indent
  if (n === undefined || n === -1) return "\t"
  if (n < -1) throw emitError(format, "JSON Indentation parameter smaller than -1 is not accepted")
  return " ".repeat(n)
}

/** A Branch as sops writes a JSON file (with trailing newline). */
export const emitJsonObject = (b: Branch, indent: string, format: Format = "json"): string =>
  `${emitValue(b, indent, 0, [], format)}\n`

/** Splits the `sops` entry off a top-level object (sops 3.13 rules: exactly one, a mapping). */
export const splitMetadata = (root: Branch, format: Format): { data: Branch; metadata: Branch } => {
  let metadata: Branch | undefined
  const items: Array<Item> = []
  for (const item of root.items) {
    if (item.key === "sops") {
      if (metadata !== undefined)
        throw metadataError(format, "Found duplicate sops entry", { path: ["sops"] })
      if (!isBranch(item.value))
        throw metadataError(format, "Found sops entry that is not a mapping", { path: ["sops"] })
      metadata = item.value
    } else items.push(item)
  }
  if (metadata === undefined) throw metadataError(format, "sops metadata not found")
  return { data: branch(items), metadata }
}

/** The data plus the `sops` entry last; a data key named `sops` is reserved (sops refuses it too). */
export const withMetadata = (data: Branch, metadata: Branch, format: Format): Branch => {
  if (data.items.some((i) => i.key === "sops"))
    throw metadataError(format, "key sops is reserved for SOPS metadata", { path: ["sops"] })
  return branch([...data.items, { key: "sops", value: metadata }])
}

const single = (docs: Documents, format: Format): Branch => {
  if (docs.length !== 1) throw emitError(format, `expected exactly one document, got ${docs.length}`)
  return docs[0]!
}

/** The JSON store. */
export const jsonStore = (options: StoreOptions = {}): SyncStore => {
  const indent = () => indentFor(options)
  return {
    readPlain: (bytes) => [parseJsonObject(decodeUtf8(bytes))],
    readEncrypted: (bytes): EncryptedFile => {
      const { data, metadata } = splitMetadata(parseJsonObject(decodeUtf8(bytes)), "json")
      return { documents: [data], metadata }
    },
    writePlain: (docs) => encodeUtf8(emitJsonObject(single(docs, "json"), indent())),
    writeEncrypted: (docs, metadata) =>
      encodeUtf8(emitJsonObject(withMetadata(single(docs, "json"), metadata, "json"), indent())),
  }
}

export { single as singleDocument }
