/**
 * The durable journal of every reconciled object, stored in the cluster as a `ReconcileJournal`
 * (`kustodian.io/v1alpha1`, model/journal.ts) in the object's namespace, owned by it. It is the source of truth
 * the status is replayed from: a reconcile folds over the journal's replay, not over whatever the status says.
 *
 * - Loaded once per object (the first reconcile after start); a journal of another object of the same name (a
 *   deleted one's, where no garbage collector ran) or one that does not decode is started afresh.
 * - Appended with optimistic concurrency: a create, then replaces carrying the `resourceVersion` read. A
 *   conflict means another writer: the journal is read again and, if this process still leads, the reconcile
 *   is appended to what is there; if it does not lead, the write is dropped. A process that lost the lease
 *   writes nothing, whatever its in-flight reconciles do.
 * - At most one write per reconcile that changed something; a no-change reconcile only counts, and counts are
 *   written in batches (every `flushEveryMs`, and on shutdown).
 * - Deleted with its object (finalizer, observed deletion): the test control plane runs no garbage collector.
 *
 * Without the CRD (an older install) the journal is kept in memory only, and a warning says so once.
 *
 * @module
 */
import { createHash } from "node:crypto"
import { Data, Effect, Option } from "effect"
import type { Recorded } from "../../../model/events.ts"
import {
  appendReconcile,
  defaultJournalLimits,
  emptyJournal,
  type JournalLimits,
  type JournalRecord,
  type JournalState,
  journalBytes,
  reconcileJournalResource,
  replay,
} from "../../../model/journal.ts"
import type { ReconcileStatus } from "../../../model/projection.ts"
import { KubeClient } from "../kube/client.ts"
import type { KubeError } from "../kube/errors.ts"
import { apiVersionOf, type KubeObject } from "../kube/object.ts"
import { keyOf, type ObjectKey, type ResourceRef } from "../kube/resource.ts"

export const journalRef: ResourceRef = {
  group: reconcileJournalResource.group,
  version: reconcileJournalResource.version,
  plural: reconcileJournalResource.plural,
  kind: reconcileJournalResource.kind,
  namespaced: true,
}

/** A journal could not be written; the reconcile's status is still written, the records wait for the next write. */
export class JournalWriteFailed extends Data.TaggedError("JournalWriteFailed")<{
  readonly journal: string
  readonly message: string
}> {}

/** Past this, a journal is folded into its snapshot entirely (etcd refuses requests over 1.5 MiB). */
const HardLimitBytes = 1024 * 1024

/** The journal's name: `<kind>-<name>`, hashed when that is longer than a name may be. */
export const journalName = (kind: string, name: string): string => {
  const plain = `${kind.toLowerCase()}-${name}`
  if (plain.length <= 253) return plain
  return `${plain.slice(0, 236)}-${createHash("sha256").update(name).digest("hex").slice(0, 16)}`
}

interface Entry {
  readonly uid: string | undefined
  state: JournalState
  status: ReconcileStatus
  /** Of the stored journal; undefined when it does not exist yet. */
  resourceVersion: string | undefined
  /** Counts (or compaction) not written yet. */
  dirty: boolean
}

export interface JournalStoreOptions {
  /** Whether this process leads (from the Lease); a process that does not lead writes nothing. */
  readonly isLeader?: (() => boolean) | undefined
  readonly limits?: JournalLimits | undefined
  /** How often pending no-change counts are written (default 5 min). */
  readonly flushEveryMs?: number | undefined
}

