import { spawn } from "node:child_process"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname } from "node:path"
import { describe, expect, it } from "vitest"
import { isRunning } from "../support/process.ts"
import { startCluster } from "./index.ts"
import { httpsStatus, localProvider } from "./local.ts"

/** Pids of every process whose command line mentions `needle` (catches children, not only the group leaders). */
const processesMentioning = (needle: string): Array<number> =>
  readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(needle)
      } catch {
        return false
      }
    })
    .map(Number)

const waitUntil = async (f: () => boolean, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs
  while (!f()) {
    if (Date.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 100))
  }
  return true
}

describe("local control plane lifecycle", () => {
  it("leaves no process and no state behind after stop", async () => {
    const { cluster, stop } = await startCluster({}, localProvider)
    const dir = dirname(cluster.kubeconfigPath)
    const ca = readFileSync(`${dir}/certs/ca.crt`, "utf8")
    expect(await httpsStatus(`${cluster.server}/readyz`, ca)).toBe(200)
    // etcd, kube-apiserver and the reaper that guards them.
    expect(cluster.pids.length).toBe(3)
    expect(processesMentioning(dir).length).toBeGreaterThanOrEqual(2)
    await stop()
    expect(cluster.pids.filter((p) => isRunning(p))).toEqual([])
    expect(processesMentioning(dir)).toEqual([])
    expect(existsSync(dir)).toBe(false)
  }, 180_000)

  it("is stopped by its reaper when the owning process is SIGKILLed", async () => {
    const owner = spawn("sleep", ["600"], { stdio: "ignore" })
    const { cluster, stop } = await startCluster({ ownerPid: owner.pid! }, localProvider)
    try {
      const dir = dirname(cluster.kubeconfigPath)
      owner.kill("SIGKILL")
      // The reaper polls once a second, then TERM, 3 s grace, KILL.
      expect(await waitUntil(() => processesMentioning(dir).length === 0, 20_000)).toBe(true)
    } finally {
      await stop()
    }
  }, 180_000)
})
