/**
 * The format-independent document tree every SOPS store reads into and writes from.
 *
 * Stores (YAML, JSON, dotenv, INI, binary) turn bytes into `Documents` and back; the cipher, the MAC and the
 * selection rules only ever see this tree. It mirrors the reference implementation's model closely enough
 * that the walk order — which drives both the AES-GCM additional data and the MAC — is the same.
 *
 * @module
 */

/** A comment, without its leading `#`. `inline` marks a YAML end-of-line comment (sops 3.13+). */
export interface Comment {
  readonly _tag: "Comment"
  readonly value: string
  readonly inline: boolean
}

/** A timestamp as written in the file: the instant plus the text it came from (its offset is kept). */
export interface Timestamp {
  readonly _tag: "Timestamp"
  readonly date: Date
  /** The exact RFC 3339 text, so re-serialisation keeps the original UTC offset and precision. */
  readonly text: string
}

/**
 * A float kept as the JS number. Floats are tagged so that `1.0` stays a float (JS cannot tell `1` from `1.0`).
 */
export interface Float {
  readonly _tag: "Float"
  readonly value: number
}

/** A scalar leaf. Integers are `bigint` (no precision loss), floats are `Float`, raw bytes only come from `type:bytes`. */
export type Scalar = string | bigint | Float | boolean | Timestamp | Uint8Array | null

/** A mapping entry. A comment occupies an item of its own, with a `null` value. */
export type Item =
  | { readonly key: string; readonly value: Value }
  | { readonly key: Comment; readonly value: null }

/** An ordered mapping; duplicate keys are representable (JSON keeps both). */
export interface Branch {
  readonly _tag: "Branch"
  readonly items: ReadonlyArray<Item>
}

/** A sequence; its elements may be comments. */
export interface List {
  readonly _tag: "List"
  readonly items: ReadonlyArray<Value | Comment>
}

export type Value = Scalar | Branch | List

/** A file: one branch per YAML document, exactly one for every other format. */
export type Documents = ReadonlyArray<Branch>

export const comment = (value: string, inline = false): Comment => ({ _tag: "Comment", value, inline })
export const float = (value: number): Float => ({ _tag: "Float", value })
export const branch = (items: ReadonlyArray<Item>): Branch => ({ _tag: "Branch", items })
export const list = (items: ReadonlyArray<Value | Comment>): List => ({ _tag: "List", items })

const tagged = (u: unknown): u is { readonly _tag: string } =>
  typeof u === "object" && u !== null && !(u instanceof Uint8Array) && "_tag" in u

export const isComment = (u: unknown): u is Comment => tagged(u) && u._tag === "Comment"
export const isBranch = (u: unknown): u is Branch => tagged(u) && u._tag === "Branch"
export const isList = (u: unknown): u is List => tagged(u) && u._tag === "List"
export const isFloat = (u: unknown): u is Float => tagged(u) && u._tag === "Float"
export const isTimestamp = (u: unknown): u is Timestamp => tagged(u) && u._tag === "Timestamp"
