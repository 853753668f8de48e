/**
 * The `kubeconfig` provider: an existing cluster named by `KUSTODIAN_TEST_CLUSTER_KUBECONFIG` or `KUBECONFIG`
 * (first file). Nothing is started or stopped; tests still isolate themselves with one namespace each.
 */
import { existsSync } from "node:fs"
import { delimiter, resolve } from "node:path"
import { KubeConfig } from "@kubernetes/client-node"
import { Effect } from "effect"
import { ClusterError, type ClusterProvider, type TestCluster } from "./provider.ts"

const start = Effect.fn("KubeconfigCluster.start")(function* () {
  const source = process.env.KUSTODIAN_TEST_CLUSTER_KUBECONFIG || process.env.KUBECONFIG?.split(delimiter)[0]
  if (!source || !existsSync(source))
    return yield* new ClusterError({
      provider: "kubeconfig",
      reason:
        "set KUBECONFIG (or KUSTODIAN_TEST_CLUSTER_KUBECONFIG) to the kubeconfig of an existing cluster",
    })
  const kc = new KubeConfig()
  yield* Effect.try({
    try: () => kc.loadFromFile(source),
    catch: (e) => new ClusterError({ provider: "kubeconfig", reason: `cannot read ${source}: ${String(e)}` }),
  })
  const server = kc.getCurrentCluster()?.server
  if (!server)
    return yield* new ClusterError({ provider: "kubeconfig", reason: `${source} has no current cluster` })
  const cluster: TestCluster = { provider: "kubeconfig", kubeconfigPath: resolve(source), server, pids: [] }
  return cluster
})

/** An existing cluster; start/stop do not touch it. */
export const kubeconfigProvider: ClusterProvider = { name: "kubeconfig", start }
