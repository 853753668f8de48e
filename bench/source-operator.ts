/**
 * The operator process of `npm run bench:source`: only the GitRepository controller, its storage and artifact
 * server. Configured by environment: KUBECONFIG (required), STORAGE_DIR, STORAGE_PORT, PROBE_PORT, WORKERS, STATS_FILE (peak memory figures).
 */
import { writeFileSync } from "node:fs"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, References } from "effect"
import { makeGitRepositoryController } from "../operator/src/controllers/gitrepository.ts"
import { KubeClient } from "../operator/src/kube/client.ts"
import { runManager } from "../operator/src/runtime/manager.ts"
import { sourceLayer } from "../operator/src/stages/fetch/layer.ts"

const env = process.env
const kubeconfig = env.KUBECONFIG
if (!kubeconfig) throw new Error("KUBECONFIG is required")
const storagePort = Number(env.STORAGE_PORT ?? 9090)

// Peak of each memory figure, so the benchmark can tell the JS heap from native memory in the RSS.
const peaks: Record<string, number> = {}
if (env.STATS_FILE) {
  const file = env.STATS_FILE
  setInterval(() => {
    for (const [k, v] of Object.entries(process.memoryUsage())) peaks[k] = Math.max(peaks[k] ?? 0, v)
    writeFileSync(file, JSON.stringify(peaks))
  }, 1_000).unref()
}

const program = Effect.gen(function* () {
  const controller = yield* makeGitRepositoryController()
  return yield* runManager({
    controllers: [controller],
    probes: { port: Number(env.PROBE_PORT ?? 8080), host: "127.0.0.1" },
    run: { workers: Number(env.WORKERS ?? 4) },
  })
}).pipe(
  Effect.provide(
    sourceLayer({
      storagePath: env.STORAGE_DIR ?? "/tmp/kustodian-bench-storage",
      storageAddr: `127.0.0.1:${storagePort}`,
      storageAdvAddr: `127.0.0.1:${storagePort}`,
    }).pipe(Layer.provideMerge(KubeClient.layer({ _tag: "File", path: kubeconfig }))),
  ),
  Effect.provideService(References.MinimumLogLevel, "Warn"),
)

NodeRuntime.runMain(program)
