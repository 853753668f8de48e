/**
 * The binary store: any file becomes `{ data: <bytes> }`; encrypted, it is a JSON document with `data` and
 * `sops`. The plaintext stays a `Uint8Array` end to end (never decoded as text).
 *
 * @module
 */
import { branch, type Documents, isComment } from "../tree.ts"
import { emitError } from "./errors.ts"
import {
  emitJsonObject,
  indentFor,
  parseJsonObject,
  singleDocument,
  splitMetadata,
  withMetadata,
} from "./json.ts"
import type { EncryptedFile, StoreOptions, SyncStore } from "./store.ts"
import { decodeUtf8, encodeUtf8 } from "./text.ts"

const dataOf = (docs: Documents): Uint8Array => {
  if (docs.length !== 1) throw emitError("binary", "there must be exactly one tree branch")
  const root = docs[0]!
  for (const item of root.items) {
    if (isComment(item.key) || item.key !== "data") continue
    if (item.value instanceof Uint8Array) return item.value
    if (typeof item.value === "string") return encodeUtf8(item.value)
    throw emitError("binary", "'data' key in tree does not have a string value", { path: ["data"] })
  }
  throw emitError("binary", "no binary data found in tree")
}

/** The binary store. */
export const binaryStore = (options: StoreOptions = {}): SyncStore => {
  const indent = () => indentFor(options, "binary")
  return {
    readPlain: (bytes) => [branch([{ key: "data", value: Uint8Array.from(bytes) }])],
    readEncrypted: (bytes): EncryptedFile => {
      const { data, metadata } = splitMetadata(parseJsonObject(decodeUtf8(bytes), "binary"), "binary")
      return { documents: [data], metadata }
    },
    writePlain: (docs) => Uint8Array.from(dataOf(docs)),
    writeEncrypted: (docs, metadata) =>
      encodeUtf8(
        emitJsonObject(withMetadata(singleDocument(docs, "binary"), metadata, "binary"), indent(), "binary"),
      ),
  }
}
