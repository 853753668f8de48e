/**
 * The contract between the SOPS engine and its file-format stores (YAML, JSON, dotenv, INI, binary).
 *
 * A store only turns bytes into the format-independent tree (`../tree.ts`) and back; it never encrypts. The
 * engine core reads a file with `readEncrypted`, recovers the data key from `metadata`, decrypts `documents` and
 * writes them with `writePlain` — or the reverse with `readPlain` / `writeEncrypted`.
 *
 * Design: parsing and emitting are pure synchronous functions that throw a {@link StoreError}; the `Store`
 * methods lift them into `Effect`s whose error channel is exactly `StoreError` (anything else would be a bug and
 * surfaces as a defect). Errors name the line/column and the key path, never a value.
 *
 * Binary store: `readPlain` yields `{ data: Uint8Array }` (the raw file, never round-tripped through a JS string);
 * the engine must encrypt that value with type tag `str` (as sops does) and, when decrypting a binary file,
 * decrypt `data` to bytes. `writePlain` accepts `data` as `Uint8Array` or string.
 *
 * @module
 */
import { Effect } from "effect"
import type { StoreErrorData } from "../../workers/jobs.ts"
import { inlineLimit, offThread } from "../../workers/pool.ts"
import type { Branch, Documents } from "../tree.ts"
import { binaryStore } from "./binary.ts"
import { dotenvStore } from "./dotenv.ts"
import {
  type Format,
  formats,
  isStoreError,
  parseError,
  StoreEmitError,
  type StoreError,
  StoreMetadataError,
  StoreParseError,
} from "./errors.ts"
import { iniStore } from "./ini.ts"
import { jsonStore } from "./json.ts"
import { yamlStore } from "./yaml.ts"

export * from "./errors.ts"

/** What an encrypted file holds: the data without the `sops` entry, and the metadata unflattened. */
export interface EncryptedFile {
  readonly documents: Documents
  /** The `sops` mapping as a Branch (INI/dotenv already unflattened), values as the format typed them. */
  readonly metadata: Branch
}

/** Emit options, as `.sops.yaml` `stores:` / `--indent` set them. */
export interface StoreOptions {
  /** YAML: spaces per level (default 4; negative rejected). JSON: N spaces, `undefined`/`-1` = one TAB (default). */
  readonly indent?: number
}

export interface Store {
  readonly format: Format
  /** A plaintext file into the tree (YAML: one branch per document; others: exactly one). */
  readonly readPlain: (bytes: Uint8Array) => Effect.Effect<Documents, StoreError>
  /** An encrypted file: the tree without the sops entry, plus the metadata as an unflattened Branch. */
  readonly readEncrypted: (bytes: Uint8Array) => Effect.Effect<EncryptedFile, StoreError>
  /** The tree as a plaintext file, byte for byte as `sops decrypt` writes it. */
  readonly writePlain: (docs: Documents) => Effect.Effect<Uint8Array, StoreError>
  /**
   * The tree plus metadata as an encrypted file, byte for byte as sops 3.13 writes it. `metadata` is an
   * unflattened Branch already in the key order to write (3.13: alphabetical); INI/dotenv flatten it here.
   */
  readonly writeEncrypted: (docs: Documents, metadata: Branch) => Effect.Effect<Uint8Array, StoreError>
}

/** The synchronous core of a store; throws only {@link StoreError}. Use through {@link Store} outside the engine. */
export interface SyncStore {
  readonly readPlain: (bytes: Uint8Array) => Documents
  readonly readEncrypted: (bytes: Uint8Array) => EncryptedFile
  readonly writePlain: (docs: Documents) => Uint8Array
  readonly writeEncrypted: (docs: Documents, metadata: Branch) => Uint8Array
}

