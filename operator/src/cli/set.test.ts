/**
 * `kustodian set` / `unset` against the real sops 3.13: the same commands on copies of one file give the same
 * plaintext (read back with `sops decrypt`), the same exit codes for bad arguments, and leave every other value's
 * ciphertext as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type AgeKey, type Peer, peer, valueLines } from "./testing/sops-peer.ts"

let p: Peer
let key: AgeKey
const plain = "user: admin\npassword: hunter2\nlist:\n    - one\n    - two\nnested:\n    port: 8080\n"

beforeAll(() => {
  p = peer("kset-")
  key = p.ageKey("k")
  p.write("plain.yaml", plain)
  const enc = p.sops(["encrypt", "--age", key.recipient, "plain.yaml"])
  if (enc.code !== 0) throw new Error(enc.stderr)
  p.write("orig.yaml", enc.stdout)
  p.write("plain.json", '{"a": "x", "b": [1, 2]}')
  p.write("orig.json", p.sops(["encrypt", "--age", key.recipient, "plain.json"]).stdout)
})
afterAll(() => p.dispose())

const withKey = () => ({ env: { SOPS_AGE_KEY_FILE: key.file } })

/** Runs the same subcommand with both tools on fresh copies of `orig`; returns both results. */
const both = (orig: string, args: (file: string) => ReadonlyArray<string>, input?: string) => {
  const ext = orig.slice(orig.lastIndexOf("."))
  const ours = `ours${ext}`
  const theirs = `theirs${ext}`
  p.write(ours, p.read(orig))
  p.write(theirs, p.read(orig))
  const k = p.kustodian(args(ours), { ...withKey(), ...(input === undefined ? {} : { input }) })
  const s = p.sops(args(theirs), { ...withKey(), ...(input === undefined ? {} : { input }) })
  return { k, s, ours, theirs }
}

const decryptWithKey = (file: string) => {
  const r = p.sops(["decrypt", file], withKey())
  expect(r.code, r.stderr).toBe(0)
  return r.stdout
}

