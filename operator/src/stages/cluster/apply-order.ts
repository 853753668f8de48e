import type { ObjectRef } from "../../kube/object.ts"

/**
 * The order objects reach the API server in: stages that must be ready before the next starts, and a
 * stable kind order inside each stage, so a set applies the same way every time.
 */

/**
 * Kinds that other objects need to exist first. Ones not listed sort after these (alphabetically by
 * kind); webhook configurations go last so they do not intercept the objects of the same set.
 */
const kindOrder: ReadonlyArray<string> = [
  "CustomResourceDefinition",
  "Namespace",
  "ClusterRole",
  "ClusterClass",
  "RuntimeClass",
  "PriorityClass",
  "StorageClass",
  "VolumeSnapshotClass",
  "IngressClass",
  "GatewayClass",
  "ClusterRoleBinding",
  "ResourceQuota",
  "ServiceAccount",
  "Role",
  "RoleBinding",
  "ConfigMap",
  "Secret",
  "Service",
  "LimitRange",
  "PersistentVolume",
  "PersistentVolumeClaim",
  "Deployment",
  "StatefulSet",
  "DaemonSet",
  "Job",
  "CronJob",
  "PodDisruptionBudget",
]
const lastKinds: ReadonlyArray<string> = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]

const kindRank = (kind: string): number => {
  const i = kindOrder.indexOf(kind)
  if (i >= 0) return i
  const j = lastKinds.indexOf(kind)
  return j >= 0 ? kindOrder.length + 1 + j : kindOrder.length
}

/** Compare in apply order: kind rank, then kind name (for unlisted kinds), namespace, name. */
export const compareApplyOrder = (a: ObjectRef, b: ObjectRef): number =>
  kindRank(a.kind) - kindRank(b.kind) ||
  cmp(a.kind, b.kind) ||
  cmp(a.group, b.group) ||
  cmp(a.namespace, b.namespace) ||
  cmp(a.name, b.name)

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Which stage an object belongs to:
 * - `definitions`: CRDs, Namespaces and ClusterRoles, applied first and waited for (Established/Active),
 * - `classes`: any `*Class` kind (StorageClass, IngressClass, …), applied and waited for next,
 * - `rest`: everything else.
 */
export type ApplyStage = "definitions" | "classes" | "rest"

export const stages: ReadonlyArray<ApplyStage> = ["definitions", "classes", "rest"]

export const stageOf = (ref: Pick<ObjectRef, "group" | "kind">): ApplyStage => {
  if (ref.group === "apiextensions.k8s.io" && ref.kind === "CustomResourceDefinition") return "definitions"
  if (ref.group === "" && ref.kind === "Namespace") return "definitions"
  if (ref.group === "rbac.authorization.k8s.io" && ref.kind === "ClusterRole") return "definitions"
  if (ref.kind.endsWith("Class")) return "classes"
  return "rest"
}

/** Groups items by stage, each sorted in apply order; the input order never matters. */
export const planStages = <A>(
  items: ReadonlyArray<A>,
  refOf: (a: A) => ObjectRef,
): ReadonlyArray<{ readonly stage: ApplyStage; readonly items: ReadonlyArray<A> }> =>
  stages
    .map((stage) => ({
      stage,
      items: items
        .filter((a) => stageOf(refOf(a)) === stage)
        .sort((a, b) => compareApplyOrder(refOf(a), refOf(b))),
    }))
    .filter((s) => s.items.length > 0)
