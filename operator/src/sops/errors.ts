/**
 * Typed failures of the SOPS engine. Every error names the file and, where one exists, the key path; none ever
 * carries a plaintext value, a data key or a MAC.
 *
 * @module
 */
import { Data } from "effect"

const at = (file: string, path?: ReadonlyArray<string>) =>
  path === undefined ? file : `${file} at ${path.length === 0 ? "<root>" : path.join(".")}`

/** Why one master key could not produce its part of the data key. */
export interface KeyAttempt {
  /** How sops names the key: age recipient, PGP fingerprint, KMS ARN, vault URI, … */
  readonly id: string
  readonly type: string
  readonly reason: string
}

/** The outcome of one key group while recovering the data key. */
export interface GroupAttempt {
  readonly index: number
  readonly ok: boolean
  readonly attempts: ReadonlyArray<KeyAttempt>
}

/** No (or not enough) key groups produced their part of the data key. */
export class DataKeyError extends Data.TaggedError("DataKeyError")<{
  readonly file: string
  readonly threshold: number
  readonly groups: ReadonlyArray<GroupAttempt>
}> {
  override get message(): string {
    const ok = this.groups.filter((g) => g.ok).length
    const groups = this.groups
      .map(
        (g) =>
          `group ${g.index}: ${g.ok ? "ok" : "FAILED"}` +
          (g.ok ? "" : ` (${g.attempts.map((a) => `${a.type} ${a.id}: ${a.reason}`).join("; ")})`),
      )
      .join("; ")
    const need =
      this.threshold <= 1
        ? "no master key could decrypt the data key"
        : `shamir threshold ${this.threshold} needs ${this.threshold} groups, ${ok} succeeded`
    return `${this.file}: failed to get the data key: ${need}; ${groups}`
  }
}

/** The MAC stored in the file does not match the values (or is missing, or cannot be decrypted). */
export class MacMismatch extends Data.TaggedError("MacMismatch")<{
  readonly file: string
  readonly reason: "mismatch" | "missing" | "undecryptable"
}> {
  override get message(): string {
    const why =
      this.reason === "missing"
        ? "file has no MAC"
        : this.reason === "undecryptable"
          ? "the stored MAC cannot be decrypted with the data key"
          : "the values do not match the stored MAC (file was modified or corrupted)"
    return `${this.file}: MAC mismatch: ${why}`
  }
}

/** A value looked encrypted but is not a well-formed `ENC[AES256_GCM,…]` string, or fails to authenticate. */
export class MalformedValue extends Data.TaggedError("MalformedValue")<{
  readonly file: string
  readonly path: ReadonlyArray<string>
  readonly reason: string
}> {
  override get message(): string {
    return `${at(this.file, this.path)}: cannot decrypt value: ${this.reason}`
  }
}

/** The `sops` metadata is missing or invalid. */
export class BadMetadata extends Data.TaggedError("BadMetadata")<{
  readonly file: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.file}: invalid sops metadata: ${this.reason}`
  }
}

/** The input cannot be processed: parse errors, unsupported structure, already encrypted, … */
export class UnsupportedInput extends Data.TaggedError("UnsupportedInput")<{
  readonly file: string
  readonly reason: string
  readonly path?: ReadonlyArray<string>
}> {
  override get message(): string {
    return `${at(this.file, this.path)}: ${this.reason}`
  }
}

/**
 * A file holds more encrypted values than the caller still allows (`maxValues`): refused after parsing, before
 * any key is opened or value decrypted, so a build's decryption work stays bounded.
 */
export class TooManyValues extends Data.TaggedError("TooManyValues")<{
  readonly file: string
  /** Encrypted values in the file (leaves and comments, aliases expanded). */
  readonly values: number
  /** What the caller still allowed. */
  readonly limit: number
}> {
  override get message(): string {
    return `${this.file}: holds ${this.values} encrypted values, more than the ${this.limit} still allowed`
  }
}

/** Encryption could not be configured or performed (no keys, bad `.sops.yaml`, a master key failed to wrap). */
export class EncryptError extends Data.TaggedError("EncryptError")<{
  readonly file: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.file}: cannot encrypt: ${this.reason}`
  }
}

/** `.sops.yaml` could not be read or has no rule for the file. */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly config: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.config}: ${this.reason}`
  }
}

/** Every failure the public SOPS API can produce. */
export type SopsError =
  | DataKeyError
  | MacMismatch
  | MalformedValue
  | BadMetadata
  | UnsupportedInput
  | TooManyValues
  | EncryptError
  | ConfigError

/** A single master key failed (collected into {@link DataKeyError}; never escapes the engine on its own). */
export class KeyFailure extends Data.TaggedError("KeyFailure")<{
  readonly reason: string
}> {
  override get message(): string {
    return this.reason
  }
}
