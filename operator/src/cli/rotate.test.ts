/**
 * `kustodian rotate` against the real sops 3.13: a new data key (every value's ciphertext changes, the
 * plaintext does not), the same recipients as `sops rotate` with the same --add-… and --rm-… flags, files that sops
 * decrypts with the remaining keys only, sops' exit codes, and several files with -i: plain lines, or a
 * progress bar on a terminal (through util-linux `script`, a real pty).
 */
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { makeGpgKey, tempGnupgHome } from "../sops/testing/peers.ts"
import { type AgeKey, type Peer, peer, valueLines } from "./testing/sops-peer.ts"

let p: Peer
let k1: AgeKey
let k2: AgeKey
const plain = "user: admin\npassword: hunter2\nlist:\n    - one\n"

beforeAll(() => {
  p = peer("krotate-")
  k1 = p.ageKey("k1")
  k2 = p.ageKey("k2")
  p.write("plain.yaml", plain)
  p.write("orig.yaml", p.sops(["encrypt", "--age", k1.recipient, "plain.yaml"]).stdout)
})
afterAll(() => p.dispose())

const env = (key: AgeKey) => ({ env: { SOPS_AGE_KEY_FILE: key.file } })
const recipients = (text: string) => [...text.matchAll(/recipient: (age1\S+)/g)].map((m) => m[1])

