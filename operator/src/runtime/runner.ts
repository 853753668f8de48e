import { randomUUID } from "node:crypto"
import { Clock, Deferred, Effect, Queue, Random } from "effect"
import { ConditionType } from "../../../model/condition.ts"
import { formatDuration } from "../../../model/duration.ts"
import { type DomainEvent, isOutcome, type Recorded, timestamp } from "../../../model/events.ts"
import { project, type ReconcileStatus, statusEquals } from "../../../model/projection.ts"
import { KubeClient } from "../kube/client.ts"
import {
  apiVersionOf,
  type KubeObject,
  keyOf,
  type ObjectKey,
  parseObjectKey,
  type ResourceRef,
} from "../kube/resource.ts"
import {
  activeWorkers,
  conditionGauge,
  inc,
  maxConcurrentReconciles,
  reconcileDuration,
  reconcileErrors,
  reconcilePanics,
  reconcileTime,
  reconcileTotal,
  record,
  remove,
  suspendGauge,
  terminalReconcileErrors,
} from "../metrics/metrics.ts"
import { announce } from "./announce.ts"
import { intervalWithJitter } from "./backoff.ts"
import {
  Action,
  type ControllerSpec,
  type ReconcileContext,
  type ReconcileFailure,
  ReconcileRequestAnnotation,
  toFailure,
} from "./controller.ts"
import { type Journal, makeJournal } from "./journal.ts"
import { makeRecorder } from "./recorder.ts"
import type { Store } from "./store.ts"
import { type CacheEvent, makeReflector, type WatcherOptions } from "./watcher.ts"
import { makeWorkQueue, type WorkQueue } from "./workqueue.ts"

export interface RunOptions {
  /** Concurrent reconciles (default 4); one key is never reconciled twice at once. */
  readonly workers?: number | undefined
  /** `reportingInstance` of Events (pod name). */
  readonly instance?: string | undefined
  /** Jitter added to the success interval (Flux default 5% … we use 10%). */
  readonly intervalJitter?: number | undefined
  /** Overrides of the watchers' timing (tests shorten them). */
  readonly watch?:
    | Pick<WatcherOptions<KubeObject>, "silenceMs" | "timeoutSeconds" | "backoffBaseMs" | "backoffCapMs">
    | undefined
  /** Backoff of failed reconciles. */
  readonly backoff?: { readonly baseMs: number; readonly capMs: number } | undefined
}

/** A controller at run time: its cache, queue and journal, for health checks and tests. */
export interface RunningController<K extends KubeObject> {
  readonly kind: string
  readonly store: Store<K>
  readonly queue: WorkQueue
  readonly journal: Journal
  /** Completes once every watch listed once and workers started. */
  readonly ready: Deferred.Deferred<void>
}

const cacheId = (ref: ResourceRef) => `${ref.plural}.${ref.group}/${ref.version}`

const statusOf = (obj: KubeObject): ReconcileStatus => (obj.status as ReconcileStatus | undefined) ?? {}

/** Did this change ask for a reconcile? (Flux: generation changed, requestedAt changed, deletion started.) */
const wantsReconcile = (
  previous: KubeObject | undefined,
  obj: KubeObject,
  finalizer: string | undefined,
): boolean => {
  if (previous === undefined) return true
  if (previous.metadata.generation !== obj.metadata.generation) return true
  if (
    previous.metadata.annotations?.[ReconcileRequestAnnotation] !==
    obj.metadata.annotations?.[ReconcileRequestAnnotation]
  )
    return true
  if (obj.metadata.deletionTimestamp !== undefined && previous.metadata.deletionTimestamp === undefined)
    return true
  if (
    finalizer !== undefined &&
    !(obj.metadata.finalizers ?? []).includes(finalizer) &&
    obj.metadata.deletionTimestamp === undefined
  )
    return true
  return false
}

/**
 * Runs a declared controller until interrupted: watches with caches, a keyed queue, N workers. On
 * interruption the queue stops handing out keys first; the caller's scope decides how long in-flight
 * reconciles may finish (see `Manager`).
 */
