/**
 * Decrypting a sops file (§9): parse with the store, read the metadata, open the data key, decrypt the selected
 * leaves, verify the MAC, emit the plaintext.
 *
 * @module
 */
import { Effect } from "effect"
import { CipherError } from "./cipher.ts"
import { encryptedKeyId, recoverDataKey } from "./datakey.ts"
import {
  BadMetadata,
  MacMismatch,
  MalformedValue,
  type SopsError,
  TooManyValues,
  UnsupportedInput,
} from "./errors.ts"
import type { Format } from "./format.ts"
import type { DecryptInput, DecryptResult } from "./index.ts"
import { servicesFor } from "./keys/services.ts"
import { decryptMac } from "./mac.ts"
import { fromBranch, type Metadata, MetadataError } from "./metadata.ts"
import { compileRule, InvalidRule, type Selector } from "./rules.ts"
import { type StoreError, storeFor } from "./stores/store.ts"
import {
  type Branch,
  branch,
  type Documents,
  float,
  isBranch,
  isComment,
  isList,
  list,
  type Value,
} from "./tree.ts"
import { decryptDocuments, type IvStash, WalkError } from "./walk.ts"

/** Maps a store failure to the engine's errors, keeping the file name. */
export const fromStoreError =
  (file: string) =>
  (e: StoreError): SopsError =>
    e._tag === "StoreMetadataError"
      ? new BadMetadata({ file, reason: e.message })
      : new UnsupportedInput({ file, reason: e.message })

const reason = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** Parses and validates the metadata of an already-read file. */
export const readMetadata = (file: string, metadata: Parameters<typeof fromBranch>[0]) =>
  Effect.try({
    try: (): { md: Metadata; selector: Selector } => {
      const md = fromBranch(metadata)
      return { md, selector: compileRule(md.rule) }
    },
    catch: (e) =>
      e instanceof MetadataError || e instanceof InvalidRule
        ? new BadMetadata({ file, reason: e.message })
        : new BadMetadata({ file, reason: `unexpected: ${reason(e)}` }),
  })

const olderThan = (version: string, [ma, mi, pa]: readonly [number, number, number]) => {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(version)
  if (m === null) return false
  const v = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] as const
  return v[0] !== ma ? v[0] < ma : v[1] !== mi ? v[1] < mi : v[2] < pa
}

const toFloats = (v: Value): Value =>
  typeof v === "bigint"
    ? float(Number(v))
    : isBranch(v)
      ? branch(v.items.map((i) => (isComment(i.key) ? i : { key: i.key, value: toFloats(i.value) })))
      : isList(v)
        ? list(v.items.map((e) => (isComment(e) ? e : toFloats(e))))
        : v

/**
 * sops ≤ 3.13.1 read every JSON number as a float64, so the MAC of a file with clear integers beyond 2^53
 * hashed the rounded value (§5.4). Recompute it that way for such files; undefined when not applicable.
 */
const legacyJsonMac = (documents: Documents, md: Metadata, selector: Selector, key: Uint8Array) => {
  if (!olderThan(md.version, [3, 13, 2])) return undefined
  try {
    return decryptDocuments(
      documents.map((d) => toFloats(d) as Branch),
      {
        key,
        selector,
        macOnlyEncrypted: md.macOnlyEncrypted,
      },
    ).mac
  } catch {
    return undefined
  }
}

/** Decrypts the leaves of documents with a known data key and checks the MAC per `policy`. */
export const decryptTree = (
  file: string,
  documents: Documents,
  md: Metadata,
  selector: Selector,
  key: Uint8Array,
  policy: DecryptInput["mac"],
  format: Format,
  stash?: IvStash,
): Effect.Effect<{ documents: Documents; macMismatch: boolean }, SopsError> =>
  Effect.gen(function* () {
    const walked = yield* Effect.try({
      try: () =>
        decryptDocuments(documents, {
          key,
          selector,
          macOnlyEncrypted: md.macOnlyEncrypted,
          rawBytes: format === "binary",
          ...(stash === undefined ? {} : { stash }),
        }),
      catch: (e) =>
        e instanceof WalkError
          ? e.kind === "unsupported"
            ? new UnsupportedInput({ file, path: e.path, reason: e.reason })
            : new MalformedValue({ file, path: e.path, reason: e.reason })
          : new UnsupportedInput({ file, reason: `cannot walk the tree: ${reason(e)}` }),
    })
    if (policy === "ignore") return { documents: walked.documents, macMismatch: false }
    let problem: MacMismatch["reason"] | undefined
    if (md.mac === "") problem = "missing"
    else {
      try {
        const stored = decryptMac(md.mac, key, md.lastModified)
        if (
          stored !== walked.mac &&
          !(format === "json" && legacyJsonMac(documents, md, selector, key) === stored)
        )
          problem = "mismatch"
      } catch (e) {
        if (!(e instanceof CipherError)) throw e
        problem = "undecryptable"
      }
    }
    if (problem !== undefined && policy === "strict") return yield* new MacMismatch({ file, reason: problem })
    return { documents: walked.documents, macMismatch: problem !== undefined }
  })

