import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { isRunning } from "../support/process.ts"
import { repoRoot } from "../support/tools.ts"
import { httpsStatus, type LocalClusterState } from "./local.ts"

const stateDir = join(mkdtempSync(join(tmpdir(), "kustodian-cli-test-")), "cluster")

const cli = (command: "up" | "down"): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(repoRoot, "e2e/cluster/cli.ts"), command],
      { env: { ...process.env, KUSTODIAN_CLUSTER_STATE_DIR: stateDir }, timeout: 180_000 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : 1, stdout, stderr }),
    )
  })

describe("cluster:up / cluster:down", () => {
  afterAll(async () => {
    await cli("down")
    rmSync(join(stateDir, ".."), { recursive: true, force: true })
  })

  it("starts a control plane that outlives the command, twice-safe, and stops it, twice-safe", async () => {
    const first = await cli("up")
    expect(first.code, first.stderr).toBe(0)
    const kubeconfig = first.stdout.trim().split("\n").at(-1)
    expect(kubeconfig).toBe(join(stateDir, "kubeconfig"))
    const state = JSON.parse(readFileSync(join(stateDir, "state.json"), "utf8")) as LocalClusterState
    // The command has exited; its processes have not.
    expect(state.processes.every((p) => isRunning(p.pid, p.startTime))).toBe(true)
    const ca = readFileSync(join(stateDir, "certs/ca.crt"), "utf8")
    expect(await httpsStatus(`${state.server}/readyz`, ca)).toBe(200)

    const second = await cli("up")
    expect(second.code, second.stderr).toBe(0)
    expect(second.stderr).toContain("already running")
    expect(second.stdout.trim().split("\n").at(-1)).toBe(kubeconfig)

    expect((await cli("down")).code).toBe(0)
    expect(state.processes.filter((p) => isRunning(p.pid, p.startTime))).toEqual([])
    expect(existsSync(stateDir)).toBe(false)
    const again = await cli("down")
    expect(again.code).toBe(0)
    expect(again.stderr).toContain("no local cluster running")
  }, 300_000) // a control plane start and stop in child processes: minutes on a loaded 2-core machine
})
