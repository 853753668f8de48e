/**
 * `kustodian updatekeys` against the real sops 3.13: the same summary of added and removed recipients on
 * stdout, the same recipients in the file afterwards (and sops decrypts it with the new key), the refusal
 * without -y when stdin gives no answer, answers piped on stdin, key groups with Shamir, several files with one
 * failing, colours and the progress bar only on a terminal (util-linux `script`, a real pty).
 */
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { resolve } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type AgeKey, type Peer, peer } from "./testing/sops-peer.ts"

let p: Peer
let k1: AgeKey
let k2: AgeKey
let k3: AgeKey
const plain = "user: admin\npassword: hunter2\n"

beforeAll(() => {
  p = peer("kupdatekeys-")
  k1 = p.ageKey("k1")
  k2 = p.ageKey("k2")
  k3 = p.ageKey("k3")
  p.write("plain.yaml", plain)
  p.write("orig.yaml", p.sops(["encrypt", "--age", k1.recipient, "plain.yaml"]).stdout)
  p.write(
    ".sops.yaml",
    `creation_rules:\n  - path_regex: \\.yaml$\n    age: ${k2.recipient},${k1.recipient}\n`,
  )
})
afterAll(() => p.dispose())

const env = { env: { SOPS_AGE_KEY_FILE: "k1.agekey" } }
const recipients = (text: string) => [...text.matchAll(/recipient: (age1\S+)/g)].map((m) => m[1])
const copies = (...names: Array<string>) => {
  for (const n of names) p.write(n, p.read("orig.yaml"))
}

