/**
 * The published package as a user gets it: `npm pack` (which builds the bundle through `prepack`), the tarball
 * installed into a project of its own with an empty npm cache and `--offline` (so nothing can come from a
 * registry: the package must have no dependencies), then `kustodian` run through its bin — the shebang finding
 * `node` on PATH — from another directory, under Node 24 and under Node 22 (the npm package node@22, built by
 * `bash scripts/tools.sh node22`): `--version`, `keygen age`, and an encrypt/decrypt round trip, one of them
 * large enough to go through the worker pool (`worker.mjs` beside the chunks).
 */
import { execFileSync, spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { hasTool, repoRoot, toolPath } from "../e2e/support/tools.ts"

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  name: string
  version: string
}
const work = mkdtempSync(join(tmpdir(), "kustodian-package-"))
const project = join(work, "project")
let tarball = ""

beforeAll(() => {
  mkdirSync(join(work, "packed"))
  // --ignore-scripts=false: prepack must run even where a user's npmrc turns scripts off.
  const out = execFileSync("npm", ["pack", "--pack-destination", join(work, "packed"), "--json"], {
    cwd: repoRoot,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, npm_config_ignore_scripts: "false" },
  })
  const [info] = JSON.parse(out.slice(out.indexOf("["))) as Array<{ filename: string }>
  tarball = join(work, "packed", info!.filename)
  mkdirSync(project)
  writeFileSync(join(project, "package.json"), '{"name":"user-project","private":true}\n')
  execFileSync(
    "npm",
    ["install", "--offline", "--cache", join(work, "empty-cache"), "--no-audit", "--no-fund", tarball],
    { cwd: project, stdio: ["ignore", "pipe", "pipe"] },
  )
}, 300_000)
afterAll(() => rmSync(work, { recursive: true, force: true }))

describe("the published package (npm pack)", () => {
  it("ships built JavaScript only, no dependencies, a node shebang, engines >= 22", () => {
    const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n")
    expect(files).toContain("package/dist/cli/kustodian.mjs")
    expect(files).toContain("package/dist/cli/worker.mjs")
    expect(files.filter((f) => f.endsWith(".ts") || f.endsWith(".map"))).toEqual([])
    expect(
      files.every(
        (f) => f === "package/package.json" || f === "package/README.md" || f.startsWith("package/dist/cli/"),
      ),
    ).toBe(true)
    const installed = JSON.parse(
      readFileSync(join(project, "node_modules/kustodian/package.json"), "utf8"),
    ) as {
      bin: Record<string, string>
      dependencies?: unknown
      engines: { node: string }
    }
    expect(installed.bin).toEqual({ kustodian: "dist/cli/kustodian.mjs" })
    expect(installed.dependencies).toBeUndefined()
    expect(installed.engines.node).toMatch(/^>=22/)
    const bin = readFileSync(join(project, "node_modules/kustodian/dist/cli/kustodian.mjs"), "utf8")
    expect(bin.startsWith("#!/usr/bin/env node\n")).toBe(true)
  })

  const runtimes = [
    { name: "Node 24", node: () => process.execPath, missing: () => undefined },
    {
      name: "Node 22",
      node: () => toolPath("node22"),
      missing: () =>
        hasTool("node22") ? undefined : "Node 22 not built: run `bash scripts/tools.sh node22`",
    },
  ]

  for (const runtime of runtimes)
    it(`under ${runtime.name}, from another directory: --version, keygen age, encrypt and decrypt`, (ctx) => {
      const reason = runtime.missing()
      if (reason !== undefined) return ctx.skip(reason)
      // PATH holds this Node as `node` (what the bin's shebang runs) and the system directories, nothing else.
      const dir = mkdtempSync(join(work, "run-"))
      mkdirSync(join(dir, "bin"))
      symlinkSync(runtime.node(), join(dir, "bin/node"))
      const env = { PATH: `${join(dir, "bin")}:/usr/bin:/bin`, HOME: dir }
      const kustodian = (args: ReadonlyArray<string>, extra: NodeJS.ProcessEnv = {}) => {
        const r = spawnSync(join(project, "node_modules/.bin/kustodian"), args, {
          cwd: dir,
          env: { ...env, ...extra },
          encoding: "utf8",
          maxBuffer: 64 * 1024 * 1024,
        })
        if (r.status !== 0) throw new Error(`kustodian ${args.join(" ")}: exit ${r.status}: ${r.stderr}`)
        return r
      }
      const engine = spawnSync("node", ["--version"], { env, encoding: "utf8" }).stdout.trim()
      expect(engine).toMatch(runtime.name === "Node 22" ? /^v22\./ : /^v24\./)

      expect(kustodian(["--version"]).stdout).toBe(`kustodian ${pkg.version}\n`)
      // `npx kustodian` in the project finds the installed bin (npx itself runs on the same Node).
      const npx = spawnSync("npx", ["--offline", "kustodian", "--version"], {
        cwd: project,
        env: { ...env, npm_config_cache: join(work, "empty-cache") },
        encoding: "utf8",
      })
      expect(npx.stdout).toBe(`kustodian ${pkg.version}\n`)
      const keygen = kustodian(["keygen", "age", "-o", "key.txt"])
      const recipient = /^Public key: (age1[0-9a-z]+)\n$/.exec(keygen.stderr)?.[1]
      expect(recipient).toBeDefined()
      expect(statSync(join(dir, "key.txt")).mode & 0o777).toBe(0o600)

      // A small file (parsed inline) and one above the worker pool's inline limit (parsed by worker.mjs).
      for (const [name, password] of [
        ["small.yaml", "change-me"],
        ["large.yaml", "x".repeat(200_000)],
      ] as const) {
        const plain = `apiVersion: v1\nkind: Secret\nmetadata:\n    name: basic-auth\nstringData:\n    user: admin\n    password: ${password}\n`
        writeFileSync(join(dir, name), plain)
        const encrypted = kustodian([
          "encrypt",
          `--age=${recipient}`,
          "--encrypted-regex=^(data|stringData)$",
          name,
        ])
        expect(encrypted.stdout).toContain("ENC[AES256_GCM,")
        expect(encrypted.stdout).not.toContain(password)
        writeFileSync(join(dir, `enc-${name}`), encrypted.stdout)
        const decrypted = kustodian(["decrypt", `enc-${name}`], { SOPS_AGE_KEY_FILE: join(dir, "key.txt") })
        expect(decrypted.stdout).toBe(plain)
      }
    }, 120_000)
})
