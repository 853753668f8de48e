import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { hasTool, ToolMissingError, toolPath, toolsCacheDir, toolVersions } from "./tools.ts"

describe("toolPath", () => {
  const saved = process.env.XDG_CACHE_HOME
  afterEach(() => {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME
    else process.env.XDG_CACHE_HOME = saved
  })

  it("finds Debian tools on PATH or in sbin", () => {
    expect(toolPath("git")).toMatch(/\/git$/)
    expect(toolPath("sshd")).toMatch(/\/sshd$/)
    expect(hasTool("age-keygen")).toBe(true)
  })

  it("reads the pinned versions from scripts/tools/versions.env", () => {
    const v = toolVersions()
    expect(v.KUBERNETES_VERSION).toMatch(/^v1\.\d+\.\d+$/)
    expect(v.ETCD_VERSION).toMatch(/^v3\.\d+\.\d+$/)
  })

  it("tells the reader to run scripts/tools.sh when a built tool is missing", () => {
    const empty = mkdtempSync(join(tmpdir(), "kustodian-empty-cache-"))
    try {
      process.env.XDG_CACHE_HOME = empty
      expect(toolsCacheDir()).toBe(join(empty, "kustodian", "tools"))
      let error: unknown
      try {
        toolPath("kustomize")
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(ToolMissingError)
      expect((error as ToolMissingError).message).toContain("scripts/tools.sh")
      expect((error as ToolMissingError).message).toContain(`kustomize-${toolVersions().KUSTOMIZE_VERSION}`)
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })
})
