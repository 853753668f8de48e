/**
 * The status of a Flux-style object as a pure fold of domain events over the last status. The runtime
 * calls `project` after every reconcile; what comes out is written to the status subresource only when it
 * differs (`statusEquals`). Follows Flux's condition semantics:
 * - start: Reconciling=True/Progressing, Ready=Unknown/Progressing;
 * - success: Ready=True, Reconciling and Stalled removed, observedGeneration = generation;
 * - retryable failure: Ready=False/<reason>, Reconciling=True/ProgressingWithRetry, observedGeneration kept;
 * - terminal failure: Ready=False/<reason>, Stalled=True/<reason>, Reconciling removed, observedGeneration = generation.
 */
import {
  type Condition,
  ConditionType,
  conditionReasonPattern,
  conditionTypePattern,
  Reason,
  truncateMessage,
} from "./condition.ts"
import { formatDuration } from "./duration.ts"
import type { DomainEvent, InventoryEntry, Recorded } from "./events.ts"

/** Flux's history snapshot (fluxcd/pkg apis/meta `Snapshot`). */
export interface Snapshot {
  readonly digest: string
  readonly firstReconciled: string
  readonly lastReconciled: string
  readonly lastReconciledDuration: string
  readonly lastReconciledStatus: string
  readonly totalReconciliations: number
  readonly metadata?: Readonly<Record<string, string>>
}

/** The status fields the runtime's projection owns; kind-specific fields ride along untouched. */
export interface ReconcileStatus {
  readonly observedGeneration?: number
  readonly conditions?: ReadonlyArray<Condition>
  readonly lastHandledReconcileAt?: string
  readonly lastAttemptedRevision?: string
  readonly lastAppliedRevision?: string
  readonly lastAppliedOriginRevision?: string
  readonly inventory?: { readonly entries: ReadonlyArray<InventoryEntry> }
  readonly history?: ReadonlyArray<Snapshot>
  readonly [field: string]: unknown
}

/** Flux keeps the five most recent snapshots. */
export const MaxHistory = 5

export const ProgressMessage = "Reconciliation in progress"