const lift =
  <A extends ReadonlyArray<unknown>, B>(f: (...a: A) => B) =>
  (...a: A): Effect.Effect<B, StoreError> =>
    Effect.suspend(() => {
      try {
        return Effect.succeed(f(...a))
      } catch (e) {
        return isStoreError(e) ? Effect.fail(e) : Effect.die(e)
      }
    })

/** Wraps a synchronous store into the Effect contract. */
export const fromSync = (format: Format, s: SyncStore): Store => ({
  format,
  readPlain: lift(s.readPlain),
  readEncrypted: lift(s.readEncrypted),
  writePlain: lift(s.writePlain),
  writeEncrypted: lift(s.writeEncrypted),
})

/** The store sops would pick for a path, by its suffix (`.yaml`/`.yml`, `.json`, `.env`, `.ini`, else binary). */
export const formatForPath = (path: string): Format => {
  if (path.endsWith(".yaml") || path.endsWith(".yml")) return "yaml"
  if (path.endsWith(".json")) return "json"
  if (path.endsWith(".env")) return "dotenv"
  if (path.endsWith(".ini")) return "ini"
  return "binary"
}

/** Parses an `--input-type`/`--output-type` value; `undefined` when it names no store. */
export const parseFormat = (name: string): Format | undefined =>
  (formats as ReadonlyArray<string>).includes(name) ? (name as Format) : undefined

/** The synchronous core of a format's store (what a worker of `workers/pool.ts` runs). */
export const syncStoreFor = (format: Format, options: StoreOptions = {}): SyncStore => {
  switch (format) {
    case "yaml":
      return yamlStore(options)
    case "json":
      return jsonStore(options)
    case "dotenv":
      return dotenvStore()
    case "ini":
      return iniStore()
    case "binary":
      return binaryStore(options)
  }
}

const rebuild = (d: StoreErrorData): StoreError => {
  const fields = {
    format: d.format,
    reason: d.reason,
    ...(d.line === undefined ? {} : { line: d.line }),
    ...(d.column === undefined ? {} : { column: d.column }),
    ...(d.path === undefined ? {} : { path: d.path }),
  }
  switch (d._tag) {
    case "StoreParseError":
      return new StoreParseError(fields)
    case "StoreEmitError":
      return new StoreEmitError(fields)
    case "StoreMetadataError":
      return new StoreMetadataError(fields)
  }
}

/**
 * Reading a large file on a worker of the process's pool: a repository controls what it costs (a 5 MiB YAML
 * file of a million tiny nodes takes the parser seconds), and the event loop must keep serving probes, leases
 * and other tenants meanwhile. Writing needs no such care: it emits what a read produced.
 */
const readOffThread = (format: Format, options: StoreOptions, encrypted: boolean, bytes: Uint8Array) =>
  offThread({ op: "store-read", format, options, encrypted, bytes }).pipe(
    Effect.flatMap((reply) =>
      reply.ok
        ? Effect.succeed(reply)
        : Effect.fail(
            reply.store !== undefined
              ? rebuild(reply.store)
              : parseError(format, `the file could not be parsed: ${reply.message}`),
          ),
    ),
  )

/** The store for a format; `options.indent` as `.sops.yaml` `stores:` or `--indent` would set it (YAML/JSON only). */
export const storeFor = (format: Format, options: StoreOptions = {}): Store => {
  const store = fromSync(format, syncStoreFor(format, options))
  if (format === "binary") return store
  return {
    ...store,
    readPlain: (bytes) =>
      bytes.length <= inlineLimit
        ? store.readPlain(bytes)
        : readOffThread(format, options, false, bytes).pipe(
            Effect.flatMap((r) => ("documents" in r ? Effect.succeed(r.documents) : Effect.die("bad reply"))),
          ),
    readEncrypted: (bytes) =>
      bytes.length <= inlineLimit
        ? store.readEncrypted(bytes)
        : readOffThread(format, options, true, bytes).pipe(
            Effect.flatMap((r) => ("file" in r ? Effect.succeed(r.file) : Effect.die("bad reply"))),
          ),
  }
}
