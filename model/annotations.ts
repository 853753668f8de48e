/**
 * Annotation and label keys of Flux's APIs that users put on objects and the operator reads or writes.
 */

/** Set to any new value (usually a timestamp) to request an immediate reconcile; `flux reconcile` does this. */
export const ReconcileRequestAnnotation = "reconcile.fluxcd.io/requestedAt"

/** Label that makes a Secret/ConfigMap change trigger reconciles of the objects referencing it (value Enabled). */
export const WatchLabel = "reconcile.fluxcd.io/watch"

/** Owner labels set on every applied object; prune only deletes objects carrying both. */
export const OwnerLabels = {
  name: "kustomize.toolkit.fluxcd.io/name",
  namespace: "kustomize.toolkit.fluxcd.io/namespace",
} as const

/** Per-object policies, as labels or annotations; values compared case-insensitively. */
export const PolicyKeys = {
  /** Override (default) | Merge | IfNotPresent | Ignore */
  ssa: "kustomize.toolkit.fluxcd.io/ssa",
  /** disabled: neither apply nor prune */
  reconcile: "kustomize.toolkit.fluxcd.io/reconcile",
  /** enabled: recreate on immutable-field errors */
  force: "kustomize.toolkit.fluxcd.io/force",
  /** disabled: never prune */
  prune: "kustomize.toolkit.fluxcd.io/prune",
  /** disabled: never decrypt */
  decrypt: "kustomize.toolkit.fluxcd.io/decrypt",
  /** disabled: never substitute variables */
  substitute: "kustomize.toolkit.fluxcd.io/substitute",
} as const

/** Event metadata keys a Kustomization's events carry. */
export const EventMetadataKeys = {
  revision: "kustomize.toolkit.fluxcd.io/revision",
  originRevision: "kustomize.toolkit.fluxcd.io/originRevision",
  commitStatus: "kustomize.toolkit.fluxcd.io/commit_status",
} as const

/** Field manager of server-side apply, as Flux's kustomize-controller names it. */
export const ApplyFieldManager = "kustomize-controller"
