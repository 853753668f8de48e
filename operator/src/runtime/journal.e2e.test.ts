import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { testKubeconfigPath, testNamespace } from "../../../e2e/support/cluster.ts"
import { eventually } from "../../../e2e/support/eventually.ts"
import { logTail } from "../../../e2e/support/process.ts"
import type { Condition } from "../../../model/condition.ts"
import { type JournalState, replay } from "../../../model/journal.ts"
import { type ReconcileStatus, statusEquals } from "../../../model/projection.ts"
import { KubeClient } from "../kube/client.ts"
import type { KubeObject } from "../kube/object.ts"
import { CoreResources } from "../kube/resource.ts"
import { operatorProcess, signal } from "./fixtures/operator-process.ts"
import { installWidgetCrd, type Widget, widgetController, widgetResource } from "./fixtures/widget.ts"
import { decodeJournal, journalRef } from "./journal-store.ts"
import { runManager } from "./manager.ts"

const kube = () => KubeClient.layer({ _tag: "File", path: testKubeconfigPath() })
const fm = { fieldManager: "kustodian-tests" }

const statusOf = (w: KubeObject) => (w.status ?? {}) as ReconcileStatus
const condition = (w: KubeObject, type: string): Condition | undefined =>
  statusOf(w).conditions?.find((c) => c.type === type)

const widget = (ns: string, name: string, interval = "1h"): Widget => ({
  apiVersion: "test.kustodian.dev/v1",
  kind: "Widget",
  metadata: { name, namespace: ns },
  spec: { interval, configMapName: `${name}-cm` },
})

const configMap = (ns: string, name: string, data: Record<string, string>): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: ns },
  data,
})

const getWidget = (ns: string, name: string) =>
  Effect.gen(function* () {
    const client = yield* KubeClient
    return yield* client.get<Widget>(widgetResource, name, ns)
  })

/** The stored journal of widget `name`, decoded; None when there is none. */
const journalOf = (ns: string, name: string) =>
  Effect.gen(function* () {
    const client = yield* KubeClient
    const found = yield* client.getOption(journalRef, `widget-${name}`, ns)
    return Option.map(found, (j) => ({ object: j, state: decodeJournal(j) as JournalState }))
  })

const waitFor = <A, E, R>(what: string, check: Effect.Effect<Option.Option<A>, E, R>, timeoutMs = 60_000) =>
  eventually(what, check, timeoutMs, 100)

/** Waits until the widget's status is the replay of its stored journal; returns both. */
const statusIsReplay = (ns: string, name: string, extra: (w: Widget) => boolean = () => true) => {
  let last: unknown
  return waitFor(
    `${name}: status = replay(journal)`,
    Effect.gen(function* () {
      const w = yield* getWidget(ns, name)
      const j = yield* journalOf(ns, name)
      last = { status: statusOf(w), journal: Option.getOrUndefined(j)?.object }
      if (Option.isNone(j) || !extra(w)) return Option.none()
      return statusEquals(statusOf(w), replay(j.value.state)) ? Option.some({ w, j: j.value }) : Option.none()
    }),
  ).pipe(Effect.tapDefect(() => Effect.sync(() => console.error(JSON.stringify(last, null, 1)))))
}

const recordsText = (state: JournalState) => JSON.stringify(state.records)

