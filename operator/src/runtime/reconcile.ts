/**
 * One reconcile of one object: the context its stages see, the progress write, the outcome as domain events
 * (every stage failure — defects included — arrives as a typed {@link StageFailed} and is recorded as one),
 * the status fold and write, the Events, metrics and log line, and what happens next.
 *
 * @module
 */
import { randomUUID } from "node:crypto"
import { Clock, Effect, Random } from "effect"
import { ConditionType } from "../../../model/condition.ts"
import { formatDuration } from "../../../model/duration.ts"
import { type DomainEvent, isOutcome, type Recorded, timestamp } from "../../../model/events.ts"
import { project, type ReconcileStatus, statusEquals } from "../../../model/projection.ts"
import type { KubeObject } from "../kube/object.ts"
import type { ObjectKey, ResourceRef } from "../kube/resource.ts"
import { keyOf } from "../kube/resource.ts"
import {
  inc,
  reconcileDuration,
  reconcileErrors,
  reconcilePanics,
  reconcileTime,
  reconcileTotal,
  record,
  terminalReconcileErrors,
} from "../metrics/metrics.ts"
import { announce } from "./announce.ts"
import { intervalWithJitter } from "./backoff.ts"
import {
  Action,
  type ControllerSpec,
  type ReconcileContext,
  ReconcileRequestAnnotation,
} from "./controller.ts"
import type { JournalStore } from "./journal-store.ts"
import type { makeObjectMetrics } from "./object-metrics.ts"
import type { Recorder } from "./recorder.ts"
import { atStageBoundary, type StageFailed, stageFailed } from "./stage.ts"
import type { StatusWriter } from "./status-writer.ts"
import type { Store } from "./store.ts"
import type { WorkQueue } from "./workqueue.ts"

export interface ReconcilerDeps<K extends KubeObject, R> {
  readonly spec: ControllerSpec<K, R>
  readonly queue: WorkQueue
  readonly status: StatusWriter
  readonly journal: JournalStore
  readonly recorder: Recorder
  readonly outbox: { readonly offer: (send: Effect.Effect<void>) => Effect.Effect<void> }
  readonly metrics: ReturnType<typeof makeObjectMetrics<K>>
  readonly cache: (resource: ResourceRef) => Store<KubeObject> | undefined
  readonly intervalJitter: number
}

