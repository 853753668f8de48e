/**
 * Flux's real controllers as the bench runs them (e2e/support/flux-controllers.ts): source-controller and
 * kustomize-controller v1.9.x as local processes against the bench's control plane, watching all namespaces.
 * Extra flags for both: `BENCH_FLUX_FLAGS` (space-separated, e.g. `--kube-api-qps=500 --kube-api-burst=1000`).
 */
import { Effect } from "effect"
import { fluxControllers, fluxCrdFiles } from "../../e2e/support/flux-controllers.ts"
import { label, series } from "./measure.ts"
import type { Peer, PeerContext } from "./peer.ts"

const extraFlags = (process.env.BENCH_FLUX_FLAGS ?? "").split(" ").filter((f) => f !== "")

export const fluxPeer: Peer = {
  name: "Flux",
  crdFiles: fluxCrdFiles,
  start: (ctx: PeerContext) =>
    Effect.gen(function* () {
      const flux = yield* fluxControllers({
        kubeconfig: ctx.kubeconfig,
        tmpdir: ctx.tmpdir,
        logDir: ctx.work,
        runtimeNamespace: ctx.namespace,
        concurrent: ctx.concurrent,
        flags: extraFlags,
        // The control plane's reaper kills these groups too if the bench dies without running finalizers.
        groupsFile: ctx.groupsFile,
      })
      const metrics = Effect.promise(() => fetch(flux.kustomizeMetricsUrl).then((r) => r.text()))
      return {
        pids: [flux.source.pid, flux.kustomize.pid],
        kustomizationReconciles: Effect.map(metrics, (t) =>
          [...series(t, "controller_runtime_reconcile_total")]
            .filter(([k]) => label(k, "controller") === "kustomization")
            .reduce((s, [, v]) => s + v, 0),
        ),
        // kustomize-controller builds with the kustomize library in its own process: never a kustomize process.
        kustomizeRuns: () => undefined,
        commandLines: flux.commandLines,
      }
    }),
}