export const runController = <K extends KubeObject, R>(
  spec: ControllerSpec<K, R>,
  options: RunOptions = {},
) =>
  Effect.gen(function* () {
    const client = yield* KubeClient
    const kind = spec.resource.kind
    // controller-runtime names a controller after its kind in lower case; metrics and logs carry that name.
    const controller = kind.toLowerCase()
    const apiVersion = apiVersionOf(spec.resource)
    const workers = options.workers ?? 4
    const finalizer = spec.cleanup?.finalizer
    const journal = makeJournal()
    const ready = yield* Deferred.make<void>()
    const queue = yield* makeWorkQueue({
      name: controller,
      backoff: {
        baseMs: options.backoff?.baseMs ?? 1_000,
        capMs: options.backoff?.capMs ?? 5 * 60_000,
        factor: 2,
        jitter: 0.2,
      },
    })
    const recorder = yield* makeRecorder({
      controller: spec.controllerName,
      instance: options.instance ?? spec.controllerName,
    })
    // A reconcile's Events go out on a fiber of their own, in order: its worker is free once the status is
    // written, not two more round trips later. Bounded: should the API server fall behind, the oldest pending
    // Events are dropped (as client-go's broadcaster drops); what is pending at shutdown gets a second to go out.
    const outbox = yield* Queue.sliding<Effect.Effect<void>>(10_000)
    yield* Effect.addFinalizer(() =>
      Queue.clear(outbox).pipe(
        Effect.flatMap((pending) => Effect.forEach(pending, (send) => send, { discard: true })),
        Effect.timeout("1 second"),
        Effect.ignore,
      ),
    )
    yield* Effect.forkScoped(Effect.forever(Effect.flatten(Queue.take(outbox))))
    // The status this process wrote last: fresher than the cache until the watch catches up.
    const written = new Map<ObjectKey, { uid: string | undefined; status: ReconcileStatus }>()

    const primary = yield* makeReflector<K>({
      resource: spec.resource,
      namespace: spec.namespace,
      labelSelector: spec.labelSelector,
      indexes: spec.indexes,
      ...options.watch,
    })

    const onPrimary = (event: CacheEvent<K>): Effect.Effect<void> => {
      switch (event._tag) {
        case "Applied":
          return wantsReconcile(event.previous, event.object, finalizer)
            ? queue.add(keyOf(event.object))
            : Effect.void
        case "Deleted":
          return Effect.sync(() => {
            const key = keyOf(event.object)
            journal.drop(key)
            written.delete(key)
          }).pipe(Effect.andThen(queue.forget(keyOf(event.object))), Effect.andThen(dropSeries(event.object)))
        case "Restarted": {
          // After a relist (first start, or the API server was away) reconcile whatever changed meanwhile.
          const gone: KubeObject[] = []
          for (const [key, previous] of event.previous.entries()) {
            if (primary.store.get(key) === undefined) {
              journal.drop(key)
              written.delete(key)
              gone.push(previous)
            }
          }
          return Effect.forEach(gone, dropSeries, { discard: true }).pipe(
            Effect.andThen(
              Effect.forEach(
                event.objects,
                (obj) => {
                  const previous = event.previous.get(keyOf(obj))
                  const stale = statusOf(obj).observedGeneration !== obj.metadata.generation
                  return wantsReconcile(previous, obj, finalizer) || stale
                    ? queue.add(keyOf(obj))
                    : Effect.void
                },
                { discard: true },
              ),
            ),
          )
        }
      }
    }

    yield* Effect.forkScoped(primary.run(onPrimary))
    const secondaries = yield* Effect.forEach(spec.watches ?? [], (watch) =>
      Effect.gen(function* () {
        const reflector = yield* makeReflector<KubeObject>({
          resource: watch.resource,
          namespace: watch.namespace,
          labelSelector: watch.labelSelector,
          ...options.watch,
        })
        const requeue = (obj: KubeObject) =>
          Effect.forEach(watch.map(obj, primary.store), (key) => queue.add(key), { discard: true })
        yield* Effect.forkScoped(
          reflector.run((event) => {
            switch (event._tag) {
              case "Applied":
                // A resync that changed nothing, or a change the watch declares irrelevant, requeues nobody.
                return event.previous !== undefined &&
                  (event.previous.metadata.resourceVersion === event.object.metadata.resourceVersion ||
                    (watch.changed !== undefined && !watch.changed(event.previous, event.object)))
                  ? Effect.void
                  : requeue(event.object)
              case "Deleted":
                return requeue(event.object)
              case "Restarted":
                return Effect.forEach(event.objects, requeue, { discard: true })
            }
          }),
        )
        return reflector
      }),
    )

    const caches = new Map<string, Store<KubeObject>>([
      [cacheId(spec.resource), primary.store as Store<KubeObject>],
    ])
    for (const [i, watch] of (spec.watches ?? []).entries())
      caches.set(cacheId(watch.resource), secondaries[i]!.store)

    const writeStatus = (obj: K, status: ReconcileStatus) =>
      client
        .applyStatus(
          spec.resource,
          {
            apiVersion,
            kind,
            metadata: {
              name: obj.metadata.name,
              ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
            },
            status,
          },
          { fieldManager: spec.fieldManager },
        )
        .pipe(
          Effect.tap(() => Effect.sync(() => written.set(keyOf(obj), { uid: obj.metadata.uid, status }))),
          // The object may be gone already; its next watch event settles it.
          Effect.catchTag("KubeApiError", (e) => (e.isNotFound ? Effect.void : Effect.fail(e))),
        )

    const lastStatus = (obj: K): ReconcileStatus => {
      const mine = written.get(keyOf(obj))
      return mine !== undefined && mine.uid === obj.metadata.uid ? mine.status : statusOf(obj)
    }

    const setFinalizers = (obj: K, finalizers: ReadonlyArray<string>) =>
      client.apply(
        spec.resource,
        {
          apiVersion,
          kind,
          metadata: {
            name: obj.metadata.name,
            ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
            finalizers: [...finalizers],
          },
        },
        // A manager of its own: applying an empty list removes only the finalizer this manager added.
        { fieldManager: `${spec.controllerName}-finalizer` },
      )

    const objectLabels = (obj: KubeObject) => ({
      kind,
      name: obj.metadata.name,
      namespace: obj.metadata.namespace ?? "",
    })
    const conditionTypes = [ConditionType.Ready, ConditionType.Reconciling, ConditionType.Stalled]
    const conditionStatuses = ["True", "False", "Unknown"] as const

    /** Flux's RecordCondition: the status a condition has is 1, the others 0; an absent condition is no series. */
    const conditionMetrics = (obj: K, status: ReconcileStatus) =>
      Effect.forEach(
        conditionTypes,
        (type) => {
          const current = status.conditions?.find((c) => c.type === type)?.status
          return Effect.forEach(
            conditionStatuses,
            (s) =>
              current === undefined
                ? remove(conditionGauge, { ...objectLabels(obj), type, status: s })
                : record(conditionGauge, { ...objectLabels(obj), type, status: s }, current === s ? 1 : 0),
            { discard: true },
          )
        },
        { discard: true },
      )

    const suspendMetric = (obj: K) =>
      record(suspendGauge, objectLabels(obj), spec.suspended?.(obj) === true ? 1 : 0)

    /** A deleted object's series go with it (Flux's Delete* calls), so dashboards stop listing it. */
    const dropSeries = (obj: KubeObject): Effect.Effect<void> =>
      Effect.gen(function* () {
        const labels = objectLabels(obj)
        yield* remove(reconcileDuration, labels)
        yield* remove(suspendGauge, labels)
        for (const type of conditionTypes)
          for (const status of conditionStatuses) yield* remove(conditionGauge, { ...labels, type, status })
      })

    const context = (
      obj: K,
      status: ReconcileStatus,
      entries: Recorded[],
      stageRef: { current: string },
      /** Runs once, before the first `Progressed` event is recorded (the progress status write). */
      onProgress: { run: Effect.Effect<void> | undefined },
    ): ReconcileContext<K> => ({
      object: obj,
      key: keyOf(obj),
      status,
      cache: (resource) => caches.get(cacheId(resource)),
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
        Effect.suspend(() => {
          stageRef.current = name
          return effect
        }).pipe(
          Effect.withSpan(`Stage.${name}`, {
            attributes: { "k8s.kind": kind, "k8s.name": obj.metadata.name },
          }),
        ),
    })

    /** Schedules the retry of a failed reconcile; returns its delay (ms), undefined when none is scheduled. */
    const failureAction = (obj: K, failure: ReconcileFailure, key: ObjectKey) =>
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

    const reconcileObject = (obj: K) =>
      Effect.gen(function* () {
        const key = keyOf(obj)
        const started = yield* Clock.currentTimeMillis
        const last = lastStatus(obj)
        const entries: Recorded[] = []
        const stageRef = { current: "reconcile" }
        // Show progress only when someone is waiting for it (new spec, manual request, never ready) and only
        // once real work starts (the first Progressed event): a reconcile that finds nothing to do — periodic,
        // or a requestedAt answered from unchanged inputs — writes at most once, at the end.
        const onProgress: { run: Effect.Effect<void> | undefined } = { run: undefined }
        // What the API server holds now: `last`, or the progress status once that is written. The final
        // write compares with it, so an outcome equal to `last` still replaces a progress status.
        let stored = last
        const ctx = context(obj, last, entries, stageRef, onProgress)
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
            if (!statusEquals(progress, last)) {
              yield* writeStatus(obj, progress)
              stored = progress
            }
          }).pipe(
            // Progress is a courtesy: the final write reports the outcome, whatever happened here.
            Effect.ignore,
          )

        const outcome = yield* spec.reconcile(ctx).pipe(Effect.result)
        const durationMs = (yield* Clock.currentTimeMillis) - started
        let failure: ReconcileFailure | undefined
        if (outcome._tag === "Failure") {
          failure = toFailure(outcome.failure)
          yield* ctx.emit({
            _tag: "StageFailed",
            stage: stageRef.current,
            reason: failure.reason,
            message: failure.message,
            terminal: failure.terminal === true,
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

        const next = project(last, entries)
        if (!statusEquals(next, stored)) yield* writeStatus(obj, next)
        journal.append(key, entries)

        const interval = spec.interval(obj)
        const metadata = spec.eventMetadata?.(obj, next) ?? {}
        yield* Queue.offer(
          outbox,
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
        yield* record(reconcileDuration, objectLabels(obj), durationMs / 1000)
        yield* record(reconcileTime, { controller }, durationMs / 1000)
        yield* conditionMetrics(obj, next)
        yield* suspendMetric(obj)
        const revision = next.lastAttemptedRevision ?? ""

        if (failure === undefined) {
          yield* queue.forget(key)
          const action =
            outcome._tag === "Success" && outcome.success !== undefined
              ? outcome.success
              : Action.requeueAfter(
                  intervalWithJitter(interval, options.intervalJitter ?? 0.1, yield* Random.next),
                )
          const after = yield* schedule(key, action)
          // controller-runtime's result label: a success that schedules its next run is `requeue_after`.
          yield* inc(reconcileTotal, {
            controller,
            result: after === undefined ? "success" : "requeue_after",
          })
          yield* Effect.logInfo(
            `Reconciliation finished in ${formatDuration(durationMs)}, next run in ${formatDuration(interval)}`,
          ).pipe(Effect.annotateLogs({ revision }))
        } else {
          const after = yield* failureAction(obj, failure, key)
          const took = `Reconciliation failed after ${formatDuration(durationMs)}`
          if (failure.retryAfterMs !== undefined && after !== undefined) {
            // Waiting for something (a dependency, a source): Flux requeues without an error and logs it as info.
            yield* inc(reconcileTotal, { controller, result: "requeue_after" })
            yield* Effect.logInfo(`${failure.message}, retrying in ${formatDuration(after)}`).pipe(
              Effect.annotateLogs({ revision, reason: failure.reason }),
            )
          } else {
            yield* inc(reconcileTotal, { controller, result: "error" })
            yield* inc(reconcileErrors, { controller })
            if (failure.terminal) yield* inc(terminalReconcileErrors, { controller })
            yield* Effect.logError(
              after === undefined ? took : `${took}, next try in ${formatDuration(after)}`,
            ).pipe(
              Effect.annotateLogs({
                revision,
                reason: failure.reason,
                stage: stageRef.current,
                error: failure.message,
              }),
            )
          }
        }
      }).pipe(
        // controller-runtime's reconcile logger fields, which `flux logs` and Loki queries select on.
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

    const finalize = (obj: K) =>
      Effect.gen(function* () {
        if (spec.cleanup === undefined || finalizer === undefined) return
        if (!(obj.metadata.finalizers ?? []).includes(finalizer)) return
        const entries: Recorded[] = []
        const ctx = context(obj, lastStatus(obj), entries, { current: "cleanup" }, { run: undefined })
        const result = yield* spec.cleanup.run(ctx).pipe(Effect.result)
        journal.append(keyOf(obj), entries)
        if (result._tag === "Failure") {
          const failure = toFailure(result.failure)
          yield* recorder.publish(spec.resource, obj, {
            type: "Warning",
            reason: failure.reason,
            note: failure.message,
          })
          return yield* failureAction(obj, failure, keyOf(obj))
        }
        yield* setFinalizers(obj, [])
        yield* queue.forget(keyOf(obj))
      }).pipe(Effect.withSpan(`Finalize.${kind}`))

    const countError = Effect.all([
      inc(reconcileTotal, { controller, result: "error" }),
      inc(reconcileErrors, { controller }),
    ])

    const process = (key: ObjectKey) =>
      Effect.gen(function* () {
        const obj = primary.store.get(key)
        if (obj === undefined) return yield* queue.forget(key)
        if (obj.metadata.deletionTimestamp !== undefined) return yield* finalize(obj)
        if (finalizer !== undefined && !(obj.metadata.finalizers ?? []).includes(finalizer)) {
          yield* setFinalizers(obj, [finalizer])
        }
        if (spec.suspended?.(obj) === true) {
          yield* suspendMetric(obj)
          return yield* Effect.logInfo("Reconciliation is suspended for this object").pipe(
            Effect.annotateLogs({
              controller,
              controllerGroup: spec.resource.group,
              controllerKind: kind,
              namespace: obj.metadata.namespace ?? "",
              name: obj.metadata.name,
            }),
          )
        }
        yield* reconcileObject(obj)
      }).pipe(
        // Only API failures of the runtime's own writes land here: retry with backoff.
        // Both are a returned error to controller-runtime (result="error"); a defect is its recovered panic.
        Effect.catch((error) =>
          Effect.logWarning("runtime write failed; retrying").pipe(
            Effect.annotateLogs({ key, error: String((error as { message?: string }).message ?? error) }),
            Effect.andThen(countError),
            Effect.andThen(queue.addRateLimited(key)),
          ),
        ),
        Effect.catchDefect((defect) =>
          Effect.logError("reconcile died").pipe(
            Effect.annotateLogs({ key, defect: String(defect) }),
            Effect.andThen(countError),
            Effect.andThen(inc(reconcilePanics, { controller })),
            Effect.andThen(queue.addRateLimited(key)),
          ),
        ),
      )

    let busy = 0
    const worker = Effect.forever(
      Effect.gen(function* () {
        const key = yield* queue.take
        busy += 1
        yield* record(activeWorkers, { controller }, busy)
        yield* process(key).pipe(
          Effect.ensuring(
            Effect.suspend(() => {
              busy -= 1
              return record(activeWorkers, { controller }, busy).pipe(Effect.andThen(queue.done(key)))
            }),
          ),
        )
      }),
    )

    // Workers start once every cache holds a full list: reconciles never see a half-filled cache.
    yield* Deferred.await(primary.synced)
    yield* Effect.forEach(secondaries, (r) => Deferred.await(r.synced), { discard: true })
    // controller-runtime's initMetrics: every series exists from the start at 0, so rate() and increase() read it.
    for (const result of ["success", "error", "requeue", "requeue_after"])
      yield* record(reconcileTotal, { controller, result }, 0)
    for (const counter of [reconcileErrors, terminalReconcileErrors, reconcilePanics])
      yield* record(counter, { controller }, 0)
    yield* record(maxConcurrentReconciles, { controller }, workers)
    yield* record(activeWorkers, { controller }, 0)
    for (let i = 0; i < workers; i++) yield* Effect.forkScoped(worker)
    yield* Deferred.succeed(ready, undefined)

    return { kind, store: primary.store, queue, journal, ready } satisfies RunningController<K>
  })

export { parseObjectKey }
