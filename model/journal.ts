/**
 * The durable journal of an object's reconciles, as pure data and functions: what the runtime stores in the
 * object's `ReconcileJournal` and what the status is replayed from.
 *
 * - A **record** is one reconcile's domain events (time, revision, stage, change set — object ids and actions,
 *   never values). Identical reconciles in a row (same events but for their times and durations: the periodic
 *   no-change reconcile) collapse into one record with a `count`, the first occurrence's events and the last's,
 *   as Flux's `status.history` counts `totalReconciliations`.
 * - The **snapshot** is the status folded from every record compacted away: when the journal outgrows its caps,
 *   its oldest records are folded into it, so the journal stays bounded.
 * - **Replay** folds the records over the snapshot with `project`, the same pure function the live reconcile
 *   uses, reconcile by reconcile; so a replay equals the live status (property-tested).
 *
 * @module
 */
import type { ApiResource } from "./api-resource.ts"
import type { Change, DomainEvent, Recorded } from "./events.ts"
import { project, type ReconcileStatus, statusEquals } from "./projection.ts"

/** One reconcile (or a run of identical ones). */
export interface JournalRecord {
  /** Position in the journal, from 1; never reused, also across compaction. */
  readonly seq: number
  /** The events of the first occurrence. */
  readonly events: ReadonlyArray<Recorded>
  /** How many identical reconciles this record stands for (≥ 1). */
  readonly count: number
  /** The events of the last occurrence, when `count` > 1. */
  readonly last?: ReadonlyArray<Recorded> | undefined
}

export interface JournalState {
  /** The status folded from everything compacted away (or adopted from the object when the journal began). */
  readonly snapshot: ReconcileStatus
  /** How many reconciles the snapshot stands for. */
  readonly compacted: number
  readonly records: ReadonlyArray<JournalRecord>
}

export const emptyJournal = (snapshot: ReconcileStatus = {}): JournalState => ({
  snapshot,
  compacted: 0,
  records: [],
})

export interface JournalLimits {
  /** Records kept before the oldest are folded into the snapshot. */
  readonly maxRecords: number
  /** Serialized size (bytes) kept before the oldest records are folded into the snapshot. */
  readonly maxBytes: number
  /** A run of identical reconciles starts a new record after this many (bounds a replay's work). */
  readonly maxCount: number
}

/** Well under etcd's 1.5 MiB request limit, with the snapshot (a status, itself bounded) on top. */
export const defaultJournalLimits: JournalLimits = { maxRecords: 100, maxBytes: 512 * 1024, maxCount: 10_000 }

/**
 * The events as the journal keeps them: change sets without their `unchanged` entries (counted instead, as
 * they are every object of the inventory again), nothing else altered. The projection does not read change
 * sets, so a replay is unaffected.
 */
export const journalEvents = (entries: ReadonlyArray<Recorded>): ReadonlyArray<Recorded> =>
  entries.map((e) =>
    e.event._tag === "Applied" || e.event._tag === "Pruned"
      ? { at: e.at, event: compactChanges(e.event) }
      : e,
  )

const compactChanges = <E extends Extract<DomainEvent, { readonly changes: ReadonlyArray<Change> }>>(
  event: E,
): E => {
  const changed = event.changes.filter((c) => c.action !== "unchanged")
  if (changed.length === event.changes.length) return event
  return {
    ...event,
    changes: changed,
    unchanged: (event.unchanged ?? 0) + event.changes.length - changed.length,
  }
}

/**
 * What makes two reconciles identical: their events without times, durations and the `requestedAt` they
 * answered (a `flux reconcile` of unchanged inputs: the last one is what the status keeps).
 */
const identity = (entries: ReadonlyArray<Recorded>): string =>
  JSON.stringify(
    entries.map((e) =>
      "durationMs" in e.event
        ? { ...e.event, durationMs: undefined }
        : e.event._tag === "ReconcileStarted"
          ? { ...e.event, requestedAt: undefined }
          : e.event,
    ),
  )

/**
 * Whether a reconcile answered a `requestedAt`: a run of collapsed reconciles either all did (the last one's is
 * what the status keeps) or none did (the status keeps what it had), so its first and last fold as all of it.
 */
const answersRequest = (entries: ReadonlyArray<Recorded>): boolean =>
  entries.some((e) => e.event._tag === "ReconcileStarted" && e.event.requestedAt !== undefined)

export interface Appended {
  readonly state: JournalState
  /** The status after this reconcile: `project(status, entries)`, the live fold. */
  readonly status: ReconcileStatus
  /** A new record was added (a reconcile that changed something): it must be written now. */
  readonly changed: boolean
}

/**
 * A status without what every reconcile of the same outcome moves on: the history's counters and times, and the
 * last `requestedAt` handled.
 */
const withoutHistoryClock = (status: ReconcileStatus): ReconcileStatus => ({
  ...status,
  lastHandledReconcileAt: undefined,
  history: status.history?.map((h) => ({
    ...h,
    lastReconciled: "",
    lastReconciledDuration: "",
    totalReconciliations: 0,
  })),
})

/**
 * Appends one reconcile's events to the journal whose replay is `status`. Pure. The reconcile joins the last
 * record (a counter, no write) when its events are that record's but for times and durations and it changed
 * nothing in the status but the history's clock; that is exactly when folding only the run's first and last
 * occurrences gives the status folding all of them gives.
 */