/**
 * The encrypted values of a tree: leaves and comments that are `ENC[…]` strings (aliases are already
 * expanded by the store, so an aliased value counts once per use — as often as it will be decrypted).
 * Iterative: the tree may be as deep as the store allows.
 */
export const countEncrypted = (documents: Documents): number => {
  let n = 0
  const stack: Array<Value> = [...documents]
  while (stack.length > 0) {
    const v = stack.pop()!
    if (typeof v === "string") {
      if (v.startsWith("ENC[")) n++
    } else if (isBranch(v)) {
      for (const i of v.items) {
        if (isComment(i.key)) {
          if (i.key.value.startsWith("ENC[")) n++
        } else stack.push(i.value as Value)
      }
    } else if (isList(v)) {
      for (const e of v.items) {
        if (isComment(e)) {
          if (e.value.startsWith("ENC[")) n++
        } else stack.push(e)
      }
    }
  }
  return n
}

/** Store options for an optional indent. */
export const indentOption = (indent: number | undefined) => (indent === undefined ? {} : { indent })

/** A decrypted file before emitting: for callers that want the tree (tests, `--extract`). */
export interface OpenedFile {
  readonly documents: Documents
  readonly metadata: Metadata
  readonly dataKey: Uint8Array
  readonly macMismatch: boolean
  /** Encrypted values in the file ({@link countEncrypted}). */
  readonly values: number
}

/** Reads, opens and decrypts a file into its cleartext tree. */
export const decryptFile = (
  input: Omit<DecryptInput, "outputFormat"> & {
    /** Records every value's IV, for re-encrypting unchanged values as they were (`./rewrite.ts`). */
    readonly stash?: IvStash
  },
): Effect.Effect<OpenedFile, SopsError> =>
  Effect.gen(function* () {
    const { file } = input
    const parsed = yield* storeFor(input.format)
      .readEncrypted(input.bytes)
      .pipe(Effect.mapError(fromStoreError(file)))
    // Counted before any key is opened: a file over the caller's budget costs no decryption at all.
    const values = countEncrypted(parsed.documents)
    if (input.maxValues !== undefined && values > input.maxValues)
      return yield* new TooManyValues({ file, values, limit: input.maxValues })
    const { md, selector } = yield* readMetadata(file, parsed.metadata)
    const id = encryptedKeyId(md.keyGroups, md.shamirThreshold)
    let key = input.cache?.get(input.keyring.scope, id)
    if (key === undefined) {
      key = yield* recoverDataKey(
        file,
        md.keyGroups,
        md.shamirThreshold,
        servicesFor(input.keyring),
        input.decryptionOrder,
      )
      input.cache?.set(input.keyring.scope, id, key)
    }
    const out = yield* decryptTree(
      file,
      parsed.documents,
      md,
      selector,
      key,
      input.mac,
      input.format,
      input.stash,
    )
    return { documents: out.documents, metadata: md, dataKey: key, macMismatch: out.macMismatch, values }
  })

/** See `decrypt` in `./index.ts`. */
export const decrypt: (input: DecryptInput) => Effect.Effect<DecryptResult, SopsError> = Effect.fn(
  "sops.decrypt",
)(function* (input: DecryptInput) {
  const opened = yield* decryptFile(input)
  const plaintext = yield* storeFor(input.outputFormat ?? input.format, indentOption(input.indent))
    .writePlain(opened.documents)
    .pipe(Effect.mapError(fromStoreError(input.file)))
  return { plaintext, macMismatch: opened.macMismatch, values: opened.values }
})
