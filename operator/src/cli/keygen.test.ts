/**
 * `kustodian keygen age|pgp` with the real tools as peers: age-keygen's output format line by line, the real
 * `age` and sops encrypting to and decrypting with the key; for pgp the real gpg importing the private and the
 * public key with the seed's parameters (RSA-4096, encryption subkey, no expiry, no passphrase) and sops
 * encrypting to the fingerprint and decrypting through gpg.
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { toolPath } from "../../../e2e/support/tools.ts"
import { gnupgHome, gpg } from "../sops/testing/gpg.ts"
import { runKustodian } from "./testing/kustodian-process.ts"

const scratch = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "kkeygen-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true })),
)

const plainSecret =
  "apiVersion: v1\nkind: Secret\nmetadata:\n  name: basic-auth\nstringData:\n  password: change-me\n"

const sops = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, cwd: string) =>
  execFileSync(toolPath("sops"), [...args], {
    cwd,
    env: { PATH: process.env.PATH, ...env },
    encoding: "utf8",
  })

describe("keygen age", () => {
  it.effect("writes age-keygen's format to a new 0600 file and the public key on stderr", () =>
    Effect.gen(function* () {
      const dir = yield* scratch
      const theirs = join(dir, "theirs.agekey")
      const theirsRun = execFileSync(toolPath("age-keygen"), ["-o", theirs], {
        encoding: "utf8",
        stdio: "pipe",
      })
      expect(theirsRun).toBe("")
      const ours = join(dir, "age.agekey")
      const r = runKustodian(["keygen", "age", "-o", ours])
      expect(r.code).toBe(0)
      expect(r.stdout).toBe("")
      // same shape, line by line: created stamp (RFC 3339), public key comment, identity
      const shape = (text: string) =>
        text
          .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)/, "<time>")
          .replace(/age1[0-9a-z]{58}/, "<recipient>")
          .replace(/AGE-SECRET-KEY-1[0-9A-Z]{58}/, "<identity>")
      const text = readFileSync(ours, "utf8")
      expect(shape(text)).toBe(shape(readFileSync(theirs, "utf8")))
      expect(shape(text)).toBe("# created: <time>\n# public key: <recipient>\n<identity>\n")
      expect(statSync(ours).mode & 0o777).toBe(statSync(theirs).mode & 0o777)
      expect(statSync(ours).mode & 0o777).toBe(0o600)
      const recipient = /# public key: (age1\S+)/.exec(text)![1]!
      expect(r.stderr).toBe(`Public key: ${recipient}\n`)
      // age-keygen -y derives the same recipient from our identity
      expect(execFileSync(toolPath("age-keygen"), ["-y", ours], { encoding: "utf8" })).toBe(`${recipient}\n`)

      // the real age encrypts to the recipient and decrypts with the file
      const box = execFileSync(toolPath("age"), ["-r", recipient, "-a"], { input: "hello" })
      expect(execFileSync(toolPath("age"), ["-d", "-i", ours], { input: box, encoding: "utf8" })).toBe(
        "hello",
      )

      // sops: --age to the recipient, decrypt with SOPS_AGE_KEY_FILE
      writeFileSync(join(dir, "basic-auth.yaml"), plainSecret)
      const encrypted = sops(["--encrypt", "--age", recipient, "basic-auth.yaml"], {}, dir)
      expect(encrypted).toContain("ENC[AES256_GCM,")
      writeFileSync(join(dir, "enc.yaml"), encrypted)
      expect(sops(["--decrypt", "enc.yaml"], { SOPS_AGE_KEY_FILE: ours }, dir)).toContain(
        "password: change-me",
      )
    }).pipe(Effect.scoped),
  )

  it.effect("never overwrites a file (as age-keygen), and prints the key on stdout without -o", () =>
    Effect.gen(function* () {
      const dir = yield* scratch
      const file = join(dir, "keys.txt")
      writeFileSync(file, "precious\n")
      const r = runKustodian(["keygen", "age", "-o", file])
      expect(r.code).toBe(3)
      expect(r.stderr).toMatch(/^kustodian: cannot write .*keys\.txt: file exists/)
      expect(readFileSync(file, "utf8")).toBe("precious\n")
      const out = runKustodian(["keygen", "age"])
      expect(out.code).toBe(0)
      expect(out.stdout).toMatch(/^# created: .*\n# public key: age1\S+\nAGE-SECRET-KEY-1[0-9A-Z]+\n$/)
      // stdout is a pipe here, not a terminal: age-keygen then prints the public key on stderr too
      expect(out.stderr).toBe(`Public key: ${/# public key: (\S+)/.exec(out.stdout)![1]}\n`)
    }).pipe(Effect.scoped),
  )

  it("usage mistakes: one line and a hint, exit 2; --help exit 0", () => {
    expect(runKustodian(["keygen", "age", "--pq"])).toMatchObject({
      code: 2,
      stderr: "kustodian keygen: unknown flag --pq\nsee: kustodian keygen --help\n",
    })
    expect(runKustodian(["keygen", "rsa"]).code).toBe(2)
    expect(runKustodian(["keygen", "pgp"])).toMatchObject({ code: 2 })
    expect(runKustodian(["keygen", "age", "--name", "x"]).code).toBe(2)
    for (const args of [
      ["keygen", "--help"],
      ["help", "keygen"],
      ["keygen", "pgp", "-h"],
    ]) {
      const help = runKustodian(args)
      expect(help.code).toBe(0)
      expect(help.stdout).toMatch(/^kustodian keygen age/)
    }
  })
})

describe("keygen pgp", () => {
  it.effect(
    "the seed's key: gpg imports both halves, RSA-4096 + encryption subkey, no expiry, no passphrase; sops uses it",
    () =>
      Effect.gen(function* () {
        const dir = yield* scratch
        const priv = join(dir, "private.asc")
        const pub = join(dir, ".sops.pub.asc")
        const r = runKustodian([
          "keygen",
          "pgp",
          "--name",
          "cluster0.yourdomain.com",
          "--comment",
          "flux secrets",
          "-o",
          priv,
          "--public",
          pub,
        ])
        expect(r.code).toBe(0)
        expect(r.stdout).toBe("")
        const fingerprint = /^Fingerprint: ([0-9A-F]{40})\n$/.exec(r.stderr)?.[1]
        expect(fingerprint).toBeDefined()
        expect(statSync(priv).mode & 0o777).toBe(0o600)
        expect(readFileSync(priv, "utf8")).toMatch(/^-----BEGIN PGP PRIVATE KEY BLOCK-----/)
        expect(readFileSync(pub, "utf8")).toMatch(/^-----BEGIN PGP PUBLIC KEY BLOCK-----/)

        // the public key alone, into a keyring of its own: what a team member imports from .sops.pub.asc
        const publicHome = yield* gnupgHome([readFileSync(pub, "utf8")])
        const listed = gpg(publicHome, ["--with-colons", "--list-keys"])
        const pubLine = listed
          .split("\n")
          .find((l) => l.startsWith("pub:"))!
          .split(":")
        const subLine = listed
          .split("\n")
          .find((l) => l.startsWith("sub:"))!
          .split(":")
        // field 3 length, 4 algorithm (1 = RSA), 7 expiry (empty: never), 12 capabilities
        expect([pubLine[2], pubLine[3], pubLine[6]]).toEqual(["4096", "1", ""])
        expect(pubLine[11]).toMatch(/[sS]/)
        expect(pubLine[11]).toMatch(/[cC]/)
        expect([subLine[2], subLine[3], subLine[6], subLine[11]]).toEqual(["4096", "1", "", "e"])
        const fpr = listed
          .split("\n")
          .find((l) => l.startsWith("fpr:"))!
          .split(":")[9]
        expect(fpr).toBe(fingerprint)
        expect(listed).toContain("cluster0.yourdomain.com (flux secrets)")

        // the private key: gpg imports it without asking for a passphrase
        const home = yield* gnupgHome([readFileSync(priv, "utf8")])
        const secret = gpg(home, ["--with-colons", "--list-secret-keys"])
        expect(secret).toContain(`fpr:::::::::${fingerprint}:`)
        writeFileSync(join(dir, "basic-auth.yaml"), plainSecret)
        const encrypted = sops(
          ["--encrypt", "--pgp", fingerprint!, "--encrypted-regex", "^(data|stringData)$", "basic-auth.yaml"],
          { GNUPGHOME: publicHome },
          dir,
        )
        expect(encrypted).toContain(`fp: ${fingerprint}`)
        writeFileSync(join(dir, "enc.yaml"), encrypted)
        // decryption needs no pinentry: --batch gpg would fail on a protected key
        expect(sops(["--decrypt", "enc.yaml"], { GNUPGHOME: home }, dir)).toContain("password: change-me")
      }).pipe(Effect.scoped),
    120_000,
  )

  it.effect("refuses to overwrite either file, and writes no private key when the public one fails", () =>
    Effect.gen(function* () {
      const dir = yield* scratch
      const pub = join(dir, "pub.asc")
      writeFileSync(pub, "keep\n")
      const r = runKustodian(["keygen", "pgp", "--name", "x", "-o", join(dir, "priv.asc"), "--public", pub])
      expect(r.code).toBe(3)
      expect(readFileSync(pub, "utf8")).toBe("keep\n")
      expect(existsSync(join(dir, "priv.asc"))).toBe(false)
    }).pipe(Effect.scoped),
  )
})
