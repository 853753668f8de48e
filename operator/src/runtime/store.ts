import type { KubeObject } from "../kube/object.ts"
import { keyOf, type ObjectKey } from "../kube/resource.ts"

/** Computes the keys an object is filed under in a named index (e.g. the sources it references). */
export type IndexFn<K extends KubeObject> = (obj: K) => ReadonlyArray<string>

/**
 * The local cache of one resource, fed by a watcher. Reads never touch the API server. Indexes map a
 * value (e.g. `namespace/name` of a referenced GitRepository) to the keys of the objects that reference
 * it, so secondary watches can find whom to requeue.
 */
export interface Store<K extends KubeObject = KubeObject> {
  readonly get: (key: ObjectKey) => K | undefined
  readonly list: () => ReadonlyArray<K>
  readonly size: () => number
  /** Keys of objects filed under `value` in index `name`. */
  readonly byIndex: (name: string, value: string) => ReadonlyArray<ObjectKey>
}

export interface MutableStore<K extends KubeObject = KubeObject> extends Store<K> {
  readonly upsert: (obj: K) => K | undefined
  readonly remove: (obj: K) => K | undefined
  /** Replace everything (after a relist); returns the previous contents. */
  readonly replace: (objs: ReadonlyArray<K>) => ReadonlyMap<ObjectKey, K>
}

export const makeStore = <K extends KubeObject>(
  indexes: Readonly<Record<string, IndexFn<K>>> = {},
): MutableStore<K> => {
  const objects = new Map<ObjectKey, K>()
  const index = new Map<string, Map<string, Set<ObjectKey>>>()
  for (const name of Object.keys(indexes)) index.set(name, new Map())

  const file = (obj: K, add: boolean) => {
    const key = keyOf(obj)
    for (const [name, fn] of Object.entries(indexes)) {
      const table = index.get(name)!
      for (const value of fn(obj)) {
        let keys = table.get(value)
        if (keys === undefined) {
          if (!add) continue
          keys = new Set()
          table.set(value, keys)
        }
        if (add) keys.add(key)
        else {
          keys.delete(key)
          if (keys.size === 0) table.delete(value)
        }
      }
    }
  }

  const upsert = (obj: K) => {
    const key = keyOf(obj)
    const old = objects.get(key)
    if (old !== undefined) file(old, false)
    objects.set(key, obj)
    file(obj, true)
    return old
  }

  const remove = (obj: K) => {
    const key = keyOf(obj)
    const old = objects.get(key)
    if (old !== undefined) file(old, false)
    objects.delete(key)
    return old
  }

  const replace = (objs: ReadonlyArray<K>) => {
    const previous = new Map(objects)
    objects.clear()
    for (const table of index.values()) table.clear()
    for (const obj of objs) upsert(obj)
    return previous
  }

  return {
    get: (key) => objects.get(key),
    list: () => [...objects.values()],
    size: () => objects.size,
    byIndex: (name, value) => [...(index.get(name)?.get(value) ?? [])],
    upsert,
    remove,
    replace,
  }
}
