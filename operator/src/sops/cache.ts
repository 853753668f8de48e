/**
 * An in-memory LRU of opened data keys, keyed by keyring scope and the identity of the encrypted data key.
 *
 * @module
 */
import type { DataKeyCache } from "./index.ts"

/** Creates a cache holding at most `maxEntries` data keys; the least recently used is evicted first. */
export const make = (maxEntries = 1024): DataKeyCache => {
  const entries = new Map<string, Uint8Array>()
  const k = (scope: string, id: string) => `${scope}\u0000${id}`
  return {
    get(scope, id) {
      const key = k(scope, id)
      const v = entries.get(key)
      if (v === undefined) return undefined
      entries.delete(key)
      entries.set(key, v)
      return v
    },
    set(scope, id, dataKey) {
      const key = k(scope, id)
      entries.delete(key)
      entries.set(key, Uint8Array.from(dataKey))
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next()
        if (oldest.done) break
        entries.delete(oldest.value)
      }
    },
  }
}