interface Fold {
  status: Mutable<ReconcileStatus>
  /** The conditions when the current reconcile started: transitions are measured against them. */
  baseline: ReadonlyArray<Condition>
  generation: number
  digest: string | undefined
  revision: string | undefined
  originRevision: string | undefined
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

const safeReason = (reason: string): string =>
  reason.length <= 1024 && conditionReasonPattern.test(reason) ? reason : Reason.Failed

/**
 * metav1 `SetStatusCondition`: lastTransitionTime changes only when status changes; type stays in place.
 */
const setCondition = (
  conditions: ReadonlyArray<Condition>,
  baseline: ReadonlyArray<Condition>,
  next: { type: string; status: Condition["status"]; reason: string; message: string },
  generation: number,
  at: string,
): ReadonlyArray<Condition> => {
  if (!conditionTypePattern.test(next.type) || next.type.length > 316) return conditions
  const existing = conditions.find((c) => c.type === next.type)
  // A reconcile passes through Ready=Unknown on its way back to Ready=True: that is not a transition.
  const before = baseline.find((c) => c.type === next.type)
  const lastTransitionTime =
    before !== undefined && before.status === next.status
      ? before.lastTransitionTime
      : existing !== undefined && existing.status === next.status
        ? existing.lastTransitionTime
        : at
  const condition: Condition = {
    type: next.type,
    status: next.status,
    observedGeneration: Math.max(0, generation),
    lastTransitionTime,
    reason: safeReason(next.reason),
    message: truncateMessage(next.message),
  }
  return existing === undefined
    ? [...conditions, condition]
    : conditions.map((c) => (c.type === next.type ? condition : c))
}

const removeCondition = (conditions: ReadonlyArray<Condition>, type: string) =>
  conditions.filter((c) => c.type !== type)

/** Flux orders Ready first, then the negative-polarity summary conditions, then the rest as they came. */
const ownedOrder = [ConditionType.Ready, ConditionType.Reconciling, ConditionType.Stalled] as const
const sortConditions = (conditions: ReadonlyArray<Condition>): ReadonlyArray<Condition> => {
  const rank = (c: Condition) => {
    const i = (ownedOrder as ReadonlyArray<string>).indexOf(c.type)
    return i < 0 ? ownedOrder.length : i
  }
  return conditions
    .map((c, i) => ({ c, i }))
    .sort((a, b) => rank(a.c) - rank(b.c) || a.i - b.i)
    .map(({ c }) => c)
}

/** Upserts a snapshot keyed by (digest, status), newest first, bounded. */
export const upsertHistory = (
  history: ReadonlyArray<Snapshot>,
  entry: { digest: string; status: string; at: string; durationMs: number; metadata: Record<string, string> },
): ReadonlyArray<Snapshot> => {
  const existing = history.find((s) => s.digest === entry.digest && s.lastReconciledStatus === entry.status)
  const rest = history.filter((s) => s !== existing)
  const snapshot: Snapshot = {
    digest: entry.digest,
    firstReconciled: existing?.firstReconciled ?? entry.at,
    lastReconciled: entry.at,
    lastReconciledDuration: formatDuration(Math.max(0, Math.round(entry.durationMs))),
    lastReconciledStatus: entry.status,
    totalReconciliations: (existing?.totalReconciliations ?? 0) + 1,
    ...(Object.keys(entry.metadata).length > 0 ? { metadata: entry.metadata } : {}),
  }
  return [snapshot, ...rest].slice(0, MaxHistory)
}

const step = (fold: Fold, event: DomainEvent, at: string): void => {
  const s = fold.status
  const conditions = () => s.conditions ?? []
  const set = (type: string, status: Condition["status"], reason: string, message: string) => {
    s.conditions = setCondition(
      conditions(),
      fold.baseline,
      { type, status, reason, message },
      fold.generation,
      at,
    )
  }
  const remove = (type: string) => {
    s.conditions = removeCondition(conditions(), type)
  }
  const metadata = () => ({
    ...(fold.revision !== undefined ? { revision: fold.revision } : {}),
    ...(fold.originRevision !== undefined ? { originRevision: fold.originRevision } : {}),
  })
  switch (event._tag) {
    case "ReconcileStarted":
      fold.generation = Math.max(0, Math.trunc(event.generation))
      fold.baseline = conditions()
      fold.digest = undefined
      fold.revision = undefined
      fold.originRevision = undefined
      if (event.requestedAt !== undefined) s.lastHandledReconcileAt = event.requestedAt
      set(ConditionType.Reconciling, "True", Reason.Progressing, ProgressMessage)
      set(ConditionType.Ready, "Unknown", Reason.Progressing, ProgressMessage)
      return
    case "Progressed":
      set(ConditionType.Reconciling, "True", Reason.Progressing, event.message)
      return
    case "ArtifactFetched":
      fold.revision = event.revision
      fold.originRevision = event.originRevision
      s.lastAttemptedRevision = event.revision
      return
    case "Built":
      fold.digest = event.digest
      return
    case "InventoryRecorded":
      s.inventory = { entries: event.entries.map((e) => ({ id: e.id, v: e.v })) }
      return
    case "HealthChecking":
      set(ConditionType.Healthy, "Unknown", Reason.Progressing, event.message)
      return
    case "HealthChecked":
      set(ConditionType.Healthy, event.healthy ? "True" : "False", event.reason, event.message)
      return
    case "HealthChecksDisabled":
      remove(ConditionType.Healthy)
      return
    case "ConditionSet":
      if ((ownedOrder as ReadonlyArray<string>).includes(event.type)) return
      set(event.type, event.status, event.reason, event.message)
      return
    case "ConditionRemoved":
      if ((ownedOrder as ReadonlyArray<string>).includes(event.type)) return
      remove(event.type)
      return
    case "FieldsSet":
      for (const [k, v] of Object.entries(event.fields)) {
        if (!ownedFields.has(k)) s[k] = v
      }
      return
    case "StageFailed": {
      const reason = safeReason(event.reason)
      set(ConditionType.Ready, "False", reason, event.message)
      if (event.terminal) {
        set(ConditionType.Stalled, "True", reason, event.message)
        remove(ConditionType.Reconciling)
        s.observedGeneration = fold.generation
      } else {
        remove(ConditionType.Stalled)
        const reconciling = conditions().find((c) => c.type === ConditionType.Reconciling)
        set(
          ConditionType.Reconciling,
          "True",
          Reason.ProgressingWithRetry,
          reconciling?.message ?? event.message,
        )
      }
      if (fold.digest !== undefined) {
        s.history = upsertHistory(s.history ?? [], {
          digest: fold.digest,
          status: reason,
          at,
          durationMs: event.durationMs ?? 0,
          metadata: metadata(),
        })
      }
      return
    }
    case "Succeeded": {
      set(ConditionType.Ready, "True", event.reason ?? Reason.ReconciliationSucceeded, event.message)
      remove(ConditionType.Reconciling)
      remove(ConditionType.Stalled)
      s.observedGeneration = fold.generation
      const revision = event.revision ?? fold.revision
      const origin = event.originRevision ?? fold.originRevision
      if (revision !== undefined) s.lastAppliedRevision = revision
      if (origin !== undefined) s.lastAppliedOriginRevision = origin
      else if (revision !== undefined) delete s.lastAppliedOriginRevision
      if (fold.digest !== undefined) {
        s.history = upsertHistory(s.history ?? [], {
          digest: fold.digest,
          status: Reason.ReconciliationSucceeded,
          at,
          durationMs: event.durationMs ?? 0,
          metadata: metadata(),
        })
      }
      return
    }
    case "Decrypted":
    case "Applied":
    case "Pruned":
      // Reported as Kubernetes Events and metrics; nothing in the status.
      return
  }
}

const ownedFields = new Set([
  "observedGeneration",
  "conditions",
  "lastHandledReconcileAt",
  "lastAttemptedRevision",
  "lastAppliedRevision",
  "lastAppliedOriginRevision",
  "inventory",
  "history",
])

/**
 * Folds journal entries over the last status. Pure: same inputs, same status. Entries before the
 * first `ReconcileStarted` apply to the newest generation the last status observed.
 */
export const project = (last: ReconcileStatus, entries: ReadonlyArray<Recorded>): ReconcileStatus => {
  const fold: Fold = {
    status: { ...last },
    baseline: last.conditions ?? [],
    generation: Math.max(
      last.observedGeneration ?? 0,
      ...(last.conditions ?? []).map((c) => c.observedGeneration ?? 0),
    ),
    digest: undefined,
    revision: undefined,
    originRevision: undefined,
  }
  for (const entry of entries) step(fold, entry.event, entry.at)
  if (fold.status.conditions !== undefined) fold.status.conditions = sortConditions(fold.status.conditions)
  return fold.status
}

/** Structural equality of two statuses (key order ignored), to skip writes that change nothing. */
export const statusEquals = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => statusEquals(x, b[i]))
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined)
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined)
  return (
    ka.length === kb.length &&
    ka.every((k) => statusEquals((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  )
}

/** The Ready condition, if any. */
export const readyOf = (status: ReconcileStatus): Condition | undefined =>
  status.conditions?.find((c) => c.type === ConditionType.Ready)
