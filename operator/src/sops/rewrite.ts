/**
 * Changing an encrypted file as sops' `edit`, `set`, `unset`, `rotate`, `updatekeys` and `groups` do: open it
 * (data key, cleartext tree, the IV of every value), change the tree or the key groups, and write it again with
 * a fresh `lastmodified` and MAC. Values whose plaintext is unchanged at the same path keep their IV and thus
 * their ciphertext (sops' cipher stash), so a one-value change is a one-line diff.
 *
 * @module
 */
import { Effect } from "effect"
import { wrapDataKey } from "./datakey.ts"
import { decryptFile, fromStoreError, indentOption, type OpenedFile } from "./decrypt.ts"
import { EncryptError, type SopsError, UnsupportedInput } from "./errors.ts"
import type { Format } from "./format.ts"
import { nowSeconds } from "./goformat.ts"
import type { DecryptInput } from "./index.ts"
import type { KeyRecipient, MasterKey } from "./keys/masterkey.ts"
import { servicesFor } from "./keys/services.ts"
import { encryptMac } from "./mac.ts"
import { type Metadata, toBranch } from "./metadata.ts"
import { compileRule, InvalidRule, type Selector } from "./rules.ts"
import { storeFor } from "./stores/store.ts"
import type { Documents } from "./tree.ts"
import { encryptDocuments, type IvStash, WalkError } from "./walk.ts"

/** An opened file plus the IVs its values were encrypted with. */
export interface OpenedForRewrite extends OpenedFile {
  readonly stash: IvStash
}

/** Opens an encrypted file for changing it (MAC checked per `input.mac`). */
export const openForRewrite = Effect.fn("sops.openForRewrite")(function* (
  input: Omit<DecryptInput, "outputFormat" | "cache" | "maxValues">,
) {
  const stash: IvStash = new Map()
  const opened = yield* decryptFile({ ...input, stash })
  return { ...opened, stash } satisfies OpenedForRewrite
})

export interface RewriteInput {
  /** Name used in errors. */
  readonly file: string
  /** The cleartext tree to encrypt. */
  readonly documents: Documents
  /** Key groups, rule and version to write; `lastmodified` and the MAC are made anew. */
  readonly metadata: Metadata
  readonly dataKey: Uint8Array
  /** IVs to reuse for unchanged values (none: every value gets a fresh IV, as after a new data key). */
  readonly stash?: IvStash
  readonly format: Format
  readonly indent?: number
}

/** Encrypts a cleartext tree with a known data key and writes the file (sops' `EncryptTree` + emit). */
export const reencrypt: (input: RewriteInput) => Effect.Effect<Uint8Array, SopsError> = Effect.fn(
  "sops.reencrypt",
)(function* (input: RewriteInput) {
  const { file, metadata } = input
  const selector = yield* Effect.try({
    try: (): Selector => compileRule(metadata.rule),
    catch: (e) => new EncryptError({ file, reason: e instanceof InvalidRule ? e.message : String(e) }),
  })
  const walked = yield* Effect.try({
    try: () =>
      encryptDocuments(input.documents, {
        key: input.dataKey,
        selector,
        macOnlyEncrypted: metadata.macOnlyEncrypted,
        ...(input.stash === undefined ? {} : { stash: input.stash }),
      }),
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
    ...metadata,
    lastModified,
    mac: encryptMac(walked.mac, input.dataKey, lastModified),
  }
  return yield* storeFor(input.format, indentOption(input.indent))
    .writeEncrypted(walked.documents, toBranch(md))
    .pipe(Effect.mapError(fromStoreError(file)))
})

/**
 * Wraps `dataKey` anew for every key of `groups` (sops' `UpdateMasterKeysWithKeyServices`): the whole key with
 * one group, Shamir shares with several (threshold 0 meaning all groups). Keys that came from the file keep
 * their `created_at`. Returns the groups to store and the threshold to record.
 */
export const rewrapKeys = Effect.fn("sops.rewrapKeys")(function* (opts: {
  readonly file: string
  readonly dataKey: Uint8Array
  readonly groups: ReadonlyArray<ReadonlyArray<KeyRecipient | MasterKey>>
  readonly threshold: number
  readonly keyring: DecryptInput["keyring"]
}) {
  const { groups } = opts
  const threshold = groups.length > 1 && opts.threshold === 0 ? groups.length : opts.threshold
  const recipients = groups.map((g) => g.map(recipientOf))
  const wrapped = yield* wrapDataKey(
    opts.file,
    opts.dataKey,
    recipients,
    groups.length > 1 ? threshold : undefined,
    servicesFor(opts.keyring),
  )
  const keyGroups = wrapped.map((g, i) =>
    g.map((k, j) => {
      const source = groups[i]![j]!
      return "createdAt" in source && "createdAt" in k && source.createdAt !== ""
        ? ({ ...k, createdAt: source.createdAt } as MasterKey)
        : k
    }),
  )
  return { keyGroups, shamirThreshold: threshold }
})

/** A stored key without its wrapped part: what to encrypt to. */
export const recipientOf = (k: KeyRecipient | MasterKey): KeyRecipient => {
  const { enc: _enc, createdAt: _created, ...rest } = k as KeyRecipient & { enc?: string; createdAt?: string }
  return rest as KeyRecipient
}
