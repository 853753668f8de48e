import { Clock, Deferred, Effect } from "effect"
import type { KubeClient } from "../kube/client.ts"
import type { KubeObject } from "../kube/object.ts"
import { serveProbes } from "../metrics/server.ts"
import type { ControllerSpec } from "./controller.ts"
import { type LeaderElectionOptions, makeLeaderElector } from "./leader.ts"
import { type LeaderPodOptions, makeLeaderPodMarker } from "./leader-pod.ts"
import { type RunningController, type RunOptions, runController } from "./runner.ts"

export interface ManagerOptions<R> {
  // biome-ignore lint/suspicious/noExplicitAny: controllers of different kinds live side by side
  readonly controllers: ReadonlyArray<ControllerSpec<any, R>>
  /** Omit to run without leader election (one replica, or tests). */
  readonly leaderElection?: LeaderElectionOptions | undefined
  /**
   * Mark this process's own Pod `kustodian.io/leader: "true"` while its controllers run (`./leader-pod.ts`), so
   * a Service can select the leader only. Without leader election the one process is the leader.
   */
  readonly leaderPod?: Omit<LeaderPodOptions, "lease"> | undefined
  /** `false` disables the HTTP port; default port 8080. */
  readonly probes?:
    | { readonly port?: number | undefined; readonly host?: string | undefined }
    | false
    | undefined
  /** Serve /metrics on its own port instead (Flux: --metrics-addr :8080, --health-addr :9440). */
  readonly metrics?: { readonly port?: number | undefined; readonly host?: string | undefined } | undefined
  /** How long in-flight reconciles may finish on shutdown before they are cancelled. Default 10 s. */
  readonly shutdownGraceMs?: number | undefined
  readonly run?: RunOptions | undefined
  /** Called once the controllers run (this process leads and caches are synced); tests use it. */
  readonly onStarted?:
    | ((running: ReadonlyArray<RunningController<KubeObject>>) => Effect.Effect<void>)
    | undefined
}

/**
 * Runs controllers the way controller-runtime's manager does: serves /metrics, /healthz and /readyz,
 * waits for the leader lease, runs every controller while leading, and on interruption (SIGTERM via
 * `NodeRuntime.runMain`) stops taking work, lets in-flight reconciles finish within the grace period,
 * cancels the rest and releases the lease so a standby takes over at once. Losing the lease stops the
 * controllers and makes this process a candidate again.
 */
export const runManager = <R>(options: ManagerOptions<R>): Effect.Effect<never, unknown, KubeClient | R> =>
  Effect.scoped(
    Effect.gen(function* () {
      let controllersReady = false
      const elector = options.leaderElection ? yield* makeLeaderElector(options.leaderElection) : undefined
      const healthy = () => elector === undefined || elector.renewHealthy(Date.now())
      const ready = () => controllersReady || (elector !== undefined && !elector.isLeader())
      // `/readyz/leader`: 200 only while this process leads and its controllers run (what the Pod mark says).
      const leading = () => controllersReady && (elector === undefined || elector.holdsLease())
      const marker =
        options.leaderPod === undefined
          ? undefined
          : yield* makeLeaderPodMarker({
              ...options.leaderPod,
              lease: options.leaderElection?.name ?? "",
              retryPeriodMs: options.leaderPod.retryPeriodMs ?? options.leaderElection?.retryPeriodMs,
            })
      if (marker !== undefined) {
        // A restarted container's Pod may still carry the mark of its previous life: the first sync clears it.
        yield* Effect.forkScoped(marker.keepInSync)
      }
      if (options.probes !== false) {
        const { port } = yield* serveProbes({
          port: options.probes?.port,
          host: options.probes?.host,
          healthy,
          ready,
          leading,
          serve: { metrics: options.metrics === undefined, probes: true },
        })
        yield* Effect.logInfo("serving probes").pipe(Effect.annotateLogs({ port }))
      }
      if (options.metrics !== undefined) {
        const { port } = yield* serveProbes({
          port: options.metrics.port,
          host: options.metrics.host,
          healthy,
          ready,
          leading,
          serve: { metrics: true, probes: false },
        })
        yield* Effect.logInfo("serving /metrics").pipe(Effect.annotateLogs({ port }))
      }
      if (elector !== undefined) yield* Effect.addFinalizer(() => elector.release)
      const grace = options.shutdownGraceMs ?? 10_000

      while (true) {
        if (elector !== undefined) yield* elector.acquire
        yield* Effect.scoped(
          Effect.gen(function* () {
            const running: RunningController<KubeObject>[] = []
            for (const spec of options.controllers) {
              running.push(
                (yield* runController(spec, {
                  ...options.run,
                  ...(elector !== undefined ? { isLeader: elector.holdsLease } : {}),
                })) as unknown as RunningController<KubeObject>,
              )
            }
            // Runs before the workers are interrupted (finalizers run in reverse order).
            yield* Effect.addFinalizer(() =>
              Effect.gen(function* () {
                controllersReady = false
                // The Service stops routing here before the controllers stop and the lease is released.
                if (marker !== undefined) yield* marker.set(false).pipe(Effect.timeoutOption(5_000))
                yield* Effect.forEach(running, (c) => c.queue.shutdown, { discard: true })
                const deadline = (yield* Clock.currentTimeMillis) + grace
                while (
                  running.some((c) => c.queue.processing() > 0) &&
                  (yield* Clock.currentTimeMillis) < deadline
                ) {
                  yield* Effect.sleep(50)
                }
                const left = running.reduce((n, c) => n + c.queue.processing(), 0)
                yield* Effect.logInfo("controllers stopped").pipe(Effect.annotateLogs({ cancelled: left }))
              }),
            )
            yield* Effect.forEach(running, (c) => Deferred.await(c.ready), { discard: true })
            controllersReady = true
            if (marker !== undefined) yield* marker.set(true)
            yield* Effect.logInfo("controllers started").pipe(
              Effect.annotateLogs({ kinds: running.map((c) => c.kind).join(",") }),
            )
            if (options.onStarted) yield* options.onStarted(running)
            if (elector !== undefined) yield* elector.holdUntilLost
            else yield* Effect.never
          }),
        )
      }
    }),
  )
