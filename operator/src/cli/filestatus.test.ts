/**
 * `kustodian filestatus` against the real sops 3.13: the same JSON line for encrypted and plain files of every
 * store, and the same exit codes for unreadable and unparsable files.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type Peer, peer } from "./testing/sops-peer.ts"

let p: Peer
beforeAll(() => {
  p = peer("kfilestatus-")
  const { recipient } = p.ageKey("k")
  p.write("plain.yaml", "a: 1\n")
  p.write("plain.json", '{"a": 1}\n')
  p.write("plain.env", "A=1\n")
  p.write("plain.ini", "[s]\na = 1\n")
  for (const f of ["plain.yaml", "plain.json", "plain.env", "plain.ini"]) {
    const enc = p.sops(["encrypt", "--age", recipient, f])
    if (enc.code !== 0) throw new Error(enc.stderr)
    p.write(f.replace("plain", "enc"), enc.stdout)
  }
  p.write("bad.json", "{bad")
  p.write("nomac.yaml", "a: 1\nsops:\n    version: 3.13.3\n")
  const [head] = p.read("enc.yaml").split("    mac:")
  p.write("emptymac.yaml", `${head}    mac: ""\n    version: 3.13.3\n`)
})
afterAll(() => p.dispose())

describe("kustodian filestatus", { timeout: 120_000 }, () => {
  it("prints what sops prints, with sops' exit codes", () => {
    const files = [
      "enc.yaml",
      "enc.json",
      "enc.env",
      "enc.ini",
      "plain.yaml",
      "plain.json",
      "plain.env",
      "plain.ini",
      "nomac.yaml",
      "emptymac.yaml",
      "bad.json",
      "missing.yaml",
    ]
    const seen: Record<string, string> = {}
    for (const f of files) {
      const k = p.kustodian(["filestatus", f])
      const s = p.sops(["filestatus", f])
      expect({ file: f, code: k.code, out: k.stdout }).toEqual({ file: f, code: s.code, out: s.stdout })
      seen[f] = k.stdout
    }
    expect(seen["enc.yaml"]).toBe('{"encrypted":true}\n')
    expect(seen["plain.yaml"]).toBe('{"encrypted":false}\n')
    // --input-type as sops: an encrypted YAML read as JSON does not parse
    const k = p.kustodian(["filestatus", "--input-type", "json", "enc.yaml"])
    expect(k.code).toBe(p.sops(["filestatus", "--input-type", "json", "enc.yaml"]).code)
    const none = p.kustodian(["filestatus"])
    expect(none.code).toBe(p.sops(["filestatus"]).code)
    expect(none.code).toBe(100)
    expect(p.kustodian(["help", "filestatus"]).stdout).toContain("usage: kustodian filestatus")
  })
})
