/**
 * `kustodian create secret sops-age|sops-gpg|sops-hcvault` against the real kubectl (`create secret generic
 * --dry-run=client -o yaml`, the seed's step) and gpg as peers: the same bytes for the seed's entry names, and
 * key files whose content or entry name Flux could not use refused in one line naming the file, never the content.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { toolPath } from "../../../e2e/support/tools.ts"
import { runKustodian } from "./testing/kustodian-process.ts"

const dir = mkdtempSync(join(tmpdir(), "kcsecret-"))
const gnupg = join(dir, "gnupg")
mkdirSync(gnupg, { mode: 0o700 })
afterAll(() => {
  try {
    execFileSync("gpgconf", ["--homedir", gnupg, "--kill", "all"], { stdio: "ignore" })
  } catch {
    // no agent was started
  }
  rmSync(dir, { recursive: true, force: true })
})

const kubectlSecret = (args: ReadonlyArray<string>) =>
  execFileSync(
    toolPath("kubectl"),
    ["create", "secret", "generic", ...args, "--dry-run=client", "-o", "yaml"],
    { encoding: "utf8", env: { PATH: process.env.PATH, HOME: dir } },
  )

const file = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

const ageKey = file("age.agekey", "")
execFileSync(toolPath("age-keygen"), ["-o", join(dir, "keys.txt")], { stdio: "ignore" })
writeFileSync(ageKey, readFileSync(join(dir, "keys.txt")))
const identityLine = readFileSync(ageKey, "utf8").split("\n")[2]!

/** A gpg key made by the real gpg with the seed's parameters, with and without a passphrase. */
const gpgKey = (name: string, protection: string) => {
  execFileSync(
    toolPath("gpg"),
    ["--homedir", gnupg, "--batch", "--pinentry-mode", "loopback", "--full-generate-key"],
    {
      input: `Key-Type: 1\n${protection}\nKey-Length: 2048\nSubkey-Type: 1\nSubkey-Length: 2048\nExpire-Date: 0\nName-Real: ${name}\n%commit\n`,
      stdio: ["pipe", "ignore", "ignore"],
      env: { PATH: process.env.PATH, GNUPGHOME: gnupg },
    },
  )
  const exp = (what: string) =>
    execFileSync(
      toolPath("gpg"),
      [
        "--homedir",
        gnupg,
        "--batch",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "pw",
        what,
        "--armor",
        name,
      ],
      {
        encoding: "utf8",
        env: { PATH: process.env.PATH, GNUPGHOME: gnupg },
      },
    )
  return { secret: exp("--export-secret-keys"), public: exp("--export") }
}

