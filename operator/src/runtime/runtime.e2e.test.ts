import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import * as fc from "fast-check"
import { testKubeconfigPath, testNamespace } from "../../../e2e/support/cluster.ts"
import { eventually } from "../../../e2e/support/eventually.ts"
import type { Condition } from "../../../model/condition.ts"
import { eventArb } from "../../../model/events.arbitrary.ts"
import type { Recorded } from "../../../model/events.ts"
import { project, type ReconcileStatus } from "../../../model/projection.ts"
import { KubeClient } from "../kube/client.ts"
import type { KubeObject } from "../kube/object.ts"
import { CoreResources } from "../kube/resource.ts"
import { ReconcileRequestAnnotation } from "./controller.ts"
import { installWidgetCrd, type Widget, widgetController, widgetResource } from "./fixtures/widget.ts"
import { runManager } from "./manager.ts"

const kube = () => KubeClient.layer({ _tag: "File", path: testKubeconfigPath() })

const getWidget = (ns: string, name: string) =>
  Effect.gen(function* () {
    const client = yield* KubeClient
    return yield* client.get<Widget>(widgetResource, name, ns)
  })

const statusOf = (w: Widget) => (w.status ?? {}) as ReconcileStatus
const condition = (w: Widget, type: string): Condition | undefined =>
  statusOf(w).conditions?.find((c) => c.type === type)

const waitWidget = (
  ns: string,
  name: string,
  what: string,
  predicate: (w: Widget) => boolean,
  timeoutMs?: number,
) =>
  eventually(
    what,
    getWidget(ns, name).pipe(Effect.map((w) => (predicate(w) ? Option.some(w) : Option.none()))),
    timeoutMs,
  )

const widget = (ns: string, name: string, spec: Partial<Widget["spec"]> = {}): Widget => ({
  apiVersion: "test.kustodian.dev/v1",
  kind: "Widget",
  metadata: { name, namespace: ns },
  spec: { interval: "2s", configMapName: `${name}-cm`, ...spec },
})

const configMap = (ns: string, name: string, data: Record<string, string>): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: ns },
  data,
})

