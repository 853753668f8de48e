import * as http from "node:http"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { serveProbes } from "./server.ts"
import { telemetryLayer } from "./telemetry.ts"

/** A real OTLP/HTTP receiver: collects the JSON bodies posted to /v1/traces. */
const receiver = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ server: http.Server; bodies: string[]; url: string }>((resolve) => {
        const bodies: string[] = []
        const server = http.createServer((req, res) => {
          let body = ""
          req.on("data", (c) => {
            body += c
          })
          req.on("end", () => {
            if (req.url === "/v1/traces") bodies.push(body)
            res.writeHead(200, { "Content-Type": "application/json" })
            res.end("{}")
          })
        })
        server.listen(0, "127.0.0.1", () => {
          const addr = server.address() as { port: number }
          resolve({ server, bodies, url: `http://127.0.0.1:${addr.port}` })
        })
      }),
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((r) => server.close(() => r()))),
)

describe("telemetry", () => {
  it.live("exports one span per reconcile and per stage over OTLP/HTTP when an endpoint is configured", () =>
    Effect.gen(function* () {
      const otlp = yield* receiver
      yield* Effect.scoped(
        Effect.void.pipe(
          Effect.withSpan("Stage.build"),
          Effect.withSpan("Reconcile.Widget", { attributes: { "k8s.name": "w1" } }),
          Effect.provide(telemetryLayer({ serviceName: "kustodian-test", otlpEndpoint: otlp.url })),
        ),
      )
      const all = otlp.bodies.join("\n")
      expect(all).toContain("Reconcile.Widget")
      expect(all).toContain("Stage.build")
      expect(all).toContain("kustodian-test")
    }),
  )

  it.live("serves Prometheus text on /metrics and the probes", () =>
    Effect.gen(function* () {
      let ready = false
      const { port } = yield* serveProbes({
        port: 0,
        host: "127.0.0.1",
        healthy: () => true,
        ready: () => ready,
      })
      yield* Metric.update(
        Metric.withAttributes(Metric.counter("kustodian_test_total", { incremental: true }), {
          kind: "Widget",
        }),
        2,
      )
      const get = (path: string) =>
        Effect.promise(() =>
          fetch(`http://127.0.0.1:${port}${path}`).then(async (r) => ({
            status: r.status,
            text: await r.text(),
          })),
        )
      const metrics = yield* get("/metrics")
      expect(metrics.status).toBe(200)
      expect(metrics.text).toMatch(/kustodian_test_total\{kind="Widget"\} 2/)
      expect((yield* get("/healthz")).status).toBe(200)
      expect((yield* get("/readyz")).status).toBe(503)
      ready = true
      expect((yield* get("/readyz")).status).toBe(200)
    }),
  )
})
