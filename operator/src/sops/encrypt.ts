/**
 * Encrypting a plaintext file (§10): parse, wrap a fresh data key for the key groups, encrypt the selected
 * leaves, compute and encrypt the MAC, emit with the metadata as sops 3.13 writes it.
 *
 * @module
 */
import { Effect } from "effect"
import { newDataKey, wrapDataKey } from "./datakey.ts"
import { fromStoreError, indentOption } from "./decrypt.ts"
import { EncryptError, type SopsError, UnsupportedInput } from "./errors.ts"
import { nowSeconds } from "./goformat.ts"
import type { EncryptInput, Keyring } from "./index.ts"
import { servicesFor } from "./keys/services.ts"
import { encryptMac } from "./mac.ts"
import { type Metadata, toBranch } from "./metadata.ts"
import { compileRule, defaultRule, InvalidRule, type Selector } from "./rules.ts"
import { storeFor } from "./stores/store.ts"
import { isComment } from "./tree.ts"
import { encryptDocuments, WalkError } from "./walk.ts"

/** The sops release whose file format Kustodian writes. */
export const emulatedVersion = "3.13.3"

const noKeys: Keyring = { scope: "encrypt", age: [], pgp: [] }

/** See `encrypt` in `./index.ts`. */
export const encrypt: (input: EncryptInput) => Effect.Effect<Uint8Array, SopsError> = Effect.fn(
  "sops.encrypt",
)(function* (input: EncryptInput) {
  const { file, format } = input
  const docs = yield* storeFor(format)
    .readPlain(input.bytes)
    .pipe(Effect.mapError(fromStoreError(file)))
  if (docs.length === 0)
    return yield* new UnsupportedInput({
      file,
      reason: "file cannot be completely empty, it must contain at least one document",
    })
  const first = docs[0]!
  const encrypted = first.items.some(
    (i) => !isComment(i.key) && (i.key === "sops" || (format === "dotenv" && i.key.startsWith("sops_"))),
  )
  if (encrypted) return yield* new UnsupportedInput({ file, reason: "file already encrypted" })

  const binary = format === "binary"
  const rule = binary ? undefined : (input.rule ?? defaultRule)
  const macOnlyEncrypted = binary ? false : (input.macOnlyEncrypted ?? false)
  const selector = yield* Effect.try({
    try: (): Selector => compileRule(rule),
    catch: (e) => new EncryptError({ file, reason: e instanceof InvalidRule ? e.message : String(e) }),
  })

  const dataKey = newDataKey()
  const keyGroups = yield* wrapDataKey(
    file,
    dataKey,
    input.keyGroups,
    input.shamirThreshold,
    servicesFor(input.keyring ?? noKeys),
  )
  const walked = yield* Effect.try({
    try: () => encryptDocuments(docs, { key: dataKey, selector, macOnlyEncrypted }),
    catch: (e) =>
      e instanceof WalkError
        ? new UnsupportedInput({ file, path: e.path, reason: e.reason })
        : new EncryptError({
            file,
            reason: `cannot encrypt the tree: ${e instanceof Error ? e.message : e}`,
          }),
  })
  const lastModified = nowSeconds()
  const md: Metadata = {
    keyGroups,
    shamirThreshold: keyGroups.length > 1 ? (input.shamirThreshold ?? keyGroups.length) : 0,
    lastModified,
    mac: encryptMac(walked.mac, dataKey, lastModified),
    rule,
    macOnlyEncrypted,
    version: emulatedVersion,
  }
  return yield* storeFor(input.outputFormat ?? format, indentOption(input.indent))
    .writeEncrypted(walked.documents, toBranch(md))
    .pipe(Effect.mapError(fromStoreError(file)))
})
