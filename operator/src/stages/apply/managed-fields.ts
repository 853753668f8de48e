import type { KubeObject, ManagedFieldsEntry } from "../../kube/object.ts"
/**
 * Takes back fields edited by hand. Under the default `ssa: Override` policy, fields that `kubectl`
 * (edit, patch, label, client-side apply…) or a pre-SSA controller wrote are handed to the applier's own
 * field manager, so the next apply removes what Git does not declare — a `kubectl edit` is reverted.
 */

export const fieldManager = "kustomize-controller"

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

/** Managers whose fields the applier takes over: kubectl in any form, and Update entries of itself. */
export const isTakenOver = (e: ManagedFieldsEntry): boolean =>
  e.subresource === undefined &&
  ((e.manager?.startsWith("kubectl") ?? false) ||
    (e.manager === "before-first-apply" && e.operation === "Update") ||
    (e.manager === fieldManager && e.operation === "Update"))

type Fields = Record<string, unknown>
const isFields = (v: unknown): v is Fields => typeof v === "object" && v !== null && !Array.isArray(v)

/** The union of two FieldsV1 trees. */
export const mergeFields = (a: unknown, b: unknown): Fields => {
  const out: Fields = isFields(a) ? { ...a } : {}
  if (!isFields(b)) return out
  for (const [k, v] of Object.entries(b))
    out[k] = isFields(out[k]) && isFields(v) ? mergeFields(out[k], v) : isFields(v) ? mergeFields({}, v) : v
  return out
}

/**
 * The JSON patch that hands the taken-over managers' fields to the applier and drops the
 * `last-applied-configuration` annotation, or `undefined` when the live object needs none.
 */
export const takeOverPatch = (live: KubeObject): ReadonlyArray<Record<string, unknown>> | undefined => {
  const entries = live.metadata.managedFields ?? []
  const taken = entries.filter(isTakenOver)
  const ops: Array<Record<string, unknown>> = []
  if (taken.length > 0) {
    const kept = entries.filter((e) => !isTakenOver(e))
    const own = kept.findIndex(
      (e) => e.manager === fieldManager && e.operation === "Apply" && e.subresource === undefined,
    )
    const fields = taken.reduce<Fields>(
      (acc, e) => mergeFields(acc, e.fieldsV1),
      own >= 0 ? mergeFields({}, kept[own]?.fieldsV1) : {},
    )
    const mine: ManagedFieldsEntry = {
      manager: fieldManager,
      operation: "Apply",
      apiVersion: kept[own]?.apiVersion ?? taken[0]?.apiVersion ?? live.apiVersion,
      time: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      fieldsType: "FieldsV1",
      fieldsV1: fields,
    }
    const next = own >= 0 ? kept.map((e, i) => (i === own ? mine : e)) : [...kept, mine]
    ops.push({ op: "test", path: "/metadata/resourceVersion", value: live.metadata.resourceVersion })
    ops.push({ op: "replace", path: "/metadata/managedFields", value: next })
  }
  if (live.metadata.annotations?.[lastApplied] !== undefined)
    ops.push({
      op: "remove",
      path: `/metadata/annotations/${lastApplied.replaceAll("~", "~0").replaceAll("/", "~1")}`,
    })
  return ops.length > 0 ? ops : undefined
}
