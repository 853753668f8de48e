import type { KubeObject } from "../../kube/object.ts"
/**
 * Per-object policies users set with labels or annotations in their manifests (or on the live object)
 * to steer the applier. Values compare case-insensitively, labels and annotations count alike, as in Flux.
 */

export const ownerGroup = "kustomize.toolkit.fluxcd.io"
export const ssaKey = `${ownerGroup}/ssa`
export const reconcileKey = `${ownerGroup}/reconcile`
export const forceKey = `${ownerGroup}/force`
export const pruneKey = `${ownerGroup}/prune`

/**
 * - `Override` (default): the applier owns its fields and takes back what `kubectl` edited,
 * - `Merge`: fields set by other managers are left alone,
 * - `IfNotPresent`: created when absent, never updated afterwards,
 * - `Ignore`: never applied (and never pruned).
 */
export type SsaPolicy = "Override" | "Merge" | "IfNotPresent" | "Ignore"

const lookup = (obj: KubeObject | undefined, key: string): string | undefined =>
  obj?.metadata.annotations?.[key] ?? obj?.metadata.labels?.[key]

const is = (obj: KubeObject | undefined, key: string, value: string): boolean =>
  lookup(obj, key)?.toLowerCase() === value.toLowerCase()

export const ssaPolicy = (obj: KubeObject): SsaPolicy => {
  const v = lookup(obj, ssaKey)?.toLowerCase()
  return v === "merge"
    ? "Merge"
    : v === "ifnotpresent"
      ? "IfNotPresent"
      : v === "ignore"
        ? "Ignore"
        : "Override"
}

/** `reconcile: disabled` on the desired or the live object: neither applied nor pruned. */
export const reconcileDisabled = (obj: KubeObject | undefined): boolean => is(obj, reconcileKey, "disabled")

/** `force: enabled`: recreate this object when an immutable field changes, even without `spec.force`. */
export const forceEnabled = (obj: KubeObject): boolean => is(obj, forceKey, "enabled")

/** Objects prune must leave in the cluster: `prune: disabled`, `reconcile: disabled`, `ssa: Ignore`. */
export const pruneDisabled = (obj: KubeObject): boolean =>
  is(obj, pruneKey, "disabled") || reconcileDisabled(obj) || is(obj, ssaKey, "ignore")
