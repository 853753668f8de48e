import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { serveProbes } from "./server.ts"
import { telemetryLayer } from "./telemetry.ts"
import { otlpReceiver as receiver } from "./testing/otlp-receiver.ts"

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
      let leading = false
      const { port } = yield* serveProbes({
        port: 0,
        host: "127.0.0.1",
        healthy: () => true,
        ready: () => ready,
        leading: () => leading,
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
      // A standby is ready but not the leader.
      expect(yield* get("/readyz/leader")).toEqual({ status: 503, text: "standby" })
      leading = true
      expect(yield* get("/readyz/leader")).toEqual({ status: 200, text: "leader" })
    }),
  )
})
