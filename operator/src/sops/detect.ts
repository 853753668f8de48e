/**
 * Cheap answer to "is this a sops file?" for callers deciding what to decrypt.
 *
 * @module
 */
import { Effect, Exit } from "effect"
import type { Format } from "./format.ts"
import { storeFor } from "./stores/store.ts"
import { isBranch } from "./tree.ts"

/** True when the file parses in `format` and carries a `sops` metadata mapping with `mac` or `lastmodified`. */
export const hasSopsMetadata = (bytes: Uint8Array, format: Format): boolean => {
  // most files in a repository are plain: skip parsing those
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (!buf.includes("sops") || !(buf.includes("lastmodified") || buf.includes("mac"))) return false
  const exit = Effect.runSyncExit(storeFor(format).readEncrypted(bytes))
  if (Exit.isFailure(exit)) return false
  const md = exit.value.metadata
  return isBranch(md) && md.items.some((i) => i.key === "mac" || i.key === "lastmodified")
}
