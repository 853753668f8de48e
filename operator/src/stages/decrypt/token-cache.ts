/**
 * The cache of provider access tokens obtained through workload identity, as Flux's (fluxcd/pkg/cache): keyed
 * by (provider, audiences, provider identity, ServiceAccount, provider options), an entry is fresh for 80% of
 * the token's lifetime (kubelet's rotation threshold) and at most an hour; at most `capacity` entries, least
 * recently used evicted. Concurrent requests for one key share one fetch. The metrics carry Flux's names:
 * `gotk_token_cache_events_total{event_type,kind,name,namespace,operation}`, `gotk_token_cache_requests_total
 * {status}`, `gotk_token_cached_items` and `gotk_token_cache_evictions_total`. Values never leave the cache.
 *
 * @module
 */
import { Effect, Metric } from "effect"

const events = Metric.counter("gotk_token_cache_events_total", {
  description: "Total number of cache retrieval events for a Gitops Toolkit resource reconciliation.",
  incremental: true,
})
const requests = Metric.counter("gotk_token_cache_requests_total", {
  description: "Total number of cache requests partioned by success or failure.",
  incremental: true,
})
const items = Metric.gauge("gotk_token_cached_items", { description: "Total number of items in the cache." })
const evictions = Metric.counter("gotk_token_cache_evictions_total", {
  description: "Total number of cache evictions.",
  incremental: true,
})

/** The longest a token is cached, whatever its lifetime (Flux's TokenMaxDuration). */
export const tokenMaxDurationMs = 60 * 60 * 1000

/** The object a cache request is made for (the metrics' labels). */
export interface InvolvedObject {
  readonly kind: string
  readonly name: string
  readonly namespace: string
  readonly operation: string
}

export interface TokenCache<T> {
  /** The cached token for `key` while fresh, else `fetch`'s (stored with its lifetime in ms). */
  readonly getOrSet: <E>(
    key: string,
    fetch: Effect.Effect<{ readonly token: T; readonly lifetimeMs: number }, E>,
    involved: InvolvedObject,
  ) => Effect.Effect<T, E>
  readonly size: () => number
}

/** A cache of at most `capacity` tokens; with 0, no cache: every request fetches and no metric is recorded (Flux). */
export const makeTokenCache = <T>(capacity = 100, maxDurationMs = tokenMaxDurationMs): TokenCache<T> => {
  if (capacity <= 0) return { size: () => 0, getOrSet: (_key, fetch) => Effect.map(fetch, (r) => r.token) }
  const entries = new Map<string, { readonly token: T; readonly freshUntil: number }>()
  const inflight = new Map<string, Promise<unknown>>()
  const record = (event: "cache_hit" | "cache_miss", ok: boolean, o: InvolvedObject) =>
    Effect.all([
      Metric.update(
        Metric.withAttributes(events, {
          event_type: event,
          kind: o.kind,
          name: o.name,
          namespace: o.namespace,
          operation: o.operation,
        }),
        1,
      ),
      Metric.update(Metric.withAttributes(requests, { status: ok ? "success" : "failure" }), 1),
    ])

  const store = (key: string, token: T, lifetimeMs: number) =>
    Effect.gen(function* () {
      const existed = entries.delete(key)
      entries.set(key, { token, freshUntil: Date.now() + Math.min((lifetimeMs * 8) / 10, maxDurationMs) })
      if (entries.size > capacity) {
        const oldest = entries.keys().next().value
        if (oldest !== undefined) entries.delete(oldest)
        yield* Metric.update(evictions, 1)
      } else if (!existed) yield* Metric.update(items, entries.size)
    })

  return {
    size: () => entries.size,
    getOrSet: (key, fetch, involved) =>
      Effect.gen(function* () {
        const hit = entries.get(key)
        if (hit !== undefined && hit.freshUntil > Date.now()) {
          entries.delete(key)
          entries.set(key, hit)
          yield* record("cache_hit", true, involved)
          return hit.token
        }
        // one fetch per key at a time; the others wait for it
        const running = inflight.get(key)
        if (running !== undefined) {
          const r = yield* Effect.promise(() =>
            running.then(
              () => true,
              () => false,
            ),
          )
          const now = entries.get(key)
          if (r && now !== undefined) {
            yield* record("cache_hit", true, involved)
            return now.token
          }
        }
        let settle: () => void = () => {}
        inflight.set(key, new Promise<void>((resolve) => (settle = resolve)))
        const result = yield* Effect.result(fetch).pipe(
          Effect.ensuring(
            Effect.sync(() => {
              inflight.delete(key)
              settle()
            }),
          ),
        )
        if (result._tag === "Failure") {
          yield* record("cache_miss", false, involved)
          return yield* Effect.fail(result.failure)
        }
        yield* store(key, result.success.token, result.success.lifetimeMs)
        yield* record("cache_miss", true, involved)
        return result.success.token
      }),
  }
}
