import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import { EventForwarder, eventMetadata, type FluxEvent, metaTime } from "./event-forwarder.ts"
import { eventReceiver } from "./testing/event-receiver.ts"

const event = (name: string, severity: FluxEvent["severity"] = "info"): FluxEvent => ({
  involvedObject: {
    kind: "Kustomization",
    namespace: "apps",
    name,
    uid: "u-1",
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  },
  severity,
  timestamp: metaTime(Date.UTC(2026, 11, 4, 21, 0, 0, 123)),
  message: "Reconciliation finished in 1.2s, next run in 10m0s",
  reason: "ReconciliationSucceeded",
  metadata: { "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc" },
  reportingController: "kustomize-controller",
  reportingInstance: "kustodian-0",
})

const until = (what: string, ok: () => boolean, timeoutMs = 5_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!ok()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep(10)
    }
  })

const metricsText = Effect.map(Effect.context<never>(), (c) => PrometheusMetrics.formatUnsafe(c))

describe("EventForwarder", () => {
  it("metadata: the Event's annotations plus the object's event.toolkit.fluxcd.io/ ones, nothing else", () => {
    expect(
      eventMetadata(
        { "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc" },
        { "event.toolkit.fluxcd.io/env": "prod", "kubectl.kubernetes.io/last-applied-configuration": "{}" },
      ),
    ).toEqual({
      "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc",
      "event.toolkit.fluxcd.io/env": "prod",
    })
    expect(eventMetadata(undefined, undefined)).toBeUndefined()
    expect(metaTime(Date.UTC(2026, 11, 4, 21, 0, 0, 123))).toBe("2026-12-04T21:00:00Z")
  })

  it.live("POSTs eventv1.Event JSON; retries a 5xx with backoff, not a 429 (duplicate)", () =>
    Effect.gen(function* () {
      const receiver = yield* eventReceiver("fail")
      yield* Effect.gen(function* () {
        const { forward } = yield* EventForwarder
        yield* forward(event("retried", "error"))
        yield* until("three attempts", () => receiver.events.length >= 3)
        receiver.mode = "accept"
        yield* until("the accepted attempt", () => receiver.requests.length >= 4)
        expect(receiver.requests[0]).toEqual({ method: "POST", path: "/", contentType: "application/json" })
        expect(receiver.events.every((e) => e.involvedObject.name === "retried")).toBe(true)
        expect(receiver.events[0]).toEqual(event("retried", "error"))

        receiver.mode = "duplicate"
        const before = receiver.requests.length
        yield* forward(event("duplicate"))
        yield* until("the duplicate", () => receiver.requests.length === before + 1)
        yield* Effect.sleep(150)
        expect(receiver.requests.length).toBe(before + 1)
        const text = yield* metricsText
        expect(text).toMatch(/kustodian_events_forwarded_total\{result="sent"\} [1-9]/)
        expect(text).toMatch(/kustodian_events_forwarded_total\{result="duplicate"\} [1-9]/)
      }).pipe(
        Effect.provide(
          EventForwarder.layer({ url: receiver.url, backoffMs: 20, backoffCapMs: 40, retries: 4 }),
        ),
      )
    }).pipe(Effect.scoped),
  )

  it.live(
    "a receiver that never answers costs the caller nothing: forward returns at once, the overflow is dropped",
    () =>
      Effect.gen(function* () {
        const receiver = yield* eventReceiver("hang")
        yield* Effect.gen(function* () {
          const { forward } = yield* EventForwarder
          const started = Date.now()
          for (let i = 0; i < 200; i++) yield* forward(event(`hung-${i}`))
          const took = Date.now() - started
          // 200 Events into a queue of 10 with 2 senders stuck: no wait on the receiver at all.
          expect(took).toBeLessThan(200)
          yield* until("the two stuck POSTs", () => receiver.requests.length >= 2)
          const text = yield* metricsText
          const dropped = Number(
            /kustodian_events_forwarded_total\{result="dropped"\} (\d+)/.exec(text)?.[1] ?? 0,
          )
          expect(dropped).toBeGreaterThanOrEqual(200 - 10 - 2)
        }).pipe(
          Effect.provide(
            Layer.fresh(
              EventForwarder.layer({ url: receiver.url, queueSize: 10, senders: 2, timeoutMs: 60_000 }),
            ),
          ),
        )
      }).pipe(Effect.scoped),
  )

  it.live(
    "queued Events are bounded in bytes too: a tenant's 200 KiB event annotations do not fill the heap",
    () =>
      Effect.gen(function* () {
        const receiver = yield* eventReceiver("hang")
        yield* Effect.gen(function* () {
          const { forward } = yield* EventForwarder
          // An object's event.toolkit.fluxcd.io/ annotations go into every Event's metadata; 200 KiB each.
          const big = { ...event("big"), metadata: { "event.toolkit.fluxcd.io/pad": "x".repeat(200 * 1024) } }
          const droppedSoFar = Effect.map(metricsText, (text) =>
            Number(/kustodian_events_forwarded_total\{result="dropped"\} (\d+)/.exec(text)?.[1] ?? 0),
          )
          const before = yield* droppedSoFar
          for (let i = 0; i < 50; i++) yield* forward(big)
          yield* until("the two stuck POSTs", () => receiver.requests.length >= 2)
          const dropped = (yield* droppedSoFar) - before
          // 1 MiB of queue holds four of them (plus the two being sent); the count bound (1,000) alone held all.
          expect(dropped).toBeGreaterThanOrEqual(50 - 4 - 2)
        }).pipe(
          Effect.provide(
            Layer.fresh(
              EventForwarder.layer({
                url: receiver.url,
                queueBytes: 1024 * 1024,
                senders: 2,
                timeoutMs: 60_000,
              }),
            ),
          ),
        )
      }).pipe(Effect.scoped),
  )

  it.live("objects without a namespace are not sent (Flux refuses them too)", () =>
    Effect.gen(function* () {
      const receiver = yield* eventReceiver("accept")
      yield* Effect.gen(function* () {
        const { forward } = yield* EventForwarder
        yield* forward({
          ...event("cluster-scoped"),
          involvedObject: { kind: "Namespace", namespace: "", name: "x" },
        })
        yield* forward(event("namespaced"))
        yield* until("the namespaced one", () => receiver.events.length >= 1)
        yield* Effect.sleep(100)
        expect(receiver.events.map((e) => e.involvedObject.name)).toEqual(["namespaced"])
      }).pipe(Effect.provide(EventForwarder.layer({ url: receiver.url })))
    }).pipe(Effect.scoped),
  )

  it.live("what is still queued at shutdown gets one attempt", () =>
    Effect.gen(function* () {
      const receiver = yield* eventReceiver("hang")
      yield* Effect.gen(function* () {
        const { forward } = yield* EventForwarder
        for (const name of ["first", "second", "third"]) yield* forward(event(name))
        // The only sender hangs on "first"; the other two wait in the queue.
        yield* until("the hung POST", () => receiver.requests.length === 1)
        receiver.mode = "accept"
      }).pipe(Effect.provide(Layer.fresh(EventForwarder.layer({ url: receiver.url, senders: 1 }))))
      // The layer's scope is closed: the finalizer sent the queued two.
      expect(receiver.events.map((e) => e.involvedObject.name)).toEqual(["first", "second", "third"])
    }).pipe(Effect.scoped),
  )
})
