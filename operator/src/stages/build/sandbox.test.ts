/**
 * The second fence on its own: the real kustomize under the real `kustodian-sandbox`, given kustomizations the
 * resolver would refuse, so that only the kernel stands between kustomize and what they name.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { hasTool, toolPath } from "../../../../e2e/support/tools.ts"
import { defaultLimits } from "../../limits.ts"
import { Kustomize } from "./kustomize.ts"
import { findSandbox } from "./sandbox.ts"

const ready = hasTool("kustomize") && hasTool("kustodian-sandbox")

describe.skipIf(!ready)("kustomize under the Landlock sandbox (real kustomize, real kernel)", () => {
  let work: string
  let outside: string
  let server: http.Server
  let port = 0
  let hits = 0

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "kustodian-sandbox-test-"))
    // A file outside the view that a hostile kustomization names: it must never be readable.
    outside = path.join(work, "outside-token")
    fs.writeFileSync(outside, "canary-token-5f1d")
    server = http.createServer((_req, res) => {
      hits++
      res.end("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-canary}\n")
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    port = (server.address() as AddressInfo).port
  })
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve))
    fs.rmSync(work, { recursive: true, force: true })
  })

  const build = (name: string, kustomization: string, remoteBases = false) =>
    Effect.gen(function* () {
      const sandbox = yield* findSandbox("required", toolPath("kustodian-sandbox"))
      const kustomize = Kustomize.make(
        { binary: toolPath("kustomize"), remoteBases, maxOutputSize: defaultLimits.maxBuildOutputSize },
        sandbox,
      )
      const view = path.join(work, name, "view")
      const home = path.join(work, name, "home")
      fs.mkdirSync(view, { recursive: true })
      fs.mkdirSync(home, { recursive: true })
      fs.writeFileSync(path.join(view, "kustomization.yaml"), kustomization)
      fs.writeFileSync(
        path.join(view, "cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: inside}\n",
      )
      return yield* kustomize.build({ dir: view, view, home })
    }).pipe(Effect.runPromiseExit)

  const message = (exit: Exit.Exit<unknown, { message: string }>) =>
    Exit.isFailure(exit) ? String(exit.cause) : "succeeded"

  it("builds what is inside the view", async () => {
    const exit = await build("inside", "resources: [cm.yaml]\n")
    expect(Exit.isSuccess(exit) && exit.value.map((o) => o.metadata.name)).toEqual(["inside"])
  })

  it("a generator file outside the view is refused by the kernel, not read", async () => {
    const exit = await build("generator", `configMapGenerator:\n- name: leak\n  files: [t=${outside}]\n`)
    expect(Exit.isFailure(exit)).toBe(true)
    expect(message(exit)).toContain("permission denied")
    expect(message(exit)).not.toContain("canary-token-5f1d")
  })

  it("a builtin PatchTransformer reading a file of another directory is refused", async () => {
    const exit = await build(
      "transformer",
      [
        "resources: [cm.yaml]",
        "transformers:",
        "- |-",
        "  apiVersion: builtin",
        "  kind: PatchTransformer",
        "  metadata: {name: p}",
        `  path: ${outside}`,
        "",
      ].join("\n"),
    )
    expect(message(exit)).toContain("permission denied")
  })

  it("the ServiceAccount token path and the host's files are out of reach", async () => {
    const exit = await build("passwd", "configMapGenerator:\n- name: leak\n  files: [p=/etc/passwd]\n")
    expect(message(exit)).toContain("permission denied")
  })

  it("without remote bases no TCP connection leaves the sandbox: the canary server is never hit", async () => {
    const before = hits
    const exit = await build(
      "network",
      `configMapGenerator:\n- name: leak\n  files: [m=http://127.0.0.1:${port}/meta]\nresources:\n- http://127.0.0.1:${port}/r.yaml\n`,
    )
    expect(Exit.isFailure(exit)).toBe(true)
    expect(hits).toBe(before)
  })

  it("with remote bases only the remote-base ports are open: a loopback canary on another port is not hit", async () => {
    const before = hits
    const exit = await build("network-remote", `resources:\n- http://127.0.0.1:${port}/r.yaml\n`, true)
    expect(Exit.isFailure(exit)).toBe(true)
    expect(message(exit)).toContain("permission denied")
    expect(hits).toBe(before)
  })
})