describe("kustodian rotate", { timeout: 180_000 }, () => {
  it("re-encrypts every value with a new data key; sops decrypts the result", () => {
    const r = p.kustodian(["rotate", "orig.yaml"], env(k1))
    expect(r.code, r.stderr).toBe(0)
    p.write("rotated.yaml", r.stdout)
    expect(p.sops(["decrypt", "rotated.yaml"], env(k1)).stdout).toBe(plain)
    const before = valueLines(p.read("orig.yaml"))
    const after = valueLines(r.stdout)
    for (const [i, line] of after.entries()) if (line.includes("ENC[")) expect(line).not.toBe(before[i])
    // a new data key: the age stanza changed too
    expect(r.stdout).not.toContain(
      p.read("orig.yaml").split("-----BEGIN AGE ENCRYPTED FILE-----")[1]!.slice(0, 80),
    )
  })

  it("--add-age/--rm-age give the recipients sops gives; only the new key decrypts", () => {
    const args = (f: string) => ["rotate", "--add-age", k2.recipient, "--rm-age", k1.recipient, f]
    const ours = p.kustodian(args("orig.yaml"), env(k1))
    const theirs = p.sops(args("orig.yaml"), env(k1))
    expect([ours.code, theirs.code], ours.stderr).toEqual([0, 0])
    expect(recipients(ours.stdout)).toEqual(recipients(theirs.stdout))
    expect(recipients(ours.stdout)).toEqual([k2.recipient])
    p.write("moved.yaml", ours.stdout)
    expect(p.sops(["decrypt", "moved.yaml"], env(k2)).stdout).toBe(plain)
    expect(p.sops(["decrypt", "moved.yaml"], env(k1)).code).toBe(128)
    // added next to the existing key
    const both = p.kustodian(["rotate", "--add-age", k2.recipient, "orig.yaml"], env(k1))
    expect(recipients(both.stdout)).toEqual(
      recipients(p.sops(["rotate", "--add-age", k2.recipient, "orig.yaml"], env(k1)).stdout),
    )
  })

  it("--add-pgp through gpg: sops decrypts the result with the OpenPGP key alone; --rm-pgp takes it out", () => {
    const gnupg = tempGnupgHome()
    try {
      const { fp } = makeGpgKey(gnupg.home, "rotate")
      const added = p.kustodian(["rotate", "--add-pgp", fp, "orig.yaml"], {
        env: { SOPS_AGE_KEY_FILE: k1.file, GNUPGHOME: gnupg.home },
      })
      expect(added.code, added.stderr).toBe(0)
      expect(added.stdout).toContain(`fp: ${fp}`)
      p.write("pgp.yaml", added.stdout)
      expect(p.sops(["decrypt", "pgp.yaml"], { env: { GNUPGHOME: gnupg.home } }).stdout).toBe(plain)
      const removed = p.kustodian(["rotate", "--rm-pgp", fp, "pgp.yaml"], { env: { GNUPGHOME: gnupg.home } })
      expect(removed.code, removed.stderr).toBe(0)
      expect(removed.stdout).not.toContain(fp)
      expect(recipients(removed.stdout)).toEqual([k1.recipient])
    } finally {
      gnupg.dispose()
    }
  })

  it("-i and --output write files; several files with -i are each rotated", () => {
    p.write("a.yaml", p.read("orig.yaml"))
    p.write("b.yaml", p.read("orig.yaml"))
    const r = p.kustodian(["rotate", "-i", "a.yaml", "b.yaml"], env(k1))
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toBe("File a.yaml rotated\nFile b.yaml rotated\n")
    for (const f of ["a.yaml", "b.yaml"]) {
      expect(p.read(f)).not.toBe(p.read("orig.yaml"))
      expect(p.sops(["decrypt", f], env(k1)).stdout).toBe(plain)
    }
    const out = p.kustodian(["rotate", "--output", "out.yaml", "orig.yaml"], env(k1))
    expect([out.code, out.stdout]).toEqual([0, ""])
    expect(p.sops(["decrypt", "out.yaml"], env(k1)).stdout).toBe(plain)
    // one bad file: the others are still rotated, exit code 1
    const some = p.kustodian(["rotate", "-i", "a.yaml", "missing.yaml", "b.yaml"], env(k1))
    expect(some.code).toBe(1)
    expect(some.stderr).toContain("File b.yaml rotated")
    expect(some.stderr).toContain("failed rotating 1 of 3 file(s)")
  })

  it.skipIf(!existsSync("/usr/bin/script"))("shows a progress bar on a terminal", () => {
    p.write("c.yaml", p.read("orig.yaml"))
    p.write("d.yaml", p.read("orig.yaml"))
    const bin = resolve(import.meta.dirname, "../../bin/kustodian.ts")
    const r = spawnSync(
      "script",
      ["-qec", `'${process.execPath}' '${bin}' rotate -i c.yaml d.yaml`, "/dev/null"],
      {
        cwd: p.dir,
        env: { ...p.env, SOPS_AGE_KEY_FILE: k1.file, TERM: "xterm" },
        encoding: "utf8",
      },
    )
    expect(r.status, r.stdout).toBe(0)
    expect(r.stdout).toContain("] 2/2 d.yaml")
    expect(r.stdout).toMatch(/\[#{30}\]/)
    expect(r.stdout).not.toContain("File c.yaml rotated")
    expect(p.sops(["decrypt", join(p.dir, "d.yaml")], env(k1)).stdout).toBe(plain)
  })

  it("fails with sops' exit codes", () => {
    const cases: Array<ReadonlyArray<string>> = [
      ["rotate"], // 100
      ["rotate", "-i", "--output", "x.yaml", "orig.yaml"], // 8
      ["rotate", "--add-age", k2.recipient, "missing.yaml"], // 49
      ["rotate", "--rm-age", k1.recipient, "orig.yaml"], // 1: empty key group
    ]
    for (const args of cases) {
      const ours = p.kustodian(args, env(k1))
      const theirs = p.sops(args, env(k1))
      expect(ours.code, `${args.join(" ")}: ${ours.stderr}`).toBe(theirs.code)
      expect(ours.code).not.toBe(0)
    }
    expect(p.kustodian(["rotate", "orig.yaml"], env(k2)).code).toBe(
      p.sops(["rotate", "orig.yaml"], env(k2)).code,
    )
    const usage = p.kustodian(["rotate", "a.yaml", "b.yaml"], env(k1))
    expect(usage.code).toBe(2)
    expect(usage.stderr).toBe(
      "kustodian rotate: several files need -i (each is rotated in place)\nsee: kustodian rotate --help\n",
    )
    expect(p.kustodian(["rotate", "--help"]).stdout).toContain("--add-age")
  })
})
