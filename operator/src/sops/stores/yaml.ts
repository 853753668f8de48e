/**
 * The YAML store: go-yaml v3 semantics for reading (yaml-parse.ts) and writing (yaml-emit.ts). The metadata
 * is the last top-level key `sops` of every document; it is read from the first document and removed from all.
 *
 * @module
 */
import { type Branch, branch, type Item, isBranch } from "../tree.ts"
import { emitError, metadataError, parseError } from "./errors.ts"
import { withMetadata } from "./json.ts"
import type { EncryptedFile, StoreOptions, SyncStore } from "./store.ts"
import { decodeUtf8Strict, encodeUtf8 } from "./text.ts"
import { emitYaml } from "./yaml-emit.ts"
import { parseYaml } from "./yaml-parse.ts"

/** The YAML store; `options.indent` as `.sops.yaml` `stores.yaml.indent` / `--indent` (negative rejected). */
export const yamlStore = (options: StoreOptions = {}): SyncStore => {
  const indent = options.indent ?? 4
  const write = (docs: ReadonlyArray<Branch>): Uint8Array => {
    if (indent < 0) throw emitError("yaml", "YAML Negative indentation not accepted")
    return encodeUtf8(emitYaml(docs, indent))
  }
  const read = (bytes: Uint8Array) => {
    const text = decodeUtf8Strict(bytes)
    if (text === undefined) throw parseError("yaml", "invalid UTF-8 in input")
    return parseYaml(text)
  }
  return {
    readPlain: read,
    readEncrypted: (bytes): EncryptedFile => {
      const docs = read(bytes)
      let metadata: Branch | undefined
      const stripped = docs.map((doc, i) => {
        const items: Array<Item> = []
        let seen = false
        for (const item of doc.items) {
          if (item.key !== "sops") {
            items.push(item)
            continue
          }
          // Only the first document's entry is read (and must be unique); the others are just dropped.
          if (i === 0) {
            if (seen) throw metadataError("yaml", "Found duplicate sops entry", { path: ["sops"] })
            seen = true
            if (!isBranch(item.value))
              throw metadataError("yaml", "Found sops entry that is not a mapping", { path: ["sops"] })
            metadata = item.value
          }
        }
        return branch(items)
      })
      if (metadata === undefined) throw metadataError("yaml", "sops metadata not found")
      return { documents: stripped, metadata }
    },
    writePlain: (docs) => write(docs),
    writeEncrypted: (docs, metadata) => write(docs.map((d) => withMetadata(d, metadata, "yaml"))),
  }
}
