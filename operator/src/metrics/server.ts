import * as http from "node:http"
import { Effect } from "effect"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import { sampleProcess, startProcessMetrics } from "./process-metrics.ts"

export interface ProbeServerOptions {
  /** Port of /metrics, /healthz and /readyz (default 8080; 0 picks a free port). */
  readonly port?: number | undefined
  readonly host?: string | undefined
  /** Liveness: false makes /healthz answer 500 (e.g. the leader cannot renew its lease). */
  readonly healthy: () => boolean
  /** Readiness: caches synced (or standing by for leadership). */
  readonly ready: () => boolean
  /** `/readyz/leader`: true while this process leads and its controllers run; a standby answers 503. */
  readonly leading?: (() => boolean) | undefined
  /** What to serve on this port (default both), for Flux's separate --metrics-addr / --health-addr. */
  readonly serve?: { readonly metrics: boolean; readonly probes: boolean } | undefined
}

/**
 * The operator's one HTTP port: Prometheus text exposition on /metrics (everything recorded through
 * effect's Metric module), /healthz and /readyz. Closed with the scope.
 */
export const serveProbes = (options: ProbeServerOptions) =>
  Effect.gen(function* () {
    const context = yield* Effect.context<never>()
    startProcessMetrics()
    const server = yield* Effect.acquireRelease(
      Effect.callback<http.Server, Error>((resume) => {
        const server = http.createServer((req, res) => {
          const path = (req.url ?? "/").split("?")[0]
          const text = (code: number, body: string, type = "text/plain; charset=utf-8") => {
            res.writeHead(code, { "Content-Type": type })
            res.end(body)
          }
          const serve = options.serve ?? { metrics: true, probes: true }
          if (path === "/metrics" && serve.metrics) {
            Effect.runSyncWith(context)(sampleProcess)
            const body = PrometheusMetrics.formatUnsafe(context)
            return text(200, body, "text/plain; version=0.0.4; charset=utf-8")
          }
          if (path === "/healthz" || path === "/livez")
            return options.healthy() ? text(200, "ok") : text(500, "unhealthy")
          if (path === "/readyz") return options.ready() ? text(200, "ok") : text(503, "not ready")
          if (path === "/readyz/leader" && options.leading !== undefined)
            return options.leading() ? text(200, "leader") : text(503, "standby")
          return text(404, "not found")
        })
        server.once("error", (error) => resume(Effect.fail(error)))
        server.listen(options.port ?? 8080, options.host ?? "0.0.0.0", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.callback<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        }),
    )
    const address = server.address()
    return { port: typeof address === "object" && address !== null ? address.port : (options.port ?? 8080) }
  })
