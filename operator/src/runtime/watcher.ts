import { Clock, Deferred, Effect, Random, Stream } from "effect"
import { KubeClient, type WatchEvent } from "../kube/client.ts"
import type { KubeError } from "../kube/errors.ts"
import type { KubeObject } from "../kube/object.ts"
import { keyOf, type ObjectKey, type ResourceRef } from "../kube/resource.ts"
import { inc, watchRestarts } from "../metrics/metrics.ts"
import { backoffDelay } from "./backoff.ts"
import { type MutableStore, makeStore, type Store } from "./store.ts"

/** What changed in the cache. `Restarted` follows a (re)list and carries what was there before it. */
export type CacheEvent<K extends KubeObject> =
  | { readonly _tag: "Applied"; readonly object: K; readonly previous: K | undefined }
  | { readonly _tag: "Deleted"; readonly object: K }
  | {
      readonly _tag: "Restarted"
      readonly objects: ReadonlyArray<K>
      readonly previous: ReadonlyMap<ObjectKey, K>
    }

export interface WatcherOptions<K extends KubeObject> {
  readonly resource: ResourceRef
  readonly namespace?: string | undefined
  readonly labelSelector?: string | undefined
  readonly indexes?: Readonly<Record<string, (obj: K) => ReadonlyArray<string>>> | undefined
  /** Restart a watch that delivered nothing (not even a bookmark) for this long. Default 2 min. */
  readonly silenceMs?: number | undefined
  /** Server-side watch timeout range (s); the watch then resumes from the last resourceVersion. */
  readonly timeoutSeconds?: readonly [number, number] | undefined
  /** Restart backoff: exponential from 500 ms, capped at 30 s, jittered. */
  readonly backoffBaseMs?: number | undefined
  readonly backoffCapMs?: number | undefined
}

/** A running watch: its cache, a signal for the first complete list, and the loop to fork. */
export interface Reflector<K extends KubeObject> {
  readonly store: Store<K>
  readonly synced: Deferred.Deferred<void>
  /** Runs forever: list, watch, resume, relist on 410, restart with backoff on errors or silence. */
  readonly run: (
    onEvent: (event: CacheEvent<K>) => Effect.Effect<void>,
  ) => Effect.Effect<never, never, KubeClient>
}

/** Caches drop `managedFields` (controller-runtime's default transform): large, and no reconcile reads them. */
const stripManagedFields = <K extends KubeObject>(obj: K): K => {
  if (obj.metadata?.managedFields === undefined) return obj
  const { managedFields: _, ...metadata } = obj.metadata
  return { ...obj, metadata } as K
}

class Silent {
  readonly _tag = "Silent"
}

/**
 * A list-then-watch loop over one resource with a local cache (kube-rs `watcher` + `reflector`).
 * Unlike client-node's informer it never stops: every failure is retried with backoff.
 */
export const makeReflector = <K extends KubeObject>(
  options: WatcherOptions<K>,
): Effect.Effect<Reflector<K>> =>
  Effect.gen(function* () {
    const store: MutableStore<K> = makeStore<K>(options.indexes ?? {})
    const synced = yield* Deferred.make<void>()
    const silenceMs = options.silenceMs ?? 120_000
    const [tMin, tMax] = options.timeoutSeconds ?? [300, 600]
    const resourceLabel = `${options.resource.plural}.${options.resource.group || "core"}`

    const run = (onEvent: (event: CacheEvent<K>) => Effect.Effect<void>) =>
      Effect.gen(function* () {
        const client = yield* KubeClient
        let resourceVersion: string | undefined
        let failures = 0
        let lastSeen = yield* Clock.currentTimeMillis

        const relist = Effect.gen(function* () {
          const list = yield* client.list<K>(options.resource, {
            namespace: options.namespace,
            labelSelector: options.labelSelector,
          })
          const items = list.items.map(stripManagedFields)
          const previous = store.replace(items)
          resourceVersion = list.metadata.resourceVersion
          yield* onEvent({ _tag: "Restarted", objects: items, previous })
          yield* Deferred.succeed(synced, undefined)
        })

        const handle = (event: WatchEvent) =>
          Effect.gen(function* () {
            lastSeen = yield* Clock.currentTimeMillis
            failures = 0
            const obj = stripManagedFields(event.object as K)
            if (obj.metadata?.resourceVersion !== undefined) resourceVersion = obj.metadata.resourceVersion
            switch (event.type) {
              case "BOOKMARK":
                return
              case "ADDED":
              case "MODIFIED": {
                const previous = store.upsert(obj)
                return yield* onEvent({ _tag: "Applied", object: obj, previous })
              }
              case "DELETED": {
                store.remove(obj)
                return yield* onEvent({ _tag: "Deleted", object: obj })
              }
            }
          })

        // Fails with Silent when nothing arrived for `silenceMs`.
        const watchdog = Effect.gen(function* () {
          while (true) {
            yield* Effect.sleep(Math.max(1_000, Math.floor(silenceMs / 4)))
            if ((yield* Clock.currentTimeMillis) - lastSeen > silenceMs)
              return yield* Effect.fail(new Silent())
          }
        })

        const watchOnce = Effect.gen(function* () {
          if (resourceVersion === undefined) yield* relist
          lastSeen = yield* Clock.currentTimeMillis
          const timeoutSeconds = tMin + Math.floor((yield* Random.next) * (tMax - tMin))
          const stream = client.watch(options.resource, {
            namespace: options.namespace,
            labelSelector: options.labelSelector,
            resourceVersion,
            timeoutSeconds,
          })
          const opened = yield* Clock.currentTimeMillis
          yield* Effect.raceFirst(Stream.runForEach(stream, handle), watchdog)
          // A server that accepts and at once closes watches (shutting down) must not be hammered.
          return (yield* Clock.currentTimeMillis) - opened
        })

        const restart = (cause: string) =>
          Effect.gen(function* () {
            failures += 1
            yield* inc(watchRestarts, { resource: resourceLabel, cause })
            const delay = backoffDelay(
              {
                baseMs: options.backoffBaseMs ?? 500,
                capMs: options.backoffCapMs ?? 30_000,
                factor: 2,
                jitter: 0.2,
              },
              failures,
              yield* Random.next,
            )
            yield* Effect.sleep(delay)
          })

        while (true) {
          yield* watchOnce.pipe(
            Effect.matchEffect({
              // The server closed the watch (its timeout): resume from the last resourceVersion.
              onSuccess: (lastedMs) =>
                lastedMs < 1_000
                  ? restart("closed")
                  : inc(watchRestarts, { resource: resourceLabel, cause: "closed" }),
              onFailure: (error: KubeError | Silent) => {
                if (error._tag === "KubeApiError" && error.isGone) {
                  resourceVersion = undefined
                  return inc(watchRestarts, { resource: resourceLabel, cause: "gone" })
                }
                const cause = error._tag === "Silent" ? "silent" : "error"
                return Effect.logWarning("watch interrupted, restarting").pipe(
                  Effect.annotateLogs({
                    resource: resourceLabel,
                    cause,
                    error: error._tag === "Silent" ? `no event for ${silenceMs}ms` : error.message,
                  }),
                  Effect.andThen(restart(cause)),
                )
              },
            }),
          )
        }
      }) as Effect.Effect<never, never, KubeClient>

    return { store, synced, run }
  })

export { keyOf }
