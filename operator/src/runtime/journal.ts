import type { Recorded } from "../../../model/events.ts"
import type { ObjectKey } from "../kube/resource.ts"

/**
 * The per-object event journal, in memory and bounded: the last `capacity` entries of each object.
 * It is the audit trail of recent reconciles; the status in the API server is the durable snapshot a
 * restarted operator resumes from, so losing the journal loses no state.
 */
export interface Journal {
  readonly append: (key: ObjectKey, entries: ReadonlyArray<Recorded>) => void
  readonly entries: (key: ObjectKey) => ReadonlyArray<Recorded>
  readonly drop: (key: ObjectKey) => void
  readonly size: () => number
}

export const makeJournal = (capacity = 64): Journal => {
  const journals = new Map<ObjectKey, Recorded[]>()
  return {
    append: (key, entries) => {
      const list = journals.get(key) ?? []
      list.push(...entries)
      if (list.length > capacity) list.splice(0, list.length - capacity)
      journals.set(key, list)
    },
    entries: (key) => journals.get(key) ?? [],
    drop: (key) => void journals.delete(key),
    size: () => journals.size,
  }
}