describe("the reconcile journal against a real API server", () => {
  it.live(
    "status is the journal's replay: no-change counts are batched, a hand-deleted status comes back, a stage that dies is recorded, the journal goes with its object",
    () =>
      Effect.gen(function* () {
        const client = yield* KubeClient
        const ns = yield* testNamespace("journal")
        yield* installWidgetCrd
        const spec = widgetController({ namespace: ns })
        const dying = {
          ...spec,
          reconcile: (ctx: Parameters<typeof spec.reconcile>[0]) =>
            ctx.object.metadata.name !== "dies"
              ? spec.reconcile(ctx)
              : Effect.gen(function* () {
                  yield* ctx.emit({ _tag: "Progressed", stage: "build", message: "building" })
                  // A rejected Effect.promise is a defect, not a typed error: it must still end as StageFailed.
                  yield* ctx.stage(
                    "build",
                    Effect.promise(() => Promise.reject(new Error("boom"))),
                  )
                  return undefined
                }),
        }
        const manager = yield* Effect.forkChild(
          runManager({ controllers: [dying], probes: { port: 0 }, run: { journalFlushMs: 500 } }),
        )

        // w1 (interval 1h): reconciled once; its journal is owned by it and its status is the replay.
        yield* client.apply(CoreResources.configMap, configMap(ns, "w1-cm", { value: "one" }), fm)
        yield* client.apply(widgetResource, widget(ns, "w1"), fm)
        const first = yield* statusIsReplay(ns, "w1", (w) => condition(w, "Ready")?.status === "True")
        expect(first.j.object.metadata.ownerReferences).toEqual([
          expect.objectContaining({
            kind: "Widget",
            name: "w1",
            uid: first.w.metadata.uid,
            controller: true,
          }),
        ])
        expect((first.j.object.spec as { subject: unknown }).subject).toEqual({
          apiVersion: "test.kustodian.dev/v1",
          kind: "Widget",
          name: "w1",
          uid: first.w.metadata.uid,
        })
        expect(first.j.state.records.length).toBeGreaterThanOrEqual(1)

        // Deleted by hand (the status subresource): the journal puts it back, with nothing new to reconcile.
        const records = first.j.state.records.length
        yield* client.patch(
          widgetResource,
          { name: "w1", namespace: ns, subresource: "status" },
          { status: null },
        )
        const back = yield* statusIsReplay(ns, "w1", (w) => condition(w, "Ready")?.status === "True")
        expect(statusEquals(statusOf(back.w), statusOf(first.w))).toBe(false) // one more reconcile counted
        expect(statusOf(back.w).lastAppliedRevision).toBe(statusOf(first.w).lastAppliedRevision)
        expect(back.j.state.records.length).toBe(records)
        // Edited by hand: the same.
        yield* client.patch(
          widgetResource,
          { name: "w1", namespace: ns, subresource: "status" },
          { status: { lastAppliedRevision: "forged" } },
        )
        const repaired = yield* statusIsReplay(ns, "w1", (w) => statusOf(w).lastAppliedRevision !== "forged")
        expect(statusOf(repaired.w).lastAppliedRevision).toBe(statusOf(first.w).lastAppliedRevision)

        // w2 (interval 1s): no-change reconciles collapse into one record whose count is flushed in batches.
        yield* client.apply(CoreResources.configMap, configMap(ns, "w2-cm", { value: "two" }), fm)
        yield* client.apply(widgetResource, widget(ns, "w2", "1s"), fm)
        const counted = yield* waitFor(
          "w2: a collapsed record counting three no-change reconciles",
          journalOf(ns, "w2").pipe(
            Effect.map(Option.filter((j) => (j.state.records.at(-1)?.count ?? 0) >= 3)),
          ),
        )
        expect(counted.state.records.length).toBeLessThanOrEqual(3)
        const rv = counted.object.metadata.resourceVersion
        // Counts are written in batches (every 500 ms here), not once per reconcile: ≥ 3 reconciles, fewer writes.
        const later = yield* waitFor(
          "w2: counts flushed",
          journalOf(ns, "w2").pipe(
            Effect.map(Option.filter((j) => j.object.metadata.resourceVersion !== rv)),
          ),
        )
        expect(later.state.records.at(-1)!.count).toBeGreaterThan(counted.state.records.at(-1)!.count)

        // A stage that dies: StageFailed for the stage, Ready=False, retried; not stuck at the progress write.
        yield* client.apply(widgetResource, widget(ns, "dies"), fm)
        const died = yield* waitFor(
          "dies: Ready=False",
          getWidget(ns, "dies").pipe(
            Effect.map((w) => (condition(w, "Ready")?.status === "False" ? Option.some(w) : Option.none())),
          ),
        )
        expect(condition(died, "Ready")).toMatchObject({
          reason: "ReconciliationFailed",
          message: "internal error: boom",
        })
        expect(condition(died, "Reconciling")).toMatchObject({
          status: "True",
          reason: "ProgressingWithRetry",
        })
        const diedJournal = yield* statusIsReplay(ns, "dies")
        const failed = diedJournal.j.state.records
          .flatMap((r) => r.events)
          .find((e) => e.event._tag === "StageFailed")
        expect(failed?.event).toMatchObject({
          stage: "build",
          reason: "ReconciliationFailed",
          terminal: false,
        })

        // The journal goes with its object.
        yield* client.delete(widgetResource, "w1", ns)
        yield* waitFor(
          "w1's journal gone",
          journalOf(ns, "w1").pipe(Effect.map((j) => (Option.isNone(j) ? Option.some(true) : Option.none()))),
        )
        yield* Fiber.interrupt(manager)
      }).pipe(Effect.provide(kube())),
    180_000,
  )

  it.live(
    "SIGKILL mid-reconcile: the journal is intact and the status replayed; a Lease taken away mid-reconcile: the old leader appends nothing",
    () =>
      Effect.gen(function* () {
        const client = yield* KubeClient
        const ns = yield* testNamespace("journal-kill")
        yield* installWidgetCrd
        const kubeconfig = testKubeconfigPath()
        const env = {
          LEASE_NAMESPACE: ns,
          LEASE_DURATION_MS: "6000",
          RENEW_DEADLINE_MS: "4000",
          RETRY_PERIOD_MS: "500",
          SHUTDOWN_GRACE_MS: "15000",
          JOURNAL_FLUSH_MS: "300",
        }
        const leaseName = "widget-controller-leader-election"
        const holder = client.getOption<KubeObject & { spec?: { holderIdentity?: string } }>(
          CoreResources.lease,
          leaseName,
          ns,
        )
        const leads = (identity: string) =>
          waitFor(
            `${identity} leads`,
            holder.pipe(
              Effect.map((l) =>
                Option.isSome(l) && l.value.spec?.holderIdentity === identity
                  ? Option.some(true)
                  : Option.none(),
              ),
            ),
          )
        // A reconcile of a new generation writes its progress status first (Reconciling=True for it).
        const progressing = (generation: number) =>
          waitFor(
            `w1 progressing at generation ${generation}`,
            getWidget(ns, "w1").pipe(
              Effect.map((w) => {
                const c = condition(w, "Reconciling")
                return c?.status === "True" && c.observedGeneration === generation
                  ? Option.some(w)
                  : Option.none()
              }),
            ),
          )

        const a = yield* operatorProcess({ kubeconfig, identity: "op-a", namespace: ns, env })
        yield* leads("op-a")
        yield* client.apply(CoreResources.configMap, configMap(ns, "w1-cm", { value: "one" }), fm)
        yield* client.apply(widgetResource, widget(ns, "w1"), fm)
        const before = yield* statusIsReplay(ns, "w1", (w) => condition(w, "Ready")?.status === "True")

        // A slow build (a ConfigMap change: no progress write), then a new generation with it: SIGKILL while it
        // runs (its progress status is written, so the test sees it).
        const bump = (interval: string) => client.apply(widgetResource, widget(ns, "w1", interval), fm)
        const cm = yield* client.apply(
          CoreResources.configMap,
          configMap(ns, "w1-cm", { value: "two", sleep: "3000" }),
          fm,
        )
        const revision = `w1-cm@rv:${cm.metadata.resourceVersion}`
        const slow = yield* statusIsReplay(ns, "w1", (w) => statusOf(w).lastAppliedRevision === revision)
        yield* bump("2h")
        yield* progressing(2)
        signal(a.pid, "SIGKILL")
        const afterKill = yield* journalOf(ns, "w1")
        // The killed reconcile had not appended; the stored journal is what it was.
        expect(Option.getOrThrow(afterKill).state.records).toEqual(slow.j.state.records)

        const b = yield* operatorProcess({ kubeconfig, identity: "op-b", namespace: ns, env })
        yield* leads("op-b")
        const resumed = yield* statusIsReplay(ns, "w1", (w) => statusOf(w).observedGeneration === 2)
        // The journal kept everything from before the kill, in order, then op-b's reconcile.
        expect(resumed.j.state.records.slice(0, before.j.state.records.length)).toEqual(
          before.j.state.records,
        )
        expect(resumed.j.state.records.slice(0, slow.j.state.records.length)).toEqual(slow.j.state.records)
        expect(recordsText(resumed.j.state)).toContain("building on op-b")
        expect(condition(resumed.w, "Ready")?.message).toBe(`Applied revision: ${revision}`)

        // op-c stands by; mid-reconcile of op-b (generation 3) the Lease is handed to op-c.
        const c = yield* operatorProcess({ kubeconfig, identity: "op-c", namespace: ns, env })
        yield* bump("3h")
        yield* progressing(3)
        const lease = Option.getOrThrow(yield* holder)
        yield* client.replace(CoreResources.lease, {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: "op-c",
            renewTime: new Date().toISOString().replace("Z", "000Z"),
          },
        })
        yield* leads("op-c")
        const raced = yield* statusIsReplay(ns, "w1", (w) => statusOf(w).observedGeneration === 3)
        yield* waitFor(
          "op-b's reconcile ended, its journal write dropped",
          Effect.sync(() =>
            logTail(b.logFile, 200).includes("journal write dropped") ? Option.some(true) : Option.none(),
          ),
          30_000,
        )
        const final = Option.getOrThrow(yield* journalOf(ns, "w1"))
        // Generation 3 was reconciled by both; only op-c's reconcile is in the journal.
        const ofGeneration3 = final.state.records.filter((r) =>
          JSON.stringify(r.events).includes('"generation":3'),
        )
        expect(ofGeneration3.map((r) => JSON.stringify(r.events).includes("building on op-c"))).toEqual([
          true,
        ])
        expect(statusEquals(statusOf(raced.w), replay(final.state))).toBe(true)
        expect(logTail(c.logFile, 400)).toContain("became leader")
      }).pipe(Effect.provide(kube())),
    240_000,
  )
})