/** The journal spec as stored. */
interface JournalSpec {
  readonly subject: { apiVersion: string; kind: string; name: string; uid?: string }
  readonly snapshot: ReconcileStatus
  readonly compacted: number
  readonly records: ReadonlyArray<JournalRecord>
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

/** Decodes a stored journal's state leniently; `undefined` when it is not one this code wrote. */
export const decodeJournal = (obj: KubeObject): JournalState | undefined => {
  const spec = obj.spec
  if (!isObject(spec) || !isObject(spec.snapshot) || !Array.isArray(spec.records)) return undefined
  const records: JournalRecord[] = []
  for (const r of spec.records) {
    if (!isObject(r) || typeof r.seq !== "number" || typeof r.count !== "number" || !Array.isArray(r.events))
      return undefined
    const valid = (es: unknown[]) =>
      es.every((e) => isObject(e) && typeof e.at === "string" && isObject(e.event))
    if (!valid(r.events) || (r.last !== undefined && (!Array.isArray(r.last) || !valid(r.last))))
      return undefined
    records.push(r as unknown as JournalRecord)
  }
  return {
    snapshot: spec.snapshot as ReconcileStatus,
    compacted: typeof spec.compacted === "number" ? spec.compacted : 0,
    records,
  }
}

export const makeJournalStore = (resource: ResourceRef, options: JournalStoreOptions = {}) =>
  Effect.gen(function* () {
    const client = yield* KubeClient
    const limits = options.limits ?? defaultJournalLimits
    const isLeader = options.isLeader ?? (() => true)
    const entries = new Map<ObjectKey, Entry>()
    let writes = 0
    // The CRD is served? (One discovery request per controller start.)
    const durable = yield* client
      .request({ method: "GET", path: `/apis/${journalRef.group}/${journalRef.version}` })
      .pipe(
        Effect.as(true),
        Effect.catch(() => Effect.succeed(false)),
      )
    if (!durable)
      yield* Effect.logWarning(
        "ReconcileJournal (kustodian.io/v1alpha1) is not installed: the journal is kept in memory only",
      )

    const nameOf = (obj: KubeObject) => journalName(resource.kind, obj.metadata.name)
    const where = (obj: KubeObject) => `ReconcileJournal ${obj.metadata.namespace ?? ""}/${nameOf(obj)}`

    const manifest = (obj: KubeObject, entry: Entry): KubeObject => {
      const spec: JournalSpec = {
        subject: {
          apiVersion: apiVersionOf(resource),
          kind: resource.kind,
          name: obj.metadata.name,
          ...(obj.metadata.uid !== undefined ? { uid: obj.metadata.uid } : {}),
        },
        snapshot: entry.state.snapshot,
        compacted: entry.state.compacted,
        records: entry.state.records,
      }
      return {
        apiVersion: apiVersionOf(journalRef),
        kind: journalRef.kind,
        metadata: {
          name: nameOf(obj),
          namespace: obj.metadata.namespace,
          ...(entry.resourceVersion !== undefined ? { resourceVersion: entry.resourceVersion } : {}),
          labels: { "app.kubernetes.io/managed-by": "kustodian", "kustodian.io/subject-kind": resource.kind },
          ...(obj.metadata.uid !== undefined
            ? {
                ownerReferences: [
                  {
                    apiVersion: apiVersionOf(resource),
                    kind: resource.kind,
                    name: obj.metadata.name,
                    uid: obj.metadata.uid,
                    controller: true,
                  },
                ],
              }
            : {}),
        },
        spec,
      }
    }

    /** Reads the stored journal of `obj`: its state and resourceVersion, or none (absent, foreign, undecodable). */
    const read = (obj: KubeObject) =>
      client.getOption(journalRef, nameOf(obj), obj.metadata.namespace).pipe(
        Effect.map((found) => {
          if (Option.isNone(found)) return { state: undefined, resourceVersion: undefined }
          const stored = found.value
          const subject = (stored.spec as { subject?: { uid?: string } } | undefined)?.subject
          const state = subject?.uid === obj.metadata.uid ? decodeJournal(stored) : undefined
          return { state, resourceVersion: stored.metadata.resourceVersion }
        }),
      )

    /**
     * The replayed status of `obj`'s journal, loading it on first use. A new journal adopts `observed` (the
     * status in the API server) as its snapshot, so an object reconciled before the journal existed keeps it.
     */
    const load = Effect.fn("JournalStore.load")(function* (obj: KubeObject, observed: ReconcileStatus) {
      const key = keyOf(obj)
      const known = entries.get(key)
      if (known !== undefined && known.uid === obj.metadata.uid) return known.status
      let state: JournalState | undefined
      let resourceVersion: string | undefined
      if (durable) {
        const stored = yield* read(obj).pipe(
          Effect.catch((e: KubeError) =>
            Effect.logWarning("could not read the journal; starting from the status").pipe(
              Effect.annotateLogs({ journal: where(obj), error: e.message }),
              Effect.as({ state: undefined, resourceVersion: undefined }),
            ),
          ),
        )
        state = stored.state
        resourceVersion = stored.resourceVersion
      }
      const begun = state ?? emptyJournal(observed)
      const entry: Entry = {
        uid: obj.metadata.uid,
        state: begun,
        status: replay(begun),
        resourceVersion,
        dirty: state === undefined && resourceVersion !== undefined,
      }
      entries.set(key, entry)
      return entry.status
    })

    /** Writes `entry` as it is; on a conflict reads the journal again and re-applies `redo` to it, once. */
    const write = (
      obj: KubeObject,
      entry: Entry,
      redo: ((state: JournalState, status: ReconcileStatus) => JournalState) | undefined,
    ): Effect.Effect<"written" | "dropped", JournalWriteFailed> =>
      Effect.gen(function* () {
        if (!durable) {
          entry.dirty = false
          return "written" as const
        }
        if (!isLeader()) {
          yield* Effect.logInfo("journal write dropped: this process does not lead").pipe(
            Effect.annotateLogs({ journal: where(obj) }),
          )
          // What this process holds in memory is no longer the journal: read it again if it leads again.
          entries.delete(keyOf(obj))
          return "dropped" as const
        }
        // A journal whose newest record alone is too big (a huge inventory): all of it becomes the snapshot.
        if (journalBytes(entry.state) > HardLimitBytes) {
          const folded = entry.state.records.reduce((n, r) => n + r.count, entry.state.compacted)
          entry.state = { snapshot: entry.status, compacted: folded, records: [] }
        }
        const body = manifest(obj, entry)
        const attempt =
          entry.resourceVersion === undefined
            ? client.create(journalRef, body)
            : client.replace(journalRef, body)
        const result = yield* attempt.pipe(
          Effect.map((stored) => ({ _tag: "Written" as const, stored })),
          Effect.catchTag("KubeApiError", (e) =>
            e.isConflict ? Effect.succeed({ _tag: "Conflict" as const }) : Effect.fail(e),
          ),
          Effect.mapError((e) => new JournalWriteFailed({ journal: where(obj), message: e.message })),
        )
        writes += 1
        if (result._tag === "Written") {
          entry.resourceVersion = result.stored.metadata.resourceVersion
          entry.dirty = false
          return "written" as const
        }
        // Another writer got there first (a previous leader's last write, or a racing one).
        if (!isLeader() || redo === undefined) {
          yield* Effect.logInfo("journal write lost to another writer; dropped").pipe(
            Effect.annotateLogs({ journal: where(obj) }),
          )
          entries.delete(keyOf(obj))
          return "dropped" as const
        }
        const stored = yield* read(obj).pipe(
          Effect.mapError((e) => new JournalWriteFailed({ journal: where(obj), message: e.message })),
        )
        const base = stored.state ?? emptyJournal(entry.status)
        const state = redo(base, replay(base))
        entry.state = state
        entry.status = replay(state)
        entry.resourceVersion = stored.resourceVersion
        return yield* write(obj, entry, undefined)
      })

    /**
     * Appends one reconcile; returns the status it folds to. Writes when the reconcile changed something
     * (`Appended.durable`); a no-change reconcile only counts or starts a record (written by `flush`).
     */
    const append = Effect.fn("JournalStore.append")(function* (
      obj: KubeObject,
      recorded: ReadonlyArray<Recorded>,
    ) {
      const key = keyOf(obj)
      if (entries.get(key)?.uid !== obj.metadata.uid) yield* load(obj, {})
      const entry = entries.get(key)
      if (entry === undefined) return { status: {} as ReconcileStatus, wrote: false, dropped: false }
      const appended = appendReconcile(entry.state, entry.status, recorded, limits)
      entry.state = appended.state
      entry.status = appended.status
      if (!appended.durable) {
        entry.dirty = true
        return { status: entry.status, wrote: false, dropped: false }
      }
      const outcome = yield* write(
        obj,
        entry,
        (state, status) => appendReconcile(state, status, recorded, limits).state,
      ).pipe(
        Effect.catch((e) =>
          Effect.sync(() => {
            entry.dirty = true
          }).pipe(
            Effect.andThen(
              Effect.logWarning("could not write the journal; it is written with the next change").pipe(
                Effect.annotateLogs({ journal: e.journal, error: e.message }),
              ),
            ),
            Effect.as("failed" as const),
          ),
        ),
      )
      return { status: entry.status, wrote: outcome === "written", dropped: outcome === "dropped" }
    })

    /** Writes every journal with pending counts (periodically, and on shutdown). */
    const flush = (objects: (key: ObjectKey) => KubeObject | undefined) =>
      Effect.suspend(() =>
        Effect.forEach(
          [...entries.entries()].filter(([, e]) => e.dirty),
          ([key, entry]) => {
            const obj = objects(key)
            if (obj === undefined || obj.metadata.uid !== entry.uid) return Effect.void
            return write(obj, entry, undefined).pipe(
              Effect.catch((e) =>
                Effect.logWarning("could not write the journal's counts").pipe(
                  Effect.annotateLogs({ journal: e.journal, error: e.message }),
                ),
              ),
            )
          },
          { discard: true },
        ),
      )

    /** Deletes `obj`'s journal (the object is gone or going). */
    const drop = (obj: KubeObject) =>
      Effect.gen(function* () {
        const key = keyOf(obj)
        const entry = entries.get(key)
        if (entry !== undefined && entry.uid === obj.metadata.uid) entries.delete(key)
        if (!durable || !isLeader()) return
        yield* client
          .delete(journalRef, nameOf(obj), obj.metadata.namespace)
          .pipe(
            Effect.catch((e) =>
              Effect.logWarning("could not delete the journal").pipe(
                Effect.annotateLogs({ journal: where(obj), error: e.message }),
              ),
            ),
          )
      })

    /** The in-memory state of `key`'s journal (tests, `RunningController`). */
    const stateOf = (key: ObjectKey) => entries.get(key)?.state

    return {
      load,
      append,
      flush,
      drop,
      stateOf,
      durable,
      flushEveryMs: options.flushEveryMs ?? 5 * 60_000,
      /** Journal writes so far (the benchmark reports them per reconcile). */
      writes: () => writes,
    }
  })

export type JournalStore = Effect.Success<ReturnType<typeof makeJournalStore>>
