import { describe, expect, it } from "@effect/vitest"
import { compileRule, InvalidRule } from "./rules.ts"

describe("selection rules", () => {
  it("no rule encrypts everything", () => {
    expect(compileRule(undefined).shouldEncrypt(["a"], [], false)).toBe(true)
  })
  it("unencrypted_suffix: any key of the path ending with the suffix keeps the subtree clear", () => {
    const s = compileRule({ kind: "unencrypted_suffix", value: "_unencrypted" })
    expect(s.shouldEncrypt(["a", "b"], [], false)).toBe(true)
    expect(s.shouldEncrypt(["nested_unencrypted", "this", "is"], [], false)).toBe(false)
    expect(s.shouldEncrypt([], [], true)).toBe(true)
  })
  it("encrypted_suffix: only paths with a key ending in the suffix", () => {
    const s = compileRule({ kind: "encrypted_suffix", value: "_secret" })
    expect(s.shouldEncrypt(["db_secret", "password"], [], false)).toBe(true)
    expect(s.shouldEncrypt(["db", "password"], [], false)).toBe(false)
    expect(s.shouldEncrypt([], [], true)).toBe(false)
  })
  it("regex rules are unanchored RE2 searches over every key", () => {
    const enc = compileRule({ kind: "encrypted_regex", value: "^(data|stringData)$" })
    expect(enc.shouldEncrypt(["data", "password"], [], false)).toBe(true)
    expect(enc.shouldEncrypt(["metadata", "name"], [], false)).toBe(false)
    const unenc = compileRule({ kind: "unencrypted_regex", value: "(?i)public" })
    expect(unenc.shouldEncrypt(["x", "ThePUBLICkey"], [], false)).toBe(false)
    expect(unenc.shouldEncrypt(["private"], [], false)).toBe(true)
  })
  it("supports RE2-only syntax and rejects Perl-only syntax", () => {
    expect(
      compileRule({ kind: "encrypted_regex", value: "^[[:alpha:]]+\\z" }).shouldEncrypt(["abc"], [], false),
    ).toBe(true)
    expect(
      compileRule({ kind: "encrypted_regex", value: "\\pL\\Q.+\\E" }).shouldEncrypt(["é.+"], [], false),
    ).toBe(true)
    expect(() => compileRule({ kind: "encrypted_regex", value: "(?=x)" })).toThrow(InvalidRule)
    expect(() => compileRule({ kind: "encrypted_regex", value: "(a)\\1" })).toThrow(InvalidRule)
  })
  it("comment regexes look at the comment stack; the encrypted marker comment itself stays clear", () => {
    const enc = compileRule({ kind: "encrypted_comment_regex", value: "sops:enc" })
    expect(enc.shouldEncrypt(["a"], [[" sops:enc"]], false)).toBe(true)
    expect(enc.shouldEncrypt(["a"], [[" other"]], false)).toBe(false)
    // the marker is the comment being decided: skipped
    expect(enc.shouldEncrypt([], [[" sops:enc"]], true)).toBe(false)
    // a comment following the marker is encrypted
    expect(enc.shouldEncrypt([], [[" sops:enc", " next"]], true)).toBe(true)
    // an ancestor's marker applies to everything below
    expect(enc.shouldEncrypt(["a", "b"], [[" sops:enc"], []], false)).toBe(true)
    const unenc = compileRule({ kind: "unencrypted_comment_regex", value: "nocrypt" })
    expect(unenc.shouldEncrypt(["a"], [[" nocrypt"]], false)).toBe(false)
    expect(unenc.shouldEncrypt([], [[" nocrypt"]], true)).toBe(false)
    expect(unenc.shouldEncrypt(["a"], [[]], false)).toBe(true)
  })
})
