/**
 * The process-wide cache of opened SOPS data keys, counting hits and misses. Entries are scoped by the
 * decryption Secret's uid and resourceVersion (see `keyring.ts`), so a data key opened with one tenant's
 * keys never serves another tenant, and a rotated Secret starts cold.
 *
 * @module
 */
import { Effect, Metric } from "effect"
import { type DataKeyCache, makeDataKeyCache } from "../../sops/index.ts"

export const dataKeyCacheHits = Metric.counter("kustodian_sops_data_key_cache_hits_total", {
  description: "SOPS data keys served from the in-memory cache",
  incremental: true,
})

export const dataKeyCacheMisses = Metric.counter("kustodian_sops_data_key_cache_misses_total", {
  description: "SOPS data keys that had to be opened with a master key",
  incremental: true,
})

/** A data-key cache with running hit/miss counts (plain numbers, for benchmarks and the metrics bridge). */
export interface CountingCache extends DataKeyCache {
  readonly stats: () => { readonly hits: number; readonly misses: number }
}

const counting = (inner: DataKeyCache, onGet: (hit: boolean) => void): DataKeyCache => ({
  get(scope, id) {
    const v = inner.get(scope, id)
    onGet(v !== undefined)
    return v
  },
  set: (scope, id, key) => inner.set(scope, id, key),
})

/** Wraps the engine's LRU; `maxEntries` bounds memory (32 bytes a key plus the map entry). */
export const makeCountingCache = (maxEntries = 10_000): CountingCache => {
  let hits = 0
  let misses = 0
  const cache = counting(makeDataKeyCache(maxEntries), (hit) => (hit ? hits++ : misses++))
  return { ...cache, stats: () => ({ hits, misses }) }
}

/**
 * Runs `use` with a view of `cache` that counts what this use alone hit and missed, then adds those
 * counts to the exported counters (exact under concurrent builds).
 */
export const withCacheMetrics = <A, E, R>(
  cache: DataKeyCache,
  use: (view: DataKeyCache) => Effect.Effect<A, E, R>,
) =>
  Effect.gen(function* () {
    let hits = 0
    let misses = 0
    const exit = yield* Effect.exit(use(counting(cache, (hit) => (hit ? hits++ : misses++))))
    if (hits > 0) yield* Metric.update(dataKeyCacheHits, hits)
    if (misses > 0) yield* Metric.update(dataKeyCacheMisses, misses)
    return yield* exit
  })
