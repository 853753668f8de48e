/**
 * `kustodian groups add|delete` against the real sops 3.13: the same key groups and Shamir threshold in the
 * output (wrapped keys aside, which are random), the values and MAC untouched, files that sops decrypts with
 * the shares the groups need, and sops' exit codes.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type AgeKey, type Peer, peer } from "./testing/sops-peer.ts"

let p: Peer
let k1: AgeKey
let k2: AgeKey
let both: string
const plain = "user: admin\npassword: hunter2\n"

beforeAll(() => {
  p = peer("kgroups-")
  k1 = p.ageKey("k1")
  k2 = p.ageKey("k2")
  both = p.write("both.agekey", `${k1.identity}\n${k2.identity}\n`)
  p.write("plain.yaml", plain)
  p.write("orig.yaml", p.sops(["encrypt", "--age", k1.recipient, "plain.yaml"]).stdout)
})
afterAll(() => p.dispose())

/** The file without the wrapped keys (random per run). */
const shape = (text: string) => text.replace(/enc: \|[\s\S]*?-----END AGE ENCRYPTED FILE-----/g, "enc: X")
const run = (args: ReadonlyArray<string>, keys: string) => ({
  ours: p.kustodian(args, { env: { SOPS_AGE_KEY_FILE: keys } }),
  theirs: p.sops(args, { env: { SOPS_AGE_KEY_FILE: keys } }),
})

describe("kustodian groups", { timeout: 180_000 }, () => {
  it("add: the same groups and threshold as sops; values and MAC untouched; both shares decrypt", () => {
    const { ours, theirs } = run(["groups", "add", "-f", "orig.yaml", "--age", k2.recipient], k1.file)
    expect([ours.code, theirs.code], ours.stderr).toEqual([0, 0])
    expect(shape(ours.stdout)).toBe(shape(theirs.stdout))
    expect(ours.stdout).toContain("shamir_threshold: 2")
    const values = (t: string) => t.split("sops:")[0]
    expect(values(ours.stdout)).toBe(values(p.read("orig.yaml")))
    p.write("two.yaml", ours.stdout)
    expect(p.sops(["decrypt", "two.yaml"], { env: { SOPS_AGE_KEY_FILE: both } }).stdout).toBe(plain)
    expect(p.sops(["decrypt", "two.yaml"], { env: { SOPS_AGE_KEY_FILE: k1.file } }).code).toBe(128)
  })

  it("delete: the same result as sops, and the threshold check sops makes", () => {
    p.write(
      "g.yaml",
      p.kustodian(["groups", "add", "-f", "orig.yaml", "--age", k2.recipient], {
        env: { SOPS_AGE_KEY_FILE: k1.file },
      }).stdout,
    )
    const refused = run(["groups", "delete", "-f", "g.yaml", "0"], both)
    expect([refused.ours.code, refused.theirs.code]).toEqual([1, 1])
    expect(refused.ours.stderr).toContain("Shamir threshold is 2, but we only have 1 key groups")
    const { ours, theirs } = run(
      ["groups", "delete", "--shamir-secret-sharing-threshold", "1", "-f", "g.yaml", "0"],
      both,
    )
    expect([ours.code, theirs.code], ours.stderr).toEqual([0, 0])
    expect(shape(ours.stdout)).toBe(shape(theirs.stdout))
    p.write("one.yaml", ours.stdout)
    expect(p.sops(["decrypt", "one.yaml"], { env: { SOPS_AGE_KEY_FILE: k2.file } }).stdout).toBe(plain)
    // -i writes back
    p.write("inplace.yaml", p.read("orig.yaml"))
    const inPlace = p.kustodian(["groups", "add", "-i", "-f", "inplace.yaml", "--age", k2.recipient], {
      env: { SOPS_AGE_KEY_FILE: k1.file },
    })
    expect([inPlace.code, inPlace.stdout]).toEqual([0, ""])
    expect(p.read("inplace.yaml")).toContain("key_groups:")
  })

  it("fails with sops' exit codes; usage errors are one line and a hint", () => {
    const cases: Array<ReadonlyArray<string>> = [
      ["groups", "add", "-f", "orig.yaml", "--age", k2.recipient, "extra"],
      ["groups", "delete", "-f", "orig.yaml"],
      ["groups", "delete", "-f", "orig.yaml", "x"],
      ["groups", "add", "-f", "missing.yaml", "--age", k2.recipient],
    ]
    for (const args of cases) {
      const { ours, theirs } = run(args, k1.file)
      expect(ours.code, `${args.join(" ")}: ${ours.stderr}`).toBe(theirs.code)
    }
    const wrongKey = run(["groups", "add", "-f", "orig.yaml", "--age", k2.recipient], k2.file)
    expect(wrongKey.ours.code).toBe(wrongKey.theirs.code)
    const usage = p.kustodian(["groups", "move"])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toBe(
      'kustodian groups: unknown groups command "move" (add, delete)\nsee: kustodian groups --help\n',
    )
    expect(p.kustodian(["groups", "--help"]).code).toBe(0)
  })
})
