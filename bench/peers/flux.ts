/**
 * Flux's real controllers as the bench runs them: source-controller and kustomize-controller v1.9.x (what Flux
 * 2.9 ships, built from the Go module proxy by `scripts/tools.sh flux`) as local processes against the bench's
 * control plane, with the flags of Flux's install manifests where they apply outside a cluster: no leader
 * election, all namespaces, metrics/health/artifact server on free loopback ports, no notification-controller.
 * Extra flags for both: `BENCH_FLUX_FLAGS` (space-separated, e.g. `--kube-api-qps=500 --kube-api-burst=1000`).
 */
import { mkdirSync, readdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { Effect } from "effect"
import { freePort } from "../../e2e/support/ports.ts"
import { daemon, waitReady } from "../../e2e/support/process.ts"
import { toolPath } from "../../e2e/support/tools.ts"
import { label, series } from "./measure.ts"
import type { Peer, PeerContext } from "./peer.ts"

const extraFlags = (process.env.BENCH_FLUX_FLAGS ?? "").split(" ").filter((f) => f !== "")

/** The CRDs of both controllers, from the same module zips the binaries were built from. */
const crdDir = () => join(dirname(toolPath("source-controller")), "crds")

export const fluxPeer: Peer = {
  name: "Flux",
  crdFiles: () =>
    readdirSync(crdDir())
      .filter((f) => f.endsWith(".yaml"))
      .sort()
      .map((f) => join(crdDir(), f)),
  start: (ctx: PeerContext) =>
    Effect.gen(function* () {
      const [scMetrics, scHealth, scStorage, kcMetrics, kcHealth] = yield* Effect.promise(() =>
        Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]),
      )
      const storage = join(ctx.tmpdir, "source-controller-storage")
      mkdirSync(storage, { recursive: true })
      const env = {
        ...process.env,
        KUBECONFIG: ctx.kubeconfig,
        RUNTIME_NAMESPACE: ctx.namespace,
        // kustomize-controller extracts artifacts and builds under os.TempDir().
        TMPDIR: ctx.tmpdir,
      }
      const common = [
        `--concurrent=${ctx.concurrent}`,
        `--watch-all-namespaces=${ctx.watchAllNamespaces ?? true}`,
        "--enable-leader-election=false",
        "--log-level=info",
        "--log-encoding=json",
        "--events-addr=",
      ]
      const sourceArgs = [
        ...common,
        `--metrics-addr=127.0.0.1:${scMetrics}`,
        `--health-addr=127.0.0.1:${scHealth}`,
        `--storage-addr=127.0.0.1:${scStorage}`,
        `--storage-adv-addr=127.0.0.1:${scStorage}`,
        `--storage-path=${storage}`,
        ...extraFlags,
      ]
      const kustomizeArgs = [
        ...common,
        `--metrics-addr=127.0.0.1:${kcMetrics}`,
        `--health-addr=127.0.0.1:${kcHealth}`,
        ...extraFlags,
      ]
      const start = (
        name: "source-controller" | "kustomize-controller",
        args: Array<string>,
        health: number,
      ) =>
        Effect.gen(function* () {
          const d = yield* daemon({
            name,
            command: toolPath(name),
            args,
            env,
            logFile: join(ctx.work, `${name}.log`),
            // The control plane's reaper kills these groups too if the bench dies without running finalizers.
            groupsFile: ctx.groupsFile,
          })
          yield* waitReady(
            d,
            async () =>
              (await fetch(`http://127.0.0.1:${health}/readyz`).catch(() => undefined))?.ok === true,
            60_000,
            "ready",
          )
          return d
        })
      const sc = yield* start("source-controller", sourceArgs, scHealth)
      const kc = yield* start("kustomize-controller", kustomizeArgs, kcHealth)
      const metrics = Effect.promise(() =>
        fetch(`http://127.0.0.1:${kcMetrics}/metrics`).then((r) => r.text()),
      )
      return {
        pids: [sc.pid, kc.pid],
        kustomizationReconciles: Effect.map(metrics, (t) =>
          [...series(t, "controller_runtime_reconcile_total")]
            .filter(([k]) => label(k, "controller") === "kustomization")
            .reduce((s, [, v]) => s + v, 0),
        ),
        // kustomize-controller builds with the kustomize library in its own process: never a kustomize process.
        kustomizeRuns: () => undefined,
        commandLines: [
          `source-controller ${sourceArgs.join(" ")}`.replaceAll(ctx.tmpdir, "$TMP"),
          `kustomize-controller ${kustomizeArgs.join(" ")}`,
        ],
      }
    }),
}
