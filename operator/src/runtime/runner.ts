import { Deferred, Effect } from "effect"
import { KubeClient } from "../kube/client.ts"
import { apiVersionOf, type KubeObject } from "../kube/object.ts"
import { keyOf, type ObjectKey, type ResourceRef } from "../kube/resource.ts"
import {
  activeWorkers,
  inc,
  maxConcurrentReconciles,
  reconcileErrors,
  reconcilePanics,
  reconcileTotal,
  record,
  terminalReconcileErrors,
} from "../metrics/metrics.ts"
import { type ControllerSpec, ReconcileRequestAnnotation } from "./controller.ts"
import { type JournalStore, makeJournalStore } from "./journal-store.ts"
import { makeObjectMetrics } from "./object-metrics.ts"
import { makeOutbox } from "./outbox.ts"
import { makeReconciler } from "./reconcile.ts"
import { makeRecorder } from "./recorder.ts"
import { makeStatusWriter, statusOf as statusOfObject } from "./status-writer.ts"
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
  /** Whether this process leads (the manager's Lease): only the leader writes journals. */
  readonly isLeader?: (() => boolean) | undefined
  /** How often the journals' pending no-change counts are written (default 5 min). */
  readonly journalFlushMs?: number | undefined
}

/** A controller at run time: its cache, queue and journal, for health checks and tests. */
export interface RunningController<K extends KubeObject> {
  readonly kind: string
  readonly store: Store<K>
  readonly queue: WorkQueue
  readonly journal: JournalStore
  /** Completes once every watch listed once and workers started. */
  readonly ready: Deferred.Deferred<void>
}

const cacheId = (ref: ResourceRef) => `${ref.plural}.${ref.group}/${ref.version}`

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
    const journal = yield* makeJournalStore(spec.resource, {
      isLeader: options.isLeader,
      flushEveryMs: options.journalFlushMs,
    })
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
    const outbox = yield* makeOutbox
    const status = yield* makeStatusWriter(spec.resource, spec.fieldManager)
    const metrics = makeObjectMetrics<K>(kind, spec.suspended)
    const dropSeries = metrics.drop

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
          // A status edited or deleted by hand is put back from the journal by a reconcile.
          if (wantsReconcile(event.previous, event.object, finalizer)) return queue.add(keyOf(event.object))
          if (!status.changedByOthers(event.object)) return Effect.void
          return Effect.logInfo("status changed by someone else; putting it back from the journal").pipe(
            Effect.annotateLogs({
              controller,
              name: event.object.metadata.name,
              namespace: event.object.metadata.namespace ?? "",
            }),
            Effect.andThen(queue.add(keyOf(event.object))),
          )
        case "Deleted":
          return Effect.sync(() => status.forget(keyOf(event.object))).pipe(
            Effect.andThen(queue.forget(keyOf(event.object))),
            Effect.andThen(dropSeries(event.object)),
            // Off the watch's fiber: the journal goes with its object (no garbage collector is assumed).
            Effect.andThen(outbox.offer(journal.drop(event.object))),
          )
        case "Restarted": {
          // After a relist (first start, or the API server was away) reconcile whatever changed meanwhile.
          const gone: KubeObject[] = []
          for (const [key, previous] of event.previous.entries()) {
            if (primary.store.get(key) === undefined) {
              status.forget(key)
              gone.push(previous)
            }
          }
          return Effect.forEach(
            gone,
            (obj) => Effect.andThen(dropSeries(obj), outbox.offer(journal.drop(obj))),
            {
              discard: true,
            },
          ).pipe(
            Effect.andThen(
              Effect.forEach(
                event.objects,
                (obj) => {
                  const previous = event.previous.get(keyOf(obj))
                  const stale = statusOfObject(obj).observedGeneration !== obj.metadata.generation
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

    const reconciler = makeReconciler<K, R>({
      spec,
      queue,
      status,
      journal,
      recorder,
      outbox,
      metrics,
      cache: (resource) => caches.get(cacheId(resource)),
      intervalJitter: options.intervalJitter ?? 0.1,
    })

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

    const finalize = (obj: K) =>
      Effect.gen(function* () {
        if (spec.cleanup === undefined || finalizer === undefined) return
        if (!(obj.metadata.finalizers ?? []).includes(finalizer)) return
        if (!(yield* reconciler.finalize(obj))) return
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
          yield* metrics.suspend(obj)
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
        yield* reconciler.reconcile(obj)
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
    // No-change counts are written in batches, and once more on the way out (while still leading).
    const flush = journal.flush((key) => primary.store.get(key))
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(journal.flushEveryMs), flush)))
    yield* Effect.addFinalizer(() => flush.pipe(Effect.timeout("2 seconds"), Effect.ignore))
    yield* Deferred.succeed(ready, undefined)

    return { kind, store: primary.store, queue, journal, ready } satisfies RunningController<K>
  })