describe("controller runtime against a real API server", () => {
  it.live(
    "reconciles on create, secondary change, interval, spec update and requestedAt; failures back off",
    () =>
      Effect.gen(function* () {
        const client = yield* KubeClient
        const ns = yield* testNamespace("runtime")
        yield* installWidgetCrd
        const attempts: number[] = []
        const spec = widgetController({ namespace: ns })
        const traced = {
          ...spec,
          reconcile: (ctx: Parameters<typeof spec.reconcile>[0]) =>
            Effect.suspend(() => {
              if (ctx.object.metadata.name === "w1") attempts.push(Date.now())
              return spec.reconcile(ctx)
            }),
        }
        const manager = yield* Effect.forkChild(
          runManager({
            controllers: [traced],
            probes: { port: 0 },
            run: { backoff: { baseMs: 300, capMs: 10_000 } },
          }),
        )
        const fm = { fieldManager: "kustodian-tests" }

        // A failing stage: Ready=False with the stage's reason, retried with growing delays.
        yield* client.apply(widgetResource, widget(ns, "w1"), fm)
        const failing = yield* waitWidget(
          ns,
          "w1",
          "ArtifactFailed",
          (w) => condition(w, "Ready")?.reason === "ArtifactFailed",
        )
        expect(condition(failing, "Ready")).toMatchObject({ status: "False", observedGeneration: 1 })
        expect(condition(failing, "Reconciling")).toMatchObject({
          status: "True",
          reason: "ProgressingWithRetry",
        })
        expect(statusOf(failing).observedGeneration ?? -1).toBe(-1)
        expect(failing.metadata.finalizers).toContain("finalizers.test.kustodian.dev")
        yield* eventually(
          "four attempts",
          Effect.sync(() => (attempts.length >= 4 ? Option.some(true) : Option.none())),
        )
        const gaps = attempts.slice(1, 4).map((t, i) => t - attempts[i]!)
        // base 300 ms doubling, ±20% jitter: each gap at least the jittered lower bound of its step.
        for (const [i, gap] of gaps.entries()) expect(gap).toBeGreaterThanOrEqual(0.8 * 300 * 2 ** i - 50)

        // The secondary watch maps the new ConfigMap to its Widget through the index.
        const cm = yield* client.apply(CoreResources.configMap, configMap(ns, "w1-cm", { value: "one" }), fm)
        const ready = yield* waitWidget(
          ns,
          "w1",
          "Ready=True",
          (w) => condition(w, "Ready")?.status === "True",
        )
        const revision = `w1-cm@rv:${cm.metadata.resourceVersion}`
        expect(condition(ready, "Ready")).toMatchObject({
          reason: "ReconciliationSucceeded",
          message: `Applied revision: ${revision}`,
        })
        expect(condition(ready, "Reconciling")).toBeUndefined()
        expect(statusOf(ready)).toMatchObject({
          observedGeneration: 1,
          lastAppliedRevision: revision,
          lastAttemptedRevision: revision,
        })

        // Interval: the same digest keeps being reconciled (history counts it).
        yield* waitWidget(
          ns,
          "w1",
          "interval reconciles",
          (w) => (statusOf(w).history?.[0]?.totalReconciliations ?? 0) >= 3,
        )

        // Spec update → new generation observed.
        yield* client.apply(widgetResource, widget(ns, "w1", { interval: "1h" }), fm)
        yield* waitWidget(ns, "w1", "generation 2", (w) => statusOf(w).observedGeneration === 2)

        // requestedAt triggers at once (interval is 1h now) and is recorded.
        const before = attempts.length
        yield* client.patch(
          widgetResource,
          { name: "w1", namespace: ns },
          { metadata: { annotations: { [ReconcileRequestAnnotation]: "now-1" } } },
        )
        yield* waitWidget(
          ns,
          "w1",
          "lastHandledReconcileAt",
          (w) => statusOf(w).lastHandledReconcileAt === "now-1",
        )
        expect(attempts.length).toBeGreaterThan(before)

        // A build failure and recovery.
        yield* client.apply(
          CoreResources.configMap,
          configMap(ns, "w1-cm", { value: "two", fail: "true" }),
          fm,
        )
        const broken = yield* waitWidget(
          ns,
          "w1",
          "BuildFailed",
          (w) => condition(w, "Ready")?.reason === "BuildFailed",
        )
        expect(condition(broken, "Ready")?.message).toBe("build of 'w1' failed: data.fail is true")
        yield* client.apply(CoreResources.configMap, configMap(ns, "w1-cm", { value: "two" }), fm)
        const healed = yield* waitWidget(ns, "w1", "healed", (w) => condition(w, "Ready")?.status === "True")
        const history = statusOf(healed).history ?? []
        expect(history[0]?.lastReconciledStatus).toBe("ReconciliationSucceeded")
        expect(history.some((h) => h.lastReconciledStatus === "BuildFailed")).toBe(true)

        // A terminal failure stalls the object: no retries until something changes.
        yield* client.apply(
          CoreResources.configMap,
          configMap(ns, "w1-cm", { value: "three", fail: "terminal" }),
          fm,
        )
        const stalled = yield* waitWidget(
          ns,
          "w1",
          "Stalled",
          (w) => condition(w, "Stalled")?.status === "True",
        )
        expect(condition(stalled, "Reconciling")).toBeUndefined()
        expect(statusOf(stalled).observedGeneration).toBe(2)

        // Events: failures aggregated into a series, success announced, Flux-style annotations.
        const events = yield* client.list(CoreResources.event, { namespace: ns })
        const about = events.items.filter((e) => (e.regarding as { name?: string }).name === "w1") as Array<
          KubeObject & {
            reason: string
            type: string
            series?: { count: number }
            reportingController: string
          }
        >
        const artifactFailed = about.find((e) => e.reason === "ArtifactFailed")
        expect(artifactFailed?.type).toBe("Warning")
        expect(artifactFailed?.series?.count ?? 1).toBeGreaterThanOrEqual(3)
        const succeeded = about.find((e) => e.reason === "ReconciliationSucceeded")
        expect(succeeded?.metadata.annotations?.["test.kustodian.dev/revision"]).toBe(revision)
        expect(succeeded?.reportingController).toBe("widget-controller")

        // Deletion runs cleanup and removes the finalizer.
        yield* client.delete(widgetResource, "w1", ns)
        yield* eventually(
          "w1 gone",
          client
            .getOption(widgetResource, "w1", ns)
            .pipe(Effect.map((o) => (Option.isNone(o) ? Option.some(true) : Option.none()))),
        )
        yield* Fiber.interrupt(manager)
      }).pipe(Effect.provide(kube())),
    120_000,
  )

  it.live(
    "the API server accepts every status the projection produces (property test against the real CRD schema)",
    () =>
      Effect.gen(function* () {
        const client = yield* KubeClient
        const ns = yield* testNamespace("projection")
        yield* installWidgetCrd
        yield* client.apply(widgetResource, widget(ns, "p"), { fieldManager: "kustodian-tests" })
        const samples = fc.sample(fc.array(eventArb, { maxLength: 30 }), { numRuns: 40, seed: 42 })
        let last: ReconcileStatus = {}
        for (const [i, events] of samples.entries()) {
          const entries: Recorded[] = events.map((event, j) => ({
            at: new Date(Date.UTC(2026, 10, 27, 0, i, j)).toISOString().replace(/\.\d+Z$/, "Z"),
            event,
          }))
          last = project(last, entries)
          const written = yield* client.applyStatus<Widget>(
            widgetResource,
            {
              apiVersion: "test.kustodian.dev/v1",
              kind: "Widget",
              metadata: { name: "p", namespace: ns },
              status: last,
            },
            { fieldManager: "gotk-widget-controller" },
          )
          // What the server stored is what we sent (nothing pruned or rejected).
          const stored = statusOf(written)
          expect(stored.conditions ?? []).toEqual(last.conditions ?? [])
          expect(stored.history ?? []).toEqual(last.history ?? [])
        }
      }).pipe(Effect.provide(kube())),
    120_000,
  )
})
