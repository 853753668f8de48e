/**
 * The shipped JavaScript is what runs in the image: build it the way the Dockerfile does and run a command that
 * exercises the SOPS engine end to end, from a directory outside the repository (no node_modules to lean on).
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { repoRoot } from "../e2e/support/tools.ts"

describe("the bundle (scripts/bundle.ts)", () => {
  const out = mkdtempSync(join(tmpdir(), "kustodian-bundle-"))
  afterAll(() => rmSync(out, { recursive: true, force: true }))

  it("builds ES modules with OpenPGP in a chunk of its own, and runs `kustodian demo` without node_modules", () => {
    execFileSync(process.execPath, [join(repoRoot, "scripts/bundle.ts"), "--outdir", join(out, "app")], {
      stdio: "pipe",
    })
    const files = readdirSync(join(out, "app"))
    expect(files).toContain("kustodian.mjs")
    // The worker is loaded by URL (workers/pool.ts): it must sit beside the chunks.
    expect(files).toContain("worker.mjs")
    // Loaded only when a PGP key is used: not part of the entry chunk.
    expect(files.some((f) => f.startsWith("openpgp-") && f.endsWith(".mjs"))).toBe(true)
    const text = execFileSync(process.execPath, [join(out, "app", "kustodian.mjs"), "demo"], {
      cwd: out,
      encoding: "utf8",
    })
    expect(text).toContain("kind: Secret")
    expect(text).toContain("password: correct-horse-battery-staple")
  }, 120_000)
})
