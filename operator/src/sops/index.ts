/**
 * Public API of the SOPS engine — the only module the rest of the operator imports from `sops/`.
 *
 * - {@link decrypt}: bytes of a sops file → plaintext bytes (same or another format), MAC checked.
 * - {@link encrypt}: plaintext bytes → sops file, to the given key groups.
 * - {@link hasSopsMetadata} / {@link formatForPath}: cheap detection for a build step deciding what to decrypt.
 * - {@link Keyring}: the private keys a caller has (e.g. from a Kubernetes Secret); {@link DataKeyCache} lets
 *   repeated decryptions of files sharing a data key skip the (slow, e.g. RSA-4096) master-key step.
 *
 * Errors are {@link SopsError}s naming the file and key path; they never contain plaintext.
 *
 * @module
 */
import type { Effect } from "effect"
import * as Cache from "./cache.ts"
import * as Decrypt from "./decrypt.ts"
import * as Detect from "./detect.ts"
import * as Encrypt from "./encrypt.ts"
import type { SopsError } from "./errors.ts"
import type { Format } from "./format.ts"
import type { KeyRecipient, KeyType, MasterKeyService } from "./keys/masterkey.ts"
import type { SelectionRule } from "./rules.ts"

export type { GroupAttempt, KeyAttempt, SopsError } from "./errors.ts"
export {
  BadMetadata,
  ConfigError,
  DataKeyError,
  EncryptError,
  /** What a {@link MasterKeyService} fails with; collected per key into {@link DataKeyError}. */
  KeyFailure,
  MacMismatch,
  MalformedValue,
  TooManyValues,
  UnsupportedInput,
} from "./errors.ts"
export type { Format } from "./format.ts"
export { formatForPath, isFormat } from "./format.ts"
export type {
  AgeKey,
  AzureKvKey,
  GcpKmsKey,
  HcKmsKey,
  KeyRecipient,
  KeyType,
  KmsKey,
  MasterKey,
  MasterKeyService,
  PgpKey,
  VaultKey,
} from "./keys/masterkey.ts"
export { keyId } from "./keys/masterkey.ts"
export type { RuleKind, SelectionRule } from "./rules.ts"
export { defaultRule } from "./rules.ts"

/**
 * The private keys available to open data keys. Build one per source of keys (e.g. per decryption Secret);
 * `scope` names that source for the {@link DataKeyCache} so keys from one Secret never serve another.
 */
export interface Keyring {
  /** Cache scope, e.g. `<namespace>/<secret name>@<resourceVersion>`. */
  readonly scope: string
  /** age identities, `AGE-SECRET-KEY-1…` (key-file text with comments is accepted too). */
  readonly age: ReadonlyArray<string>
  /** Armored OpenPGP private keys without passphrase (RSA or ECC). */
  readonly pgp: ReadonlyArray<string>
  /**
   * Fall back to the `gpg` binary for PGP entries no in-process key opens (CLI behaviour of sops).
   * `exec` defaults to `gpg`; `home` to `$GNUPGHOME`. Leave unset in the operator.
   */
  readonly gpg?: { readonly exec?: string; readonly home?: string }
  /** Providers for the other key types (Vault transit, AWS/GCP KMS, Azure Key Vault, …). */
  readonly providers?: ReadonlyArray<MasterKeyService>
}

/** Remembers opened data keys per (keyring scope, encrypted data key identity). */
export interface DataKeyCache {
  get(scope: string, encryptedKeyId: string): Uint8Array | undefined
  set(scope: string, encryptedKeyId: string, dataKey: Uint8Array): void
}

/** An in-memory {@link DataKeyCache} holding at most `maxEntries` keys (least recently used evicted). */
export const makeDataKeyCache: (maxEntries?: number) => DataKeyCache = Cache.make

/** How a MAC mismatch is handled: fail (`strict`), report it in the result (`warn`), or skip the check. */
export type MacPolicy = "strict" | "warn" | "ignore"

export interface DecryptInput {
  readonly bytes: Uint8Array
  /** Store the file was encrypted with (usually `formatForPath(file)`). */
  readonly format: Format
  /** Store to emit the plaintext with; defaults to `format`. */
  readonly outputFormat?: Format
  /** Name used in errors (and nothing else). */
  readonly file: string
  readonly keyring: Keyring
  readonly mac: MacPolicy
  readonly cache?: DataKeyCache
  /** Output indentation (YAML spaces, default 4; JSON spaces, default one TAB), as sops' `--indent`. */
  readonly indent?: number
  /** Key types to try first within a key group (sops' `--decryption-order`); default age, then pgp. */
  readonly decryptionOrder?: ReadonlyArray<KeyType>
  /** Most encrypted values to decrypt (aliases expanded); more fail with {@link TooManyValues} before any. */
  readonly maxValues?: number
}

export interface DecryptResult {
  readonly plaintext: Uint8Array
  /** True when the MAC did not verify and the policy was `warn`. */
  readonly macMismatch: boolean
  /** Encrypted values the file held (leaves and comments, aliases expanded), for a caller's budget. */
  readonly values: number
}

/** Decrypts a sops file. Fails with {@link SopsError}; a MAC mismatch fails only under the `strict` policy. */
export const decrypt: (input: DecryptInput) => Effect.Effect<DecryptResult, SopsError> = Decrypt.decrypt

export interface EncryptInput {
  readonly bytes: Uint8Array
  readonly format: Format
  readonly outputFormat?: Format
  readonly file: string
  /** One or more key groups; with ≥ 2 the data key is split with Shamir. */
  readonly keyGroups: ReadonlyArray<ReadonlyArray<KeyRecipient>>
  /** Shares needed to recover the data key (≥ 2 groups only; defaults to the number of groups). */
  readonly shamirThreshold?: number
  /** Selection rule; defaults to `unencrypted_suffix: _unencrypted` (none for binary). */
  readonly rule?: SelectionRule
  readonly macOnlyEncrypted?: boolean
  /**
   * Keys for wrapping: PGP fingerprints are looked up among `keyring.pgp` (then with `gpg` when `keyring.gpg`
   * is set); `providers` serve the other key types.
   */
  readonly keyring?: Keyring
  /** Output indentation, as in {@link DecryptInput}. */
  readonly indent?: number
}

/** Encrypts a plaintext file the way `sops encrypt` does; the result decrypts with the reference CLI. */
export const encrypt: (input: EncryptInput) => Effect.Effect<Uint8Array, SopsError> = Encrypt.encrypt

/** True when the bytes look like a sops-encrypted file in that format (top-level `sops` metadata present). */
export const hasSopsMetadata: (bytes: Uint8Array, format: Format) => boolean = Detect.hasSopsMetadata

export type { SopsDetection } from "./detect.ts"
/** Like {@link hasSopsMetadata}, cheap on any input, and `oversized` for a SOPS-looking input over `maxSize`. */
export const detectSops: (bytes: Uint8Array, format: Format, maxSize?: number) => Detect.SopsDetection =
  Detect.detectSops
