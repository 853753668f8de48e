/**
 * The single-file executable (`npm run build:sea`, scripts/sea.ts) on a machine without Node: built into a
 * temporary directory, then run with an empty environment (no PATH, so no node, sops or gpg to lean on) from
 * another directory: `--version`, `keygen age`, a decrypt of a file the real sops encrypted, and an
 * encrypt/decrypt round trip large enough to go through the worker pool (the worker embedded as a SEA asset).
 */
import { execFileSync, spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { hasTool, repoRoot, toolPath } from "../e2e/support/tools.ts"

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }
const work = mkdtempSync(join(tmpdir(), "kustodian-sea-"))
const exe = join(work, "dist", `kustodian-${process.platform}-${process.arch}`)
const cwd = join(work, "user")

beforeAll(() => {
  mkdirSync(join(work, "dist"))
  mkdirSync(cwd)
  execFileSync(process.execPath, [join(repoRoot, "scripts/sea.ts"), "--output", exe], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
  })
}, 300_000)
afterAll(() => rmSync(work, { recursive: true, force: true }))

/** The executable with nothing in its environment but what a step names. */
const kustodian = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) => {
  const r = spawnSync(exe, args, { cwd, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 })
  if (r.status !== 0) throw new Error(`kustodian ${args.join(" ")}: exit ${r.status}: ${r.stderr}`)
  return r
}

const secret = (password: string) =>
  `apiVersion: v1\nkind: Secret\nmetadata:\n    name: basic-auth\nstringData:\n    user: admin\n    password: ${password}\n`

describe("the single-file executable (scripts/sea.ts)", () => {
  it("is one file holding Node: --version and keygen age with an empty environment", () => {
    expect(statSync(exe).mode & 0o111).not.toBe(0)
    expect(kustodian(["--version"]).stdout).toBe(`kustodian ${pkg.version}\n`)
    const keygen = kustodian(["keygen", "age", "-o", "key.txt"])
    expect(keygen.stderr).toMatch(/^Public key: age1[0-9a-z]+\n$/)
    expect(statSync(join(cwd, "key.txt")).mode & 0o777).toBe(0o600)
  })

  it("decrypts what the real sops encrypted, and round-trips a file above the worker pool's inline limit", (ctx) => {
    const recipient = /^# public key: (age1[0-9a-z]+)$/m.exec(readFileSync(join(cwd, "key.txt"), "utf8"))?.[1]
    expect(recipient).toBeDefined()
    const keyEnv = { SOPS_AGE_KEY_FILE: join(cwd, "key.txt") }

    const large = secret("x".repeat(200_000))
    writeFileSync(join(cwd, "large.yaml"), large)
    const encrypted = kustodian(["encrypt", `--age=${recipient}`, "large.yaml"]).stdout
    expect(encrypted).not.toContain("xxxx")
    writeFileSync(join(cwd, "large.enc.yaml"), encrypted)
    expect(kustodian(["decrypt", "large.enc.yaml"], keyEnv).stdout).toBe(large)

    if (!hasTool("sops")) return ctx.skip("sops not built: run `bash scripts/tools.sh sops`")
    writeFileSync(join(cwd, "basic-auth.yaml"), secret("change-me"))
    const bySops = execFileSync(
      toolPath("sops"),
      ["encrypt", "--age", recipient!, "--encrypted-regex", "^(data|stringData)$", "basic-auth.yaml"],
      { cwd, env: { HOME: cwd }, encoding: "utf8" },
    )
    writeFileSync(join(cwd, "basic-auth.enc.yaml"), bySops)
    expect(kustodian(["decrypt", "basic-auth.enc.yaml"], keyEnv).stdout).toBe(secret("change-me"))
  }, 120_000)
})
