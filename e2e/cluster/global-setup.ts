/**
 * vitest global setup of the `e2e` project: starts ONE test cluster per run (provider from
 * `KUSTODIAN_TEST_CLUSTER`, default `local`) and exports its admin kubeconfig as `KUSTODIAN_TEST_KUBECONFIG`.
 * When that variable is already set (e.g. after `npm run cluster:up`), the given cluster is used and nothing
 * is started. Everything started is stopped at the end, on SIGINT/SIGTERM/SIGHUP (vitest exits without running
 * teardown then), and — through a reaper process — even if the runner is SIGKILLed.
 */
import { rmSync } from "node:fs"
import { dirname } from "node:path"
import type { TestProject } from "vitest/node"
import { killAllSync } from "../support/process.ts"
import { startCluster } from "./index.ts"

declare module "vitest" {
  export interface ProvidedContext {
    kustodianTestKubeconfig: string
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env.KUSTODIAN_TEST_KUBECONFIG
  if (given) {
    project.provide("kustodianTestKubeconfig", given)
    return undefined
  }
  const started = Date.now()
  // Workloads run for real: Deployments roll out on kwok nodes, Namespaces finish deleting, GC follows owners.
  const running = await startCluster({ workloads: true })
  const { cluster } = running
  // Only a temp state dir made by the local provider is ours to delete.
  const ownDir = cluster.provider === "local" ? dirname(cluster.kubeconfigPath) : undefined
  const emergency = (signal?: NodeJS.Signals) => {
    killAllSync()
    if (ownDir) rmSync(ownDir, { recursive: true, force: true })
    if (signal) {
      process.exitCode ??= signal === "SIGINT" ? 130 : signal === "SIGHUP" ? 129 : 143
      setTimeout(() => process.exit(), 200)
    }
  }
  const onSignal = (signal: NodeJS.Signals) => emergency(signal)
  const onExit = () => emergency()
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, onSignal)
  process.on("exit", onExit)
  process.env.KUSTODIAN_TEST_KUBECONFIG = cluster.kubeconfigPath
  project.provide("kustodianTestKubeconfig", cluster.kubeconfigPath)
  console.log(
    `[e2e] ${cluster.provider} test cluster ready at ${cluster.server} in ${Date.now() - started} ms`,
  )
  return async () => {
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(s, onSignal)
    process.off("exit", onExit)
    await running.stop()
    delete process.env.KUSTODIAN_TEST_KUBECONFIG
  }
}