export const makeReconciler = <K extends KubeObject, R>(deps: ReconcilerDeps<K, R>) => {
  const { spec, queue, recorder } = deps
  const kind = spec.resource.kind
  const controller = kind.toLowerCase()

  const context = (
    obj: K,
    status: ReconcileStatus,
    entries: Recorded[],
    /** Runs once, before the first `Progressed` event is recorded (the progress status write). */
    onProgress: { run: Effect.Effect<void> | undefined },
  ): ReconcileContext<K> => ({
    object: obj,
    key: keyOf(obj),
    status,
    cache: deps.cache,
    emit: (...events: ReadonlyArray<DomainEvent>) =>
      Effect.gen(function* () {
        const first = onProgress.run
        if (first !== undefined && events.some((e) => e._tag === "Progressed")) {
          onProgress.run = undefined
          yield* first
        }
        const now = yield* Clock.currentTimeMillis
        for (const event of events) entries.push({ at: timestamp(new Date(now)), event })
      }),
    stage: (name, effect) =>
      atStageBoundary(name, effect).pipe(
        Effect.withSpan(`Stage.${name}`, { attributes: { "k8s.kind": kind, "k8s.name": obj.metadata.name } }),
      ),
  })

  /** Schedules the retry of a failed reconcile; returns its delay (ms), undefined when none is scheduled. */
  const failureAction = (obj: K, failure: StageFailed, key: ObjectKey) =>
    Effect.gen(function* () {
      const decided = spec.errorPolicy?.(obj, failure, queue.failures(key) + 1)
      if (decided !== undefined && decided !== "Backoff") return yield* schedule(key, decided)
      if (failure.terminal) return undefined
      if (failure.retryAfterMs !== undefined) {
        yield* queue.addAfter(key, failure.retryAfterMs)
        return failure.retryAfterMs
      }
      const cap = spec.retryInterval?.(obj) ?? spec.interval(obj)
      const delay = yield* queue.addRateLimited(key)
      // Flux retries at retryInterval at most; keep the backoff under that cap.
      if (delay > cap) yield* queue.addAfter(key, cap)
      return Math.min(delay, cap)
    })

  const schedule = (key: ObjectKey, action: Action) =>
    action._tag === "RequeueAfter"
      ? queue.addAfter(key, action.ms).pipe(Effect.as(action.ms as number | undefined))
      : Effect.succeed(undefined)

  /** Runs the declared pipeline; whatever it fails or dies with outside a stage is the "reconcile" stage's. */
  const runPipeline = (ctx: ReconcileContext<K>) =>
    atStageBoundary("reconcile", spec.reconcile(ctx)).pipe(Effect.result)

  const reconcile = Effect.fn("Reconciler.reconcile")(function* (obj: K) {
    const key = keyOf(obj)
    const started = yield* Clock.currentTimeMillis
    // The status is a replay of the journal; what the API server holds may differ (edited by hand, deleted,
    // or behind after a crash), and the final write then puts the replay back.
    const observed = deps.status.observed(obj)
    const last = yield* deps.journal.load(obj, observed)
    const entries: Recorded[] = []
    // Show progress only when someone is waiting for it (new spec, manual request, never ready) and only
    // once real work starts (the first Progressed event): a reconcile that finds nothing to do — periodic,
    // or a requestedAt answered from unchanged inputs — writes at most once, at the end.
    const onProgress: { run: Effect.Effect<void> | undefined } = { run: undefined }
    // What the API server holds now: `last`, or the progress status once that is written. The final
    // write compares with it, so an outcome equal to `last` still replaces a progress status.
    let stored = observed
    const ctx = context(obj, last, entries, onProgress)
    const requested = obj.metadata.annotations?.[ReconcileRequestAnnotation]
    const handles = requested !== undefined && requested !== last.lastHandledReconcileAt
    yield* ctx.emit({
      _tag: "ReconcileStarted",
      generation: obj.metadata.generation ?? 0,
      ...(handles ? { requestedAt: requested } : {}),
    })

    const ready = last.conditions?.find((c) => c.type === ConditionType.Ready)
    if (handles || ready === undefined || last.observedGeneration !== obj.metadata.generation)
      onProgress.run = Effect.gen(function* () {
        const progress = project(last, entries)
        if (!statusEquals(progress, stored)) {
          yield* deps.status.write(obj, progress)
          stored = progress
        }
      }).pipe(
        // Progress is a courtesy: the final write reports the outcome, whatever happened here.
        Effect.ignore,
      )

    const outcome = yield* runPipeline(ctx)
    const durationMs = (yield* Clock.currentTimeMillis) - started
    const failure = outcome._tag === "Failure" ? outcome.failure : undefined
    if (failure !== undefined) {
      yield* ctx.emit({
        _tag: "StageFailed",
        stage: failure.stage,
        reason: failure.reason,
        message: failure.message,
        terminal: failure.terminal,
        durationMs,
        ...(failure.event !== undefined ? { event: failure.event } : {}),
      })
    } else {
      const i = entries.findIndex((e) => isOutcome(e.event))
      const own = entries[i]
      if (own === undefined)
        yield* ctx.emit({ _tag: "Succeeded", message: "Reconciliation succeeded", durationMs })
      // The controller said how it succeeded; how long it took is the runtime's to measure.
      else if (own.event._tag === "Succeeded" && own.event.durationMs === undefined)
        entries[i] = { ...own, event: { ...own.event, durationMs } }
    }

    // The journal first: it is the source of truth, the status its fold.
    const { status: next, dropped } = yield* deps.journal.append(obj, entries)
    // Dropped: this process lost the lease meanwhile; the new leader writes the status from the journal.
    if (!dropped && !statusEquals(next, stored)) yield* deps.status.write(obj, next)

    const interval = spec.interval(obj)
    yield* announceAll(obj, entries, last, next, interval)
    yield* record(reconcileDuration, deps.metrics.labels(obj), durationMs / 1000)
    yield* record(reconcileTime, { controller }, durationMs / 1000)
    yield* deps.metrics.conditions(obj, next)
    yield* deps.metrics.suspend(obj)
    const revision = next.lastAttemptedRevision ?? ""

    if (failure === undefined) {
      yield* queue.forget(key)
      const action =
        outcome._tag === "Success" && outcome.success !== undefined
          ? outcome.success
          : Action.requeueAfter(intervalWithJitter(interval, deps.intervalJitter, yield* Random.next))
      const after = yield* schedule(key, action)
      // controller-runtime's result label: a success that schedules its next run is `requeue_after`.
      yield* inc(reconcileTotal, { controller, result: after === undefined ? "success" : "requeue_after" })
      yield* Effect.logInfo(
        `Reconciliation finished in ${formatDuration(durationMs)}, next run in ${formatDuration(interval)}`,
      ).pipe(Effect.annotateLogs({ revision }))
      return
    }
    yield* logFailure(obj, key, failure, durationMs, revision)
  }, withReconcileLogs)

  const logFailure = (obj: K, key: ObjectKey, failure: StageFailed, durationMs: number, revision: string) =>
    Effect.gen(function* () {
      const after = yield* failureAction(obj, failure, key)
      const took = `Reconciliation failed after ${formatDuration(durationMs)}`
      if (failure.retryAfterMs !== undefined && after !== undefined) {
        // Waiting for something (a dependency, a source): Flux requeues without an error and logs it as info.
        yield* inc(reconcileTotal, { controller, result: "requeue_after" })
        yield* Effect.logInfo(`${failure.message}, retrying in ${formatDuration(after)}`).pipe(
          Effect.annotateLogs({ revision, reason: failure.reason }),
        )
        return
      }
      yield* inc(reconcileTotal, { controller, result: "error" })
      yield* inc(reconcileErrors, { controller })
      if (failure.terminal) yield* inc(terminalReconcileErrors, { controller })
      // controller-runtime counts a recovered panic apart; so do we for a stage that died.
      if (failure.defect) yield* inc(reconcilePanics, { controller })
      yield* Effect.logError(
        after === undefined ? took : `${took}, next try in ${formatDuration(after)}`,
      ).pipe(
        Effect.annotateLogs({
          revision,
          reason: failure.reason,
          stage: failure.stage,
          error: failure.message,
        }),
      )
    })

  const announceAll = (
    obj: K,
    entries: ReadonlyArray<Recorded>,
    last: ReconcileStatus,
    next: ReconcileStatus,
    interval: number,
  ) => {
    const metadata = spec.eventMetadata?.(obj, next) ?? {}
    return deps.outbox.offer(
      Effect.forEach(
        announce(entries, last, next, interval, spec.successEvents),
        (a) =>
          recorder.publish(spec.resource, obj, {
            type: a.type,
            reason: a.reason,
            note: a.note,
            annotations: a.commitStatus
              ? { ...metadata, [`${spec.resource.group}/commit_status`]: "update" }
              : metadata,
          }),
        { discard: true },
      ),
    )
  }

  /** controller-runtime's reconcile logger fields, which `flux logs` and Loki queries select on, and a span. */
  function withReconcileLogs<A, E, R2>(self: Effect.Effect<A, E, R2>, obj: K): Effect.Effect<A, E, R2> {
    return self.pipe(
      Effect.annotateLogs({
        controller,
        controllerGroup: spec.resource.group,
        controllerKind: kind,
        [kind]: { name: obj.metadata.name, namespace: obj.metadata.namespace ?? "" },
        namespace: obj.metadata.namespace ?? "",
        name: obj.metadata.name,
        reconcileID: randomUUID(),
      }),
      Effect.withSpan(`Reconcile.${kind}`, {
        attributes: {
          "k8s.kind": kind,
          "k8s.namespace": obj.metadata.namespace ?? "",
          "k8s.name": obj.metadata.name,
        },
      }),
    )
  }

  /** Runs the cleanup of an object being deleted; returns once the finalizer may go, or schedules a retry. */
  const finalize = Effect.fn("Reconciler.finalize")(function* (obj: K) {
    const entries: Recorded[] = []
    const cleanup = spec.cleanup
    if (cleanup === undefined) return true
    const ctx = context(obj, deps.status.observed(obj), entries, { run: undefined })
    const result = yield* atStageBoundary("cleanup", cleanup.run(ctx)).pipe(Effect.result)
    if (result._tag === "Failure") {
      const failure = result.failure
      yield* recorder.publish(spec.resource, obj, {
        type: "Warning",
        reason: failure.reason,
        note: failure.message,
      })
      yield* failureAction(obj, failure, keyOf(obj))
      return false
    }
    // The object goes once its finalizer does, and its journal with it.
    yield* deps.journal.drop(obj)
    return true
  })

  return { reconcile, finalize, stageFailed }
}