describe("kustodian set", { timeout: 120_000 }, () => {
  it("sets what sops sets, for scalars, mappings, list positions and new paths", () => {
    const cases: Array<[string, string]> = [
      ['["password"]', '"s3cret"'],
      ['["nested"]["port"]', "9090"],
      ['["new"]["deep"][0]', '{"k": true, "n": 1, "f": 1.5, "z": null}'],
      ['["list"][1]', '"TWO"'],
      ['["list"][9]', '"appended"'],
      ['["user"][0]', '"now a list"'],
      ['["big"]', "12345678901234567890"],
    ]
    for (const [index, value] of cases) {
      const { k, s, ours, theirs } = both("orig.yaml", (f) => ["set", f, index, value])
      expect(k.code, `${index}: ${k.stderr}`).toBe(s.code)
      expect(k.code).toBe(0)
      expect(decryptWithKey(ours)).toBe(decryptWithKey(theirs))
    }
  })

  it("keeps the ciphertext of every value it did not change", () => {
    const { k, ours } = both("orig.yaml", (f) => ["set", f, '["password"]', '"changed"'])
    expect(k.code, k.stderr).toBe(0)
    const before = valueLines(p.read("orig.yaml"))
    const after = valueLines(p.read(ours))
    const differing = after.filter((l, i) => l !== before[i])
    expect(differing).toHaveLength(1)
    expect(differing[0]).toMatch(/^password: ENC\[AES256_GCM,/)
    // the same value set again changes no value line at all
    const again = p.kustodian(["set", ours, '["password"]', '"changed"'], withKey())
    expect(again.code).toBe(0)
    expect(valueLines(p.read(ours))).toEqual(after)
  })

  it("--idempotent leaves an unchanged file untouched, byte for byte, as sops does", () => {
    const { k, s, ours, theirs } = both("orig.yaml", (f) => ["set", "--idempotent", f, '["user"]', '"admin"'])
    expect([k.code, s.code]).toEqual([0, 0])
    expect(p.read(ours)).toBe(p.read("orig.yaml"))
    expect(p.read(theirs)).toBe(p.read("orig.yaml"))
  })

  it("--value-file and --value-stdin keep the value off the command line", () => {
    p.write("value.json", '"from-file"')
    const file = both("orig.yaml", (f) => ["set", "--value-file", f, '["password"]', "value.json"])
    expect([file.k.code, file.s.code]).toEqual([0, 0])
    expect(decryptWithKey(file.ours)).toContain("password: from-file\n")
    expect(decryptWithKey(file.ours)).toBe(decryptWithKey(file.theirs))
    const stdin = both("orig.yaml", (f) => ["set", "--value-stdin", f, '["password"]'], '"from-stdin"')
    expect([stdin.k.code, stdin.s.code]).toEqual([0, 0])
    expect(decryptWithKey(stdin.ours)).toBe(decryptWithKey(stdin.theirs))
    expect(decryptWithKey(stdin.ours)).toContain("password: from-stdin\n")
  })

  it("works on JSON files as sops does", () => {
    const { k, s, ours, theirs } = both("orig.json", (f) => ["set", f, '["b"][0]', '{"x": "y"}'])
    expect([k.code, s.code]).toEqual([0, 0])
    expect(decryptWithKey(ours)).toBe(decryptWithKey(theirs))
  })

  it("fails with sops' exit codes", () => {
    const cases: Array<(f: string) => ReadonlyArray<string>> = [
      (f) => ["set", f, "bad", "1"], // 7: index format
      (f) => ["set", f, '["a"]', "not json"], // 7: value
      (f) => ["set", f, '["a"]', "[1, 2]"], // 7: a top-level list
      (f) => ["set", f, '["a"]'], // 100: arguments
      (f) => ["set", "--value-file", "--value-stdin", f, '["a"]', "x"], // 1
      (f) => ["set", "--decryption-order", "age,age", f, '["a"]', "1"], // 112
      () => ["set", "missing.yaml", '["a"]', "1"], // 2: unreadable
    ]
    for (const args of cases) {
      const { k, s, ours } = both("orig.yaml", args)
      expect(k.code, `${args("F").join(" ")}: ${k.stderr}`).toBe(s.code)
      expect(k.code).not.toBe(0)
      expect(p.read(ours)).toBe(p.read("orig.yaml"))
      expect(k.stderr).not.toContain("hunter2")
    }
  })

  it("--help prints the usage; an unknown flag is one line and a hint with exit code 2", () => {
    const help = p.kustodian(["set", "--help"])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("usage: kustodian set [flags] FILE INDEX [VALUE]")
    const bad = p.kustodian(["set", "--bogus", "f.yaml", '["a"]', "1"])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toBe("kustodian set: unknown flag --bogus\nsee: kustodian set --help\n")
    expect(bad.stderr).not.toMatch(/\n\s+at /)
  })
})

describe("kustodian unset", { timeout: 120_000 }, () => {
  it("removes what sops removes and keeps the other values' ciphertext", () => {
    for (const index of ['["password"]', '["list"][0]', '["nested"]["port"]', '["nested"]']) {
      const { k, s, ours, theirs } = both("orig.yaml", (f) => ["unset", f, index])
      expect([k.code, s.code], k.stderr).toEqual([0, 0])
      expect(decryptWithKey(ours)).toBe(decryptWithKey(theirs))
    }
    const { ours } = both("orig.yaml", (f) => ["unset", f, '["password"]'])
    const before = valueLines(p.read("orig.yaml")).filter((l) => !l.startsWith("password:"))
    expect(valueLines(p.read(ours))).toEqual(before)
  })

  it("a missing index fails as in sops, and --idempotent accepts it without writing", () => {
    for (const index of ['["nope"]', '["list"][5]', '["user"]["x"]']) {
      const { k, s, ours } = both("orig.yaml", (f) => ["unset", f, index])
      expect(k.code, `${index}: ${k.stderr}`).toBe(s.code)
      expect(k.code).toBe(1)
      expect(p.read(ours)).toBe(p.read("orig.yaml"))
    }
    expect(p.kustodian(["unset", "-h"]).stdout).toContain("--idempotent")
    const idem = both("orig.yaml", (f) => ["unset", "--idempotent", f, '["nope"]'])
    expect([idem.k.code, idem.s.code]).toEqual([0, 0])
    expect(p.read(idem.ours)).toBe(p.read("orig.yaml"))
    const bad = both("orig.yaml", (f) => ["unset", f, "nope"])
    expect([bad.k.code, bad.s.code]).toEqual([7, 7])
    const none = both("orig.yaml", (f) => ["unset", f])
    expect([none.k.code, none.s.code]).toEqual([100, 100])
  })
})
