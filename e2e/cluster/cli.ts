/**
 * `npm run cluster:up` / `npm run cluster:down`: a local control plane that outlives the command, for developing
 * against a real API server outside vitest. State (kubeconfig, certificates, etcd data, logs, pids) lives in
 * `.kustodian/cluster/`. `up` prints the kubeconfig path as its last line; both commands are safe to run twice.
 */
import { existsSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { isRunning, stopGroup } from "../support/process.ts"
import { repoRoot } from "../support/tools.ts"
import { startCluster } from "./index.ts"
import { httpsStatus, type LocalClusterState, localProvider } from "./local.ts"

// KUSTODIAN_CLUSTER_STATE_DIR moves the state elsewhere (the CLI's own test uses a temp dir).
const stateDir = process.env.KUSTODIAN_CLUSTER_STATE_DIR || join(repoRoot, ".kustodian", "cluster")
const stateFile = join(stateDir, "state.json")

const readState = (): LocalClusterState | undefined => {
  try {
    return JSON.parse(readFileSync(stateFile, "utf8")) as LocalClusterState
  } catch {
    return undefined
  }
}

const healthy = async (state: LocalClusterState): Promise<boolean> => {
  if (!state.processes.every((p) => isRunning(p.pid, p.startTime))) return false
  try {
    const ca = readFileSync(join(stateDir, "certs", "ca.crt"), "utf8")
    return (await httpsStatus(`${state.server}/readyz`, ca)) === 200
  } catch {
    return false
  }
}

const down = async (): Promise<void> => {
  const state = readState()
  if (state !== undefined) {
    // API server first, etcd last: the reverse of start order.
    for (const p of [...state.processes].reverse()) await stopGroup(p.pid, p.startTime)
  }
  if (existsSync(stateDir)) {
    rmSync(stateDir, { recursive: true, force: true })
    console.error(
      state
        ? "[cluster] stopped and removed .kustodian/cluster"
        : "[cluster] removed stale .kustodian/cluster",
    )
  } else {
    console.error("[cluster] no local cluster running")
  }
}

const up = async (): Promise<void> => {
  const state = readState()
  if (state !== undefined && (await healthy(state))) {
    console.error(`[cluster] already running at ${state.server}`)
    console.log(state.kubeconfigPath)
    return
  }
  if (state !== undefined || existsSync(stateDir)) await down()
  const started = Date.now()
  // No stop: the processes are detached and keep running after this command exits; `down` stops them.
  const { cluster } = await startCluster({ stateDir, ownerPid: "none", workloads: true }, localProvider)
  console.error(`[cluster] local control plane ready at ${cluster.server} in ${Date.now() - started} ms`)
  console.error(`[cluster] export KUSTODIAN_TEST_KUBECONFIG=${cluster.kubeconfigPath}  # e2e tests reuse it`)
  console.log(cluster.kubeconfigPath)
}

const command = process.argv[2]
const run = command === "up" ? up : command === "down" ? down : undefined
if (run === undefined) {
  console.error("usage: node e2e/cluster/cli.ts up|down")
  process.exit(2)
}
run().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`[cluster] ${command} failed: ${e instanceof Error ? e.message : String(e)}`)
    process.exit(1)
  },
)
