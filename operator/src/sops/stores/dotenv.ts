/**
 * The dotenv store: lines split on `\n`, empty lines dropped, `#…` lines are comments, every other line is
 * `key=value` split at the first `=` (nothing trimmed, no quote handling) with `\n` sequences turned into
 * newlines. Metadata is appended as sorted, flattened `sops_…` keys.
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

const parse = (text: string): Branch => {
  const items: Array<Item> = []
  const lines = text.split("\n")
  lines.forEach((line, i) => {
    if (line.length === 0) return
    if (line.startsWith("#")) {
      items.push({ key: comment(line.slice(1)), value: null })
      return
    }
    const eq = line.indexOf("=")
    if (eq < 0) throw parseError("dotenv", "invalid dotenv input line (no '=')", { line: i + 1 })
    const key = line.slice(0, eq)
    items.push({ key, value: line.slice(eq + 1).replaceAll("\\n", "\n") })
  })
  return branch(items)
}

const lineValue = (v: Value, key: string): string => {
  if (isBranch(v) || isList(v))
    throw emitError("dotenv", "cannot use complex value in dotenv file", { path: [key] })
  // Strings get their newlines escaped; other scalars are written as sops' ValToString makes them.
  return typeof v === "string" ? v.replaceAll("\n", "\\n") : valToString(v)
}

const emit = (b: Branch, trailer: ReadonlyArray<readonly [string, string]> = []): string => {
  let out = ""
  for (const item of b.items) {
    if (isComment(item.key)) out += `#${item.key.value}\n`
    else out += `${item.key}=${lineValue(item.value as Value, item.key)}\n`
  }
  for (const [k, v] of trailer) out += `sops_${k}=${v.replaceAll("\n", "\\n")}\n`
  return out
}

/** The dotenv store. */
export const dotenvStore = (): SyncStore => ({
  readPlain: (bytes): Documents => [parse(decodeUtf8(bytes))],
  readEncrypted: (bytes): EncryptedFile => {
    const all = parse(decodeUtf8(bytes))
    const data: Array<Item> = []
    const meta: Array<readonly [string, string]> = []
    for (const item of all.items) {
      if (typeof item.key === "string" && item.key.startsWith("sops_"))
        meta.push([item.key.slice(5), item.value as string])
      else data.push(item)
    }
    if (meta.length === 0) throw metadataError("dotenv", "sops metadata not found")
    return { documents: [branch(data)], metadata: unflattenMetadata(meta, "dotenv") }
  },
  writePlain: (docs) => encodeUtf8(emit(singleDocument(docs, "dotenv"))),
  writeEncrypted: (docs, metadata) => {
    const data = singleDocument(docs, "dotenv")
    for (const item of data.items)
      if (typeof item.key === "string" && item.key.startsWith("sops_"))
        throw metadataError("dotenv", "key starts with the prefix sops_ reserved for SOPS metadata", {
          path: [item.key],
        })
    return encodeUtf8(emit(data, flattenMetadata(metadata, "dotenv")))
  },
})