export const appendReconcile = (
  state: JournalState,
  status: ReconcileStatus,
  entries: ReadonlyArray<Recorded>,
  limits: JournalLimits = defaultJournalLimits,
): Appended => {
  if (entries.length === 0) return { state, status, changed: false }
  const next = project(status, entries)
  const events = journalEvents(entries)
  const tail = state.records.at(-1)
  if (
    tail !== undefined &&
    tail.count < limits.maxCount &&
    identity(tail.last ?? tail.events) === identity(events) &&
    answersRequest(tail.last ?? tail.events) === answersRequest(events) &&
    statusEquals(withoutHistoryClock(status), withoutHistoryClock(next))
  ) {
    const records = [...state.records.slice(0, -1), { ...tail, count: tail.count + 1, last: events }]
    return { state: compact({ ...state, records }, limits), status: next, changed: false }
  }
  const seq = (tail?.seq ?? state.compacted) + 1
  const records = [...state.records, { seq, events, count: 1 }]
  return { state: compact({ ...state, records }, limits), status: next, changed: true }
}

/** Folds one record over a status: its first occurrence, then the last one `count - 1` times. */
export const foldRecord = (status: ReconcileStatus, record: JournalRecord): ReconcileStatus => {
  let s = project(status, record.events)
  const last = record.last ?? record.events
  for (let i = 1; i < record.count; i++) s = project(s, last)
  return s
}

/** The status the journal stands for: its records folded over its snapshot. */
export const replay = (state: JournalState): ReconcileStatus =>
  state.records.reduce(foldRecord, state.snapshot)

/** Serialized size of a journal, as stored. */
export const journalBytes = (state: JournalState): number => Buffer.byteLength(JSON.stringify(state))

/** Folds the oldest records into the snapshot until the journal is within its limits (the newest stays). */
export const compact = (state: JournalState, limits: JournalLimits = defaultJournalLimits): JournalState => {
  let s = state
  while (
    s.records.length > 1 &&
    (s.records.length > limits.maxRecords || journalBytes(s) > limits.maxBytes)
  ) {
    const [oldest, ...rest] = s.records
    s = { snapshot: foldRecord(s.snapshot, oldest!), compacted: s.compacted + oldest!.count, records: rest }
  }
  return s
}

/** One line of `kustodian history`: what a record says happened. */
export interface HistoryLine {
  readonly seq: number
  readonly firstAt: string
  readonly lastAt: string
  readonly count: number
  readonly revision?: string | undefined
  readonly created: number
  readonly configured: number
  readonly deleted: number
  readonly unchanged: number
  readonly outcome: "Succeeded" | "Failed" | "Unfinished"
  readonly failure?: { readonly stage: string; readonly reason: string; readonly message: string } | undefined
  readonly message?: string | undefined
  /** Objects created, configured or deleted, with what happened to them (`Kind/namespace/name`). */
  readonly changes: ReadonlyArray<Change>
}

/** The history lines of a journal, oldest first. */
export const historyLines = (state: JournalState): ReadonlyArray<HistoryLine> =>
  state.records.map((record) => {
    const last = record.last ?? record.events
    let revision: string | undefined
    const changes: Change[] = []
    let unchanged = 0
    let outcome: HistoryLine["outcome"] = "Unfinished"
    let failure: HistoryLine["failure"]
    let message: string | undefined
    for (const { event } of last) {
      switch (event._tag) {
        case "ArtifactFetched":
          revision = event.revision
          break
        case "Applied":
        case "Pruned":
          for (const c of event.changes) if (c.action !== "unchanged") changes.push(c)
          unchanged += event.unchanged ?? 0
          unchanged += event.changes.filter((c) => c.action === "unchanged").length
          break
        case "Succeeded":
          outcome = "Succeeded"
          message = event.message
          revision = event.revision ?? revision
          break
        case "StageFailed":
          outcome = "Failed"
          failure = { stage: event.stage, reason: event.reason, message: event.message }
          break
        default:
          break
      }
    }
    const count = (action: Change["action"]) => changes.filter((c) => c.action === action).length
    return {
      seq: record.seq,
      firstAt: record.events[0]?.at ?? "",
      lastAt: last[0]?.at ?? "",
      count: record.count,
      revision,
      created: count("created"),
      configured: count("configured"),
      deleted: count("deleted"),
      unchanged,
      outcome,
      failure,
      message,
      changes,
    }
  })

/** The kind the journal is stored as: one per reconciled object, in its namespace, owned by it. */
export const reconcileJournalResource: ApiResource = {
  group: "kustodian.io",
  version: "v1alpha1",
  kind: "ReconcileJournal",
  listKind: "ReconcileJournalList",
  plural: "reconcilejournals",
  singular: "reconcilejournal",
  shortNames: ["rj"],
  categories: ["kustodian"],
  printerColumns: [
    { name: "Kind", type: "string", jsonPath: ".spec.subject.kind" },
    { name: "Object", type: "string", jsonPath: ".spec.subject.name" },
    { name: "Compacted", type: "integer", jsonPath: ".spec.compacted" },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
}
