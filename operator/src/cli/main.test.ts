/**
 * The `kustodian` executable end to end (real process, real files, real gpg when available).
 */
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { generateIdentity, identityToRecipient } from "age-encryption"
import { Effect } from "effect"
import { fixtureText, haveFixtures } from "../sops/testing/fixtures.ts"
import { gnupgHome } from "../sops/testing/gpg.ts"

const bin = resolve(import.meta.dirname, "../../bin/kustodian.ts")
const root = mkdtempSync(join(tmpdir(), "kcli-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const baseEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: join(root, "home"),
    XDG_CONFIG_HOME: join(root, "xdg"),
  }
  return env
}

const kustodian = (args: ReadonlyArray<string>, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) => {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: opts.cwd ?? root,
    env: opts.env ?? baseEnv(),
    encoding: "utf8",
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

const keys = async () => {
  const identity = await generateIdentity()
  return { identity, recipient: await identityToRecipient(identity) }
}

// every case starts several real `kustodian` processes (~1–3 s each on a loaded 2-core machine)
describe("kustodian CLI", { timeout: 240_000 }, () => {
  it("--version, -v and version print the package's version", () => {
    const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, "../../../package.json"), "utf8")) as {
      version: string
    }
    for (const flag of ["--version", "-v", "version"]) {
      const r = kustodian([flag])
      expect(r.code).toBe(0)
      expect(r.stdout).toBe(`kustodian ${pkg.version}\n`)
    }
  })

  it("controller: --help prints the flags; a bad flag is one line and exit code 2, not a stack trace", () => {
    const help = kustodian(["controller", "--help"])
    expect(help.code, help.stderr).toBe(0)
    expect(help.stdout).toContain("--watch-label-selector SELECTOR")
    const bogus = kustodian(["controller", "--bogus"])
    expect(bogus.code).toBe(2)
    expect(bogus.stderr).toBe(
      "kustodian controller: Unknown option '--bogus'\nsee: kustodian controller --help\n",
    )
    const bad = kustodian(["controller", "--concurrent=x"])
    expect(bad.code).toBe(2)
    expect(bad.stderr.split("\n")[0]).toBe("kustodian controller: --concurrent: expected a positive integer")
  })

  it("encrypts with --age and decrypts with SOPS_AGE_KEY_FILE, SOPS_AGE_KEY and the default keys file", async () => {
    const { identity, recipient } = await keys()
    const dir = mkdtempSync(join(root, "a-"))
    writeFileSync(join(dir, "s.yaml"), "user: admin\npassword: hunter2\nport_unencrypted: 8080\n")
    const enc = kustodian(["encrypt", "--age", recipient, "s.yaml"], { cwd: dir })
    expect(enc.code, enc.stderr).toBe(0)
    expect(enc.stdout).not.toContain("hunter2")
    expect(enc.stdout).toContain("port_unencrypted: 8080")
    writeFileSync(join(dir, "s.enc.yaml"), enc.stdout)
    writeFileSync(join(dir, "keys.txt"), `# created: now\n# public key: ${recipient}\n${identity}\n`)
    const viaFile = kustodian(["decrypt", "s.enc.yaml"], {
      cwd: dir,
      env: { ...baseEnv(), SOPS_AGE_KEY_FILE: join(dir, "keys.txt") },
    })
    expect(viaFile.code, viaFile.stderr).toBe(0)
    expect(viaFile.stdout).toBe("user: admin\npassword: hunter2\nport_unencrypted: 8080\n")
    const viaEnv = kustodian(["decrypt", "s.enc.yaml"], {
      cwd: dir,
      env: { ...baseEnv(), SOPS_AGE_KEY: identity },
    })
    expect(viaEnv.stdout).toBe(viaFile.stdout)
    mkdirSync(join(root, "xdg", "sops", "age"), { recursive: true })
    writeFileSync(join(root, "xdg", "sops", "age", "keys.txt"), `${identity}\n`)
    const viaDefault = kustodian(["decrypt", "--output-type", "json", "s.enc.yaml"], { cwd: dir })
    expect(viaDefault.code, viaDefault.stderr).toBe(0)
    expect(JSON.parse(viaDefault.stdout)).toEqual({
      user: "admin",
      password: "hunter2",
      port_unencrypted: 8080,
    })
    rmSync(join(root, "xdg"), { recursive: true })
  })

  it("follows .sops.yaml creation rules and edits in place", async () => {
    const { identity, recipient } = await keys()
    const repo = mkdtempSync(join(root, "repo-"))
    mkdirSync(join(repo, "apps", "prod"), { recursive: true })
    writeFileSync(
      join(repo, ".sops.yaml"),
      `creation_rules:\n  - path_regex: ^apps/prod/.*\\.yaml$\n    age: ${recipient}\n    encrypted_regex: ^(data|stringData)$\n`,
    )
    const file = join(repo, "apps", "prod", "secret.yaml")
    const plain = "kind: Secret\nmetadata:\n    name: db\nstringData:\n    password: hunter2\n"
    writeFileSync(file, plain)
    const enc = kustodian(["encrypt", "-i", "apps/prod/secret.yaml"], { cwd: repo })
    expect(enc.code, enc.stderr).toBe(0)
    const stored = readFileSync(file, "utf8")
    expect(stored).toContain("name: db")
    expect(stored).toContain("encrypted_regex: ^(data|stringData)$")
    expect(stored).not.toContain("hunter2")
    // already encrypted → sops' exit code 203
    expect(kustodian(["encrypt", "-i", "apps/prod/secret.yaml"], { cwd: repo }).code).toBe(203)
    // no rule matches → one clear line
    writeFileSync(join(repo, "other.yaml"), "a: b\n")
    const nomatch = kustodian(["encrypt", "other.yaml"], { cwd: repo })
    expect(nomatch.code).toBe(61)
    expect(nomatch.stderr.trim().split("\n")).toHaveLength(1)
    expect(nomatch.stderr).toContain("no matching creation rules")
    const dec = kustodian(["decrypt", "-i", "apps/prod/secret.yaml"], {
      cwd: repo,
      env: { ...baseEnv(), SOPS_AGE_KEY: identity },
    })
    expect(dec.code, dec.stderr).toBe(0)
    expect(readFileSync(file, "utf8")).toBe(plain)
  })

  it("fails with one line and sops' exit codes: wrong key 128, tampered MAC 51 unless --ignore-mac, missing file 2", async () => {
    const a = await keys()
    const b = await keys()
    const dir = mkdtempSync(join(root, "f-"))
    writeFileSync(join(dir, "s.json"), '{"password": "hunter2", "n": 1}')
    const enc = kustodian(["encrypt", "--age", a.recipient, "s.json"], { cwd: dir })
    writeFileSync(join(dir, "e.json"), enc.stdout)
    const wrong = kustodian(["decrypt", "e.json"], {
      cwd: dir,
      env: { ...baseEnv(), SOPS_AGE_KEY: b.identity },
    })
    expect(wrong.code).toBe(128)
    expect(wrong.stderr.trim().split("\n")).toHaveLength(1)
    expect(wrong.stderr).toContain("e.json")
    expect(wrong.stderr).toContain(a.recipient)
    // a value moved to another key fails authentication (its AAD is the key path)
    const doc = JSON.parse(enc.stdout)
    doc.n = doc.password
    writeFileSync(join(dir, "t.json"), JSON.stringify(doc))
    const tampered = kustodian(["decrypt", "t.json"], {
      cwd: dir,
      env: { ...baseEnv(), SOPS_AGE_KEY: a.identity },
    })
    expect(tampered.code, tampered.stderr).toBe(25)
    expect(tampered.stderr).not.toContain("hunter2")
    const mac = JSON.parse(enc.stdout)
    mac.sops.lastmodified = "2020-01-01T00:00:00Z"
    writeFileSync(join(dir, "m.json"), JSON.stringify(mac))
    const bad = kustodian(["decrypt", "m.json"], {
      cwd: dir,
      env: { ...baseEnv(), SOPS_AGE_KEY: a.identity },
    })
    expect(bad.code).toBe(51)
    expect(bad.stderr).toContain("MAC")
    const ignored = kustodian(["decrypt", "--ignore-mac", "m.json"], {
      cwd: dir,
      env: { ...baseEnv(), SOPS_AGE_KEY: a.identity },
    })
    expect(ignored.code).toBe(0)
    expect(JSON.parse(ignored.stdout)).toEqual({ password: "hunter2", n: 1 })
    expect(kustodian(["decrypt", "missing.json"], { cwd: dir }).code).toBe(2)
    expect(kustodian(["encrypt", "s.json"], { cwd: dir }).code).toBe(111)
    expect(kustodian(["bogus"]).code).toBe(1)
    const order = kustodian(["decrypt", "--decryption-order", "bogus", "e.json"], { cwd: dir })
    expect(order.code).toBe(1)
    expect(order.stderr).toContain("unknown key type in decryption order: bogus")
    const picked = kustodian(
      ["decrypt", "--decryption-order", "pgp,age", "--extract", '["password"]', "e.json"],
      {
        cwd: dir,
        env: { ...baseEnv(), SOPS_AGE_KEY: a.identity },
      },
    )
    expect(picked.code, picked.stderr).toBe(0)
    expect(picked.stdout).toBe("hunter2")
  })

  it("demo encrypts and decrypts a Secret and leaves no files behind", () => {
    const dir = mkdtempSync(join(root, "demo-"))
    const r = kustodian(["demo"], { cwd: dir, env: { ...baseEnv(), TMPDIR: dir } })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/password: ENC\[AES256_GCM,data:/)
    expect(r.stdout).toContain("password: correct-horse-battery-staple")
    expect(r.stdout).toContain("recipient: age1")
    expect(readdirSync(dir)).toEqual([])
  })

  it.effect.skipIf(!haveFixtures)(
    "encrypts to a PGP fingerprint and decrypts through gpg with GNUPGHOME",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const home = yield* gnupgHome([fixtureText("pgp/sops_functional_tests_key.asc")])
          const dir = mkdtempSync(join(root, "pgp-"))
          writeFileSync(join(dir, "s.env"), "PASSWORD=hunter2\n")
          const env = { ...baseEnv(), GNUPGHOME: home }
          const enc = kustodian(["encrypt", "--pgp", "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4", "s.env"], {
            cwd: dir,
            env,
          })
          expect(enc.code, enc.stderr).toBe(0)
          expect(enc.stdout).toContain("sops_pgp__list_0__map_fp=FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4")
          writeFileSync(join(dir, "e.env"), enc.stdout)
          const dec = kustodian(["decrypt", "e.env"], { cwd: dir, env })
          expect(dec.code, dec.stderr).toBe(0)
          expect(dec.stdout).toBe("PASSWORD=hunter2\n")
          const noGpg = kustodian(["decrypt", "e.env"], {
            cwd: dir,
            env: { ...env, SOPS_GPG_EXEC: "/nonexistent/gpg" },
          })
          expect(noGpg.code).toBe(128)
        }),
      ),
  )
})
