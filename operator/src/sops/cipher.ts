/**
 * The value cipher: AES-256-GCM with a 32-byte IV, packed as
 * `ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<str|int|float|bool|time|comment|bytes>]`.
 *
 * Functions here are synchronous and throw {@link CipherError} (no values in its text); the tree walk turns
 * that into a typed engine error carrying file and key path.
 *
 * @module
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto"
import {
  formatFloatF,
  formatTimeGo,
  parseBoolGo,
  parseFloatGo,
  parseIntGo,
  parseTimestamp,
} from "./goformat.ts"
import { type Comment, comment, float, isComment, isFloat, isTimestamp, type Scalar } from "./tree.ts"

/** Why a value could not be encrypted or decrypted; never contains the value. */
export class CipherError extends Error {
  override readonly name = "CipherError"
}

const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

/** The bytes sops hashes for the MAC and encrypts for a leaf (`ToBytes` / the cipher's plaintext form). */
export const scalarBytes = (v: Exclude<Scalar, null> | Comment): Uint8Array => {
  if (typeof v === "string") return utf8.encode(v)
  if (typeof v === "bigint") return utf8.encode(v.toString())
  if (typeof v === "boolean") return utf8.encode(v ? "True" : "False")
  if (v instanceof Uint8Array) return v
  if (isFloat(v)) return utf8.encode(formatFloatF(v.value))
  if (isTimestamp(v)) return utf8.encode(formatTimeGo(v))
  if (isComment(v)) return utf8.encode(v.value)
  throw new CipherError("unsupported value type")
}

const typeTag = (v: Exclude<Scalar, null> | Comment): string => {
  if (typeof v === "string" || v instanceof Uint8Array) return "str"
  if (typeof v === "bigint") return "int"
  if (typeof v === "boolean") return "bool"
  if (isFloat(v)) return "float"
  if (isTimestamp(v)) return "time"
  return "comment"
}

const b64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64")

/** Standard alphabet with padding, as Go's StdEncoding accepts (a regex is too slow on megabyte values). */
const isStdBase64 = (s: string): boolean => {
  if (s.length % 4 !== 0) return false
  const n = s.length
  const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0
  for (let i = 0; i < n - pad; i++) {
    const c = s.charCodeAt(i)
    const ok =
      (c >= 65 && c <= 90) ||
      (c >= 97 && c <= 122) ||
      (c >= 48 && c <= 57) ||
      c === 43 /* + */ ||
      c === 47 /* / */
    if (!ok) return false
  }
  return true
}

const unb64 = (s: string, field: string): Buffer => {
  const clean = s.includes("\n") || s.includes("\r") ? s.replace(/[\r\n]/g, "") : s
  if (!isStdBase64(clean)) throw new CipherError(`error base64-decoding ${field}`)
  return Buffer.from(clean, "base64")
}

/** True when the whole string is an encrypted value. */
export const isEncrypted = (s: string): boolean => s.startsWith("ENC[AES256_GCM,")

/**
 * Encrypts one leaf. Empty strings and empty comments stay empty (as in sops). `aad` is the key path joined
 * with `:` plus a trailing `:`; `iv` is 32 random bytes unless given (tests, stash reuse).
 */
export const encryptValue = (
  value: Exclude<Scalar, null> | Comment,
  key: Uint8Array,
  aad: string,
  iv: Uint8Array = randomBytes(32),
): string => {
  const plain = scalarBytes(value)
  if (plain.length === 0 && (typeof value === "string" || value instanceof Uint8Array || isComment(value)))
    return ""
  const c = createCipheriv("aes-256-gcm", key, iv, { authTagLength: 16 })
  c.setAAD(utf8.encode(aad))
  const data = Buffer.concat([c.update(plain), c.final()])
  const tag = c.getAuthTag()
  return `ENC[AES256_GCM,data:${b64(data)},iv:${b64(iv)},tag:${b64(tag)},type:${typeTag(value)}]`
}

const encFormat = /^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]/

/** The raw pieces of an `ENC[…]` string; throws when malformed. */
export const parseEncrypted = (s: string) => {
  const m = encFormat.exec(s)
  if (m === null) throw new CipherError("value does not match sops' ENC[AES256_GCM,…] format")
  const [, data, iv, tag, type] = m as unknown as [string, string, string, string, string]
  return { data: unb64(data, "data"), iv: unb64(iv, "iv"), tag: unb64(tag, "tag"), type }
}

/**
 * Decrypts one `ENC[…]` string into the typed leaf its `type:` tag names. `""` decrypts to `""`.
 * `rawBytes` keeps `str` plaintext as bytes (binary store); otherwise non-UTF-8 `str` plaintext also stays bytes.
 */
export const decryptValue = (
  s: string,
  key: Uint8Array,
  aad: string,
  rawBytes = false,
): Exclude<Scalar, null> | Comment => {
  if (s === "") return ""
  const { data, iv, tag, type } = parseEncrypted(s)
  if (iv.length === 0) throw new CipherError("empty iv")
  if (tag.length !== 16)
    throw new CipherError("could not decrypt with AES_GCM: message authentication failed")
  let plain: Buffer
  try {
    const d = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: 16 })
    d.setAAD(utf8.encode(aad))
    d.setAuthTag(tag)
    plain = Buffer.concat([d.update(data), d.final()])
  } catch {
    throw new CipherError("could not decrypt with AES_GCM: message authentication failed")
  }
  const text = () => plain.toString("utf8")
  switch (type) {
    case "str": {
      if (rawBytes) return new Uint8Array(plain)
      try {
        return strictUtf8.decode(plain)
      } catch {
        return new Uint8Array(plain)
      }
    }
    case "int": {
      const n = parseIntGo(text())
      if (n === undefined) throw new CipherError("decrypted value of type int is not an integer")
      return n
    }
    case "float": {
      const n = parseFloatGo(text())
      if (n === undefined) throw new CipherError("decrypted value of type float is not a number")
      return float(n)
    }
    case "bool": {
      const b = parseBoolGo(text())
      if (b === undefined) throw new CipherError("decrypted value of type bool is not a boolean")
      return b
    }
    case "time": {
      const t = parseTimestamp(text())
      if (t === undefined) throw new CipherError("decrypted value of type time is not an RFC 3339 time")
      return t
    }
    case "comment":
      return comment(text())
    case "bytes":
      return new Uint8Array(plain)
    default:
      throw new CipherError(`unknown datatype ${JSON.stringify(type.slice(0, 20))}`)
  }
}