describe("kustodian updatekeys", { timeout: 180_000 }, () => {
  it("prints sops' summary and gives the file the recipients sops gives it", () => {
    copies("ours.yaml", "theirs.yaml")
    const ours = p.kustodian(["updatekeys", "-y", "ours.yaml"], env)
    const theirs = p.sops(["updatekeys", "-y", "theirs.yaml"], env)
    expect([ours.code, theirs.code], ours.stderr).toEqual([0, 0])
    expect(ours.stdout).toBe(theirs.stdout)
    expect(ours.stdout).toBe(
      `The following changes will be made to the file's groups:\nGroup 1\n    ${k1.recipient}\n+++ ${k2.recipient}\n`,
    )
    expect(ours.stderr).toContain("File ")
    expect(ours.stderr).toContain("ours.yaml synced with new keys")
    expect(recipients(p.read("ours.yaml")).sort()).toEqual(recipients(p.read("theirs.yaml")).sort())
    expect(p.sops(["decrypt", "ours.yaml"], { env: { SOPS_AGE_KEY_FILE: k2.file } }).stdout).toBe(plain)
    // up to date now: nothing printed on stdout, the file untouched
    const before = p.read("ours.yaml")
    const again = p.kustodian(["updatekeys", "-y", "ours.yaml"], env)
    expect([again.code, again.stdout]).toEqual([0, ""])
    expect(again.stderr).toContain("already up to date")
    expect(p.read("ours.yaml")).toBe(before)
  })

  it("without -y: refuses when stdin gives no answer, as sops does; takes y or n from stdin", () => {
    copies("ours.yaml", "theirs.yaml")
    const ours = p.kustodian(["updatekeys", "ours.yaml"], env)
    const theirs = p.sops(["updatekeys", "theirs.yaml"], env)
    expect(ours.code).toBe(theirs.code)
    expect(ours.code).toBe(1)
    expect(ours.stdout).toBe(theirs.stdout)
    expect(ours.stderr).toContain("pass -y")
    expect(p.read("ours.yaml")).toBe(p.read("orig.yaml"))
    const no = p.kustodian(["updatekeys", "ours.yaml"], { ...env, input: "maybe\nn\n" })
    expect(no.code).toBe(0)
    expect(no.stdout.match(/Is this okay\? \(y\/n\):/g)).toHaveLength(2)
    expect(p.read("ours.yaml")).toBe(p.read("orig.yaml"))
    const yes = p.kustodian(["updatekeys", "ours.yaml"], { ...env, input: "y\n" })
    expect(yes.code, yes.stderr).toBe(0)
    expect(recipients(p.read("ours.yaml"))).toHaveLength(2)
  })

  it("key groups with Shamir: the same summary and groups as sops", () => {
    const config = `creation_rules:\n  - path_regex: \\.yaml$\n    shamir_threshold: 2\n    key_groups:\n      - age: [${k1.recipient}]\n      - age: [${k3.recipient}]\n`
    p.write("groups.sops.yaml", config)
    copies("ours.yaml", "theirs.yaml")
    const args = (f: string) => ["updatekeys", "--config", "groups.sops.yaml", "-y", f]
    const ours = p.kustodian(args("ours.yaml"), env)
    const theirs = p.sops(["--config", "groups.sops.yaml", "updatekeys", "-y", "theirs.yaml"], env)
    expect([ours.code, theirs.code], ours.stderr).toEqual([0, 0])
    expect(ours.stdout).toBe(theirs.stdout)
    const groups = (t: string) =>
      t
        .split("key_groups:")[1]!
        .split("lastmodified")[0]!
        .replace(/enc: \|[\s\S]*?END AGE ENCRYPTED FILE-----/g, "")
    expect(groups(p.read("ours.yaml"))).toBe(groups(p.read("theirs.yaml")))
    expect(p.read("ours.yaml")).toContain("shamir_threshold: 2")
    // both shares needed: k1 and k3 together decrypt
    const keys = p.write("both.agekey", `${k1.identity}\n${k3.identity}\n`)
    expect(p.sops(["decrypt", "ours.yaml"], { env: { SOPS_AGE_KEY_FILE: keys } }).stdout).toBe(plain)
  })

  it("several files: a failing one does not stop the rest, exit code 1 as sops", () => {
    copies("a.yaml", "b.yaml", "c.yaml", "d.yaml")
    const ours = p.kustodian(["updatekeys", "-y", "a.yaml", "missing.yaml", "b.yaml"], env)
    const theirs = p.sops(["updatekeys", "-y", "c.yaml", "missing.yaml", "d.yaml"], env)
    expect(ours.code).toBe(theirs.code)
    expect(ours.code).toBe(1)
    expect(ours.stderr).toContain("failed updating 1 key(s)")
    for (const f of ["a.yaml", "b.yaml"]) expect(recipients(p.read(f))).toHaveLength(2)
    expect(p.kustodian(["updatekeys", "-y"], env).code).toBe(p.sops(["updatekeys", "-y"], env).code)
  })

  it.skipIf(!existsSync("/usr/bin/script"))("colours and a progress bar only on a terminal", () => {
    copies("e.yaml", "f.yaml")
    const bin = resolve(import.meta.dirname, "../../bin/kustodian.ts")
    const r = spawnSync(
      "script",
      ["-qec", `'${process.execPath}' '${bin}' updatekeys -y e.yaml f.yaml`, "/dev/null"],
      {
        cwd: p.dir,
        env: { ...p.env, SOPS_AGE_KEY_FILE: k1.file, TERM: "xterm" },
        encoding: "utf8",
      },
    )
    expect(r.status, r.stdout).toBe(0)
    expect(r.stdout).toContain(`\u001b[32m+++ ${k2.recipient}\u001b[0m`)
    expect(r.stdout).toContain("\u001b[4mGroup 1\u001b[0m")
    expect(r.stdout).toContain("] 2/2 f.yaml")
    expect(r.stdout).not.toContain("Syncing keys")
    const plainRun = p.kustodian(["updatekeys", "-y", "orig.yaml"], { env: { ...env.env, NO_COLOR: "1" } })
    expect(plainRun.stdout).not.toContain("\u001b[")
    p.write("orig.yaml", p.sops(["encrypt", "--age", k1.recipient, "plain.yaml"]).stdout)
  })
})
