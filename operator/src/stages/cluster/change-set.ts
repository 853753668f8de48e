/**
 * What a reconcile did to each object. The change set feeds the Kustomization's inventory, the
 * `Applied`/`Pruned` domain events and the Kubernetes Event text.
 */
import type { Change } from "../../../../model/events.ts"
import { formatRef, type ObjectRef } from "../../kube/object.ts"

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

/** The change set as the `Applied`/`Pruned` domain events carry it. */
export const toChanges = (cs: ChangeSet): ReadonlyArray<Change> =>
  cs.map((e) => ({ subject: formatRef(e.ref), action: e.action }))
