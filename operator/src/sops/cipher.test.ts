import { randomBytes } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { CipherError, decryptValue, encryptValue, parseEncrypted } from "./cipher.ts"
import { parseTimestamp } from "./goformat.ts"
import { comment, float, isComment, isFloat, isTimestamp } from "./tree.ts"

const key = new Uint8Array(randomBytes(32))

describe("ENC[AES256_GCM,…] values", () => {
  it("uses a 32-byte IV, a 16-byte tag and standard padded base64", () => {
    const enc = encryptValue("hello", key, "a:b:")
    expect(enc).toMatch(
      /^ENC\[AES256_GCM,data:[A-Za-z0-9+/]+=*,iv:[A-Za-z0-9+/]+=*,tag:[A-Za-z0-9+/]+=*,type:str\]$/,
    )
    const p = parseEncrypted(enc)
    expect(p.iv.length).toBe(32)
    expect(p.tag.length).toBe(16)
    expect(p.data.length).toBe(5)
  })

  it("is deterministic for a given key, IV and AAD", () => {
    const k = new Uint8Array(32).fill(1)
    const iv = new Uint8Array(32).fill(2)
    const enc = encryptValue("bar", k, "foo:", iv)
    expect(decryptValue(enc, k, "foo:")).toBe("bar")
    // same inputs give the same ciphertext (deterministic given the IV)
    expect(encryptValue("bar", k, "foo:", iv)).toBe(enc)
  })

  it("serialises every type like sops and parses it back to the same type", () => {
    const cases = [
      ["str", "x y", (v: unknown) => v === "x y"],
      ["int", -9223372036854775808n, (v: unknown) => v === -9223372036854775808n],
      ["float", float(1234568000), (v: unknown) => isFloat(v) && v.value === 1234568000],
      ["bool", true, (v: unknown) => v === true],
      [
        "time",
        parseTimestamp("2024-01-01T10:00:00+02:00")!,
        (v: unknown) => isTimestamp(v) && v.text === "2024-01-01T10:00:00+02:00",
      ],
      ["comment", comment(" hi"), (v: unknown) => isComment(v) && v.value === " hi"],
    ] as const
    for (const [tag, value, check] of cases) {
      const enc = encryptValue(value, key, "k:")
      expect(enc.endsWith(`type:${tag}]`)).toBe(true)
      expect(check(decryptValue(enc, key, "k:"))).toBe(true)
    }
  })

  it("writes the exact plaintext forms (float 'f' format, Title-case bools, RFC 3339 times)", () => {
    const plain = (v: Parameters<typeof encryptValue>[0]) => {
      const enc = encryptValue(v, key, "k:")
      const bytes = decryptValue(enc.replace(/type:\w+\]$/, "type:str]"), key, "k:")
      return bytes
    }
    expect(plain(float(1e21))).toBe("1000000000000000000000")
    expect(plain(float(0.0000001))).toBe("0.0000001")
    expect(plain(true)).toBe("True")
    expect(plain(false)).toBe("False")
    expect(plain(12345678901234567890n % 9223372036854775807n)).toBe(
      (12345678901234567890n % 9223372036854775807n).toString(),
    )
    expect(plain(parseTimestamp("2024-01-01")!)).toBe("2024-01-01T00:00:00Z")
  })

  it("leaves empty strings and empty comments empty", () => {
    expect(encryptValue("", key, "k:")).toBe("")
    expect(encryptValue(comment(""), key, "k:")).toBe("")
    expect(decryptValue("", key, "k:")).toBe("")
  })

  it("binds the value to its path (AAD)", () => {
    const enc = encryptValue("secret", key, "a:b:")
    expect(() => decryptValue(enc, key, "a:c:")).toThrow(CipherError)
    expect(() => decryptValue(enc, new Uint8Array(randomBytes(32)), "a:b:")).toThrow(/authentication failed/)
  })

  it("rejects malformed values without echoing them", () => {
    for (const bad of [
      "ENC[AES256_GCM,data:abc]",
      "ENC[AES256_GCM,data:!!!!,iv:AAAA,tag:AAAA,type:str]",
      "ENC[AES256_GCM,data:AAAA,iv:,tag:AAAA,type:str]",
      "plain text secret",
    ]) {
      let err: unknown
      try {
        decryptValue(bad, key, "k:")
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(CipherError)
      expect((err as Error).message).not.toContain("secret")
    }
    const enc = encryptValue("x", key, "k:").replace("type:str", "type:weird")
    expect(() => decryptValue(enc, key, "k:")).toThrow(/unknown datatype/)
  })

  it("keeps non-UTF-8 str plaintext as bytes", () => {
    const bytes = new Uint8Array([0xff, 0xfe, 0x00, 0x41])
    const enc = encryptValue(bytes, key, "data:")
    expect(enc.endsWith("type:str]")).toBe(true)
    expect(decryptValue(enc, key, "data:")).toEqual(bytes)
    expect(decryptValue(encryptValue("abc", key, "data:"), key, "data:", true)).toEqual(
      new TextEncoder().encode("abc"),
    )
  })
})