describe("create secret", () => {
  it("sops-age: what kubectl create secret generic --from-file=age.agekey=… prints", () => {
    const args = ["sops-age", "--namespace=flux-system", `--from-file=age.agekey=${ageKey}`]
    const ours = runKustodian(["create", "secret", "sops-age", ...args])
    expect(ours).toMatchObject({ code: 0, stderr: "" })
    expect(ours.stdout).toBe(kubectlSecret(args))
    // the file's name is the entry when it ends in .agekey; --entry names it otherwise
    expect(runKustodian(["create", "secret", "sops-age", "sops-age", `--from-file=${ageKey}`]).stdout).toBe(
      kubectlSecret(["sops-age", `--from-file=age.agekey=${ageKey}`, "-n", "flux-system"]),
    )
    const other = file("keys-copy.txt", readFileSync(ageKey, "utf8"))
    expect(
      runKustodian(["create", "secret", "sops-age", "sops-age", `--from-file=${other}`, "-n", "apps"]).stdout,
    ).toBe(kubectlSecret(["sops-age", `--from-file=age.agekey=${other}`, "-n", "apps"]))
    // stdin, as the seed's `cat age.agekey | kubectl … --from-file=age.agekey=/dev/stdin`
    const piped = runKustodian(["create", "secret", "sops-age", "sops-age", "--from-file=-"], {
      input: readFileSync(ageKey, "utf8"),
    })
    expect(piped.stdout).toBe(
      kubectlSecret(["sops-age", `--from-file=age.agekey=${ageKey}`, "-n", "flux-system"]),
    )
  })

  it("sops-gpg: entry sops.asc, a key without passphrase; refuses public and protected keys", () => {
    const seed = gpgKey("seed.example.com", "%no-protection")
    const secretFile = file("seed-secret.asc", seed.secret)
    const args = ["sops-gpg", "-n", "flux-system", `--from-file=sops.asc=${secretFile}`]
    const ours = runKustodian(["create", "secret", "sops-gpg", ...args])
    expect(ours).toMatchObject({ code: 0, stderr: "" })
    expect(ours.stdout).toBe(kubectlSecret(args))
    expect(
      runKustodian([
        "create",
        "secret",
        "sops-gpg",
        "sops-gpg",
        `--from-file=${file("key.gpg", seed.secret)}`,
      ]).stdout,
    ).toContain("  sops.asc: ")

    const publicFile = file("pub.asc", seed.public)
    const pub = runKustodian([
      "create",
      "secret",
      "sops-gpg",
      "sops-gpg",
      `--from-file=sops.asc=${publicFile}`,
    ])
    expect(pub.code).toBe(1)
    expect(pub.stderr).toMatch(/pub\.asc: .*public key; export the secret key/)

    const protectedKey = gpgKey("protected.example.com", "Passphrase: pw")
    const prot = runKustodian([
      "create",
      "secret",
      "sops-gpg",
      "sops-gpg",
      `--from-file=${file("prot.asc", protectedKey.secret)}`,
    ])
    expect(prot.code).toBe(1)
    expect(prot.stderr).toMatch(/prot\.asc: .*passphrase-protected/)
    expect(prot.stdout).toBe("")
  })

  it.each([
    [
      "an SSH private key",
      "id_ed25519",
      "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
      /SSH private key/,
    ],
    [
      "an SSH public key",
      "id.pub",
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKx secret-comment\n",
      /SSH public key/,
    ],
    [
      "an age public key",
      "recipient.txt",
      "age1mtduwcgqc5qea3hqgds7eqsrhj7r6w0nkvpj7trc2guc959gg5asdgrp9f\n",
      /age public key/,
    ],
    ["a PGP key", "pgp.txt", "-----BEGIN PGP PRIVATE KEY BLOCK-----\nxx\n", /not an age identity/],
  ])("sops-age refuses %s, naming the file, never its content", (_, name, content, reason) => {
    const path = file(name, content)
    const r = runKustodian([
      "create",
      "secret",
      "sops-age",
      "sops-age",
      "--entry=age.agekey",
      `--from-file=${path}`,
    ])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain(name)
    expect(r.stderr).toMatch(reason)
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1)
    for (const line of content.split("\n").filter((l) => l.length > 12)) expect(r.stderr).not.toContain(line)
  })

  it("refuses an entry name the decryptor would ignore, with Flux's hint", () => {
    for (const args of [
      ["--entry=age.key", `--from-file=${ageKey}`],
      [`--from-file=age.key=${ageKey}`],
      [`--from-file=keys.txt=${ageKey}`],
    ]) {
      const r = runKustodian(["create", "secret", "sops-age", "sops-age", ...args])
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/Flux reads only entries ending in \.agekey.*name it '(age|keys)\.agekey'/)
      expect(r.stderr).not.toContain(identityLine)
    }
    const gpgEntry = runKustodian([
      "create",
      "secret",
      "sops-gpg",
      "sops-gpg",
      `--from-file=sops.gpg=${ageKey}`,
    ])
    expect(gpgEntry.stderr).toMatch(/entries ending in \.asc.*name it 'sops\.asc'/)
    const twice = runKustodian([
      "create",
      "secret",
      "sops-age",
      "sops-age",
      `--from-file=${ageKey}`,
      `--from-file=${ageKey}`,
    ])
    expect(twice.code).toBe(2)
  })

  it("sops-hcvault: the token from a file or stdin as sops.vault-token, never echoed in errors", () => {
    const token = file("token", "hvs.CAESIJ-example-token\n")
    const ours = runKustodian(["create", "secret", "sops-hcvault", "sops-hcvault", "--token-file", token])
    expect(ours.code).toBe(0)
    expect(ours.stdout).toBe(
      kubectlSecret([
        "sops-hcvault",
        "-n",
        "flux-system",
        "--from-literal=sops.vault-token=hvs.CAESIJ-example-token",
      ]),
    )
    const piped = runKustodian(["create", "secret", "sops-hcvault", "sops-hcvault", "--token-file=-"], {
      input: "hvs.CAESIJ-example-token\n",
    })
    expect(piped.stdout).toBe(ours.stdout)
    const two = runKustodian([
      "create",
      "secret",
      "sops-hcvault",
      "vault",
      "--token-file",
      file("two", "hvs.one hvs.two\n"),
    ])
    expect(two.code).toBe(1)
    expect(two.stderr).not.toContain("hvs.one")
    expect(
      runKustodian(["create", "secret", "sops-hcvault", "vv", "--token-file", file("empty", "\n")]).stderr,
    ).toMatch(/empty/)
    expect(runKustodian(["create", "secret", "sops-hcvault", "vv", `--from-file=${token}`]).code).toBe(2)
  })

  it("usage: unknown types and flags exit 2 in one line; a missing file exits 2 (sops: file read); --help", () => {
    expect(runKustodian(["create", "secret", "generic", "x"]).code).toBe(2)
    expect(runKustodian(["create", "secret", "sops-age", "sops-age", "--from-literal=a=b"])).toMatchObject({
      code: 2,
      stderr: "kustodian create: unknown flag --from-literal\nsee: kustodian create secret --help\n",
    })
    expect(runKustodian(["create", "secret", "sops-age", "sops-age"]).stderr).toMatch(
      /--from-file is required/,
    )
    const missing = runKustodian([
      "create",
      "secret",
      "sops-age",
      "sops-age",
      "--from-file=/nonexistent/age.agekey",
    ])
    expect(missing).toMatchObject({
      code: 2,
      stderr: "kustodian: cannot read /nonexistent/age.agekey: ENOENT\n",
    })
    const help = runKustodian(["help", "create", "secret"])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^kustodian create secret sops-age/)
  })
})
