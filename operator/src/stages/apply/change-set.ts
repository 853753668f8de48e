/**
 * What a reconcile did to each object. The change set feeds the Kustomization's inventory, the
 * `Applied`/`Pruned` domain events and the Kubernetes Event text.
 */
import type { Change } from "../../../../model/events.ts"
import { compareApplyOrder } from "./apply-order.ts"
import { formatRef, type ObjectRef } from "./object.ts"

/**
 * - `created`: did not exist (or was recreated after an immutable-field change),
 * - `configured`: existed and drifted from the desired state,
 * - `unchanged`: the server-side dry-run matched the live object; nothing was written,
 * - `skipped`: excluded by a policy (`ssa: Ignore`/`IfNotPresent`, `reconcile: disabled`, `prune: disabled`),
 * - `deleted`: removed by prune.
 */
export type Action = "created" | "configured" | "unchanged" | "skipped" | "deleted"

export interface ChangeSetEntry {
  readonly ref: ObjectRef
  readonly action: Action
}

export type ChangeSet = ReadonlyArray<ChangeSetEntry>

/** The `Kind/namespace/name action` line Flux writes per changed object. */
export const formatEntry = (e: ChangeSetEntry): string => `${formatRef(e.ref)} ${e.action}`

/** Did the reconcile write or delete anything? Only then does Flux emit the change-set Event. */
export const hasChanges = (cs: ChangeSet): boolean =>
  cs.some((e) => e.action === "created" || e.action === "configured" || e.action === "deleted")

/** The Event message: one line per created/configured/deleted object in apply order; "" when nothing changed. */
export const summarize = (cs: ChangeSet): string =>
  [...cs]
    .filter((e) => e.action === "created" || e.action === "configured" || e.action === "deleted")
    .sort((a, b) => compareApplyOrder(a.ref, b.ref))
    .map(formatEntry)
    .join("\n")

/** The change set as the `Applied`/`Pruned` domain events carry it. */
export const toChanges = (cs: ChangeSet): ReadonlyArray<Change> =>
  cs.map((e) => ({ subject: formatRef(e.ref), action: e.action }))

/** Counts per action, for metrics and the status message. */
export const countByAction = (cs: ChangeSet): Readonly<Record<Action, number>> => {
  const counts: Record<Action, number> = { created: 0, configured: 0, unchanged: 0, skipped: 0, deleted: 0 }
  for (const e of cs) counts[e.action]++
  return counts
}
