/**
 * The coordinates of a Kubernetes resource type, the URL paths they give, and the cache key of an object. Use
 * `ResourceRef` wherever a kind is named for HTTP; build one by hand for kinds you own or get one from the
 * RESTMapper. The objects themselves are `KubeObject`s (`object.ts`).
 */
import type { KubeObject } from "./object.ts"

export interface ResourceRef {
  /** `""` for the core group. */
  readonly group: string
  readonly version: string
  /** Lower-case plural, as in the URL. */
  readonly plural: string
  readonly kind: string
  readonly namespaced: boolean
}

const groupVersionPath = (ref: Pick<ResourceRef, "group" | "version">): string =>
  ref.group === "" ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`

/**
 * The URL path of a collection (`name` absent) or of one object, optionally of a subresource.
 * A namespaced kind without `namespace` addresses the collection across all namespaces.
 */
export const resourcePath = (
  ref: ResourceRef,
  options: {
    readonly namespace?: string | undefined
    readonly name?: string | undefined
    readonly subresource?: string | undefined
  } = {},
): string => {
  let path = groupVersionPath(ref)
  if (ref.namespaced && options.namespace !== undefined && options.namespace !== "") {
    path += `/namespaces/${encodeURIComponent(options.namespace)}`
  }
  path += `/${ref.plural}`
  if (options.name !== undefined) path += `/${encodeURIComponent(options.name)}`
  if (options.subresource !== undefined) path += `/${options.subresource}`
  return path
}

/** The key of an object in caches and work queues: `namespace/name`, or `name` when cluster-scoped. */
export type ObjectKey = string

export const objectKey = (namespace: string | undefined, name: string): ObjectKey =>
  namespace === undefined || namespace === "" ? name : `${namespace}/${name}`

export const keyOf = (obj: KubeObject): ObjectKey => objectKey(obj.metadata.namespace, obj.metadata.name)

export const parseObjectKey = (key: ObjectKey): { namespace: string | undefined; name: string } => {
  const slash = key.indexOf("/")
  return slash < 0
    ? { namespace: undefined, name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) }
}

/** A few built-in kinds every controller needs. */
export const CoreResources = {
  namespace: { group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false },
  secret: { group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true },
  configMap: { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true },
  lease: { group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true },
  event: { group: "events.k8s.io", version: "v1", plural: "events", kind: "Event", namespaced: true },
  customResourceDefinition: {
    group: "apiextensions.k8s.io",
    version: "v1",
    plural: "customresourcedefinitions",
    kind: "CustomResourceDefinition",
    namespaced: false,
  },
} as const satisfies Record<string, ResourceRef>
