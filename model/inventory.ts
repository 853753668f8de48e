/**
 * The Kustomization inventory: which objects a Kustomization applied, as `{id, v}` entries.
 *
 * Use `objectId`/`parseObjectId` for the id format `<namespace>_<name>_<group>_<kind>` (cli-utils'
 * ObjMetadata string), which Flux and `flux tree`/`flux diff` read; names of RBAC objects may contain `:`, which
 * the id spells `__`.
 */
import { Schema } from "effect"

/** One applied object: `id` = `<namespace>_<name>_<group>_<kind>`, `v` = its API version (`v1`, `v2`…). */
export const InventoryEntry = Schema.Struct({
  id: Schema.String.annotate({
    description: "Object id in the format '<namespace>_<name>_<group>_<kind>'.",
  }),
  v: Schema.String.annotate({ description: "Version of the object's API group." }),
}).annotate({ description: "Reference to an applied Kubernetes object." })
export type InventoryEntry = typeof InventoryEntry.Type

/** The objects a Kustomization applied. */
export const ResourceInventory = Schema.Struct({
  entries: Schema.Array(InventoryEntry).annotate({ description: "Applied objects." }),
}).annotate({ description: "List of the objects applied by the last successful reconciliation." })
export type ResourceInventory = typeof ResourceInventory.Type

/** What identifies an object in the inventory (the version is kept beside the id, not in it). */
export interface ObjectKey {
  /** "" for cluster-scoped objects. */
  readonly namespace: string
  readonly name: string
  /** "" for the core group. */
  readonly group: string
  readonly kind: string
}

const rbacGroup = "rbac.authorization.k8s.io"
const rbacKinds = new Set(["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"])
const isRbac = (group: string, kind: string) => group === rbacGroup && rbacKinds.has(kind)

/** The inventory id of an object; `:` in RBAC object names is written as `__` so the id stays parseable. */
export const objectId = (key: ObjectKey): string => {
  const name = isRbac(key.group, key.kind) ? key.name.replaceAll(":", "__") : key.name
  return `${key.namespace}_${name}_${key.group}_${key.kind}`
}

/**
 * Parses an inventory id: the first `_` ends the namespace, the last starts the kind, the one before starts the
 * group. Returns `undefined` for malformed ids.
 */
export const parseObjectId = (id: string): ObjectKey | undefined => {
  const first = id.indexOf("_")
  const last = id.lastIndexOf("_")
  if (first < 0 || last <= first) return undefined
  const groupStart = id.lastIndexOf("_", last - 1)
  if (groupStart <= first) return undefined
  const namespace = id.slice(0, first)
  const rawName = id.slice(first + 1, groupStart)
  const group = id.slice(groupStart + 1, last)
  const kind = id.slice(last + 1)
  if (rawName === "" || kind === "") return undefined
  const name = isRbac(group, kind) ? rawName.replaceAll("__", ":") : rawName
  return { namespace, name, group, kind }
}

/** Splits an apiVersion into group and version (`apps/v1` → apps, v1; `v1` → "", v1). */
export const splitApiVersion = (apiVersion: string): { readonly group: string; readonly version: string } => {
  const slash = apiVersion.indexOf("/")
  return slash < 0
    ? { group: "", version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) }
}

/** The inventory entry of an applied object. */
export const inventoryEntry = (object: {
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  readonly namespace?: string | undefined
}): InventoryEntry => {
  const { group, version } = splitApiVersion(object.apiVersion)
  return {
    id: objectId({ namespace: object.namespace ?? "", name: object.name, group, kind: object.kind }),
    v: version,
  }
}
