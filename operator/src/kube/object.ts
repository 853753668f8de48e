/**
 * The one shape of a Kubernetes object in the operator, and the one way to name one.
 *
 * An object is plain JSON as the API server sends and receives it (never a typed client model, so unknown fields
 * survive a round trip): what kustomize built, what a watch delivered and what the apply stage sends are all a
 * `KubeObject`. An `ObjectRef` names one object without holding it (change sets, inventories, errors);
 * `formatRef` writes it as Flux writes object references in events and errors.
 *
 * @module
 */

/** An arbitrary Kubernetes object. Fields beyond `metadata` are the caller's to read. */
export interface KubeObject {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: ObjectMeta
  readonly [field: string]: unknown
}

/** `metav1.ObjectMeta`: the fields the operator reads; any other field is kept as it came. */
export interface ObjectMeta {
  readonly name: string
  readonly generateName?: string
  readonly namespace?: string
  readonly uid?: string
  readonly resourceVersion?: string
  readonly generation?: number
  /** `null` in manifests written by `kubectl create --dry-run=client -o yaml`. */
  readonly creationTimestamp?: string | null
  readonly deletionTimestamp?: string
  readonly labels?: Readonly<Record<string, string>>
  readonly annotations?: Readonly<Record<string, string>>
  readonly finalizers?: ReadonlyArray<string>
  readonly ownerReferences?: ReadonlyArray<OwnerReference>
  readonly managedFields?: ReadonlyArray<ManagedFieldsEntry>
  readonly [field: string]: unknown
}

export interface OwnerReference {
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  readonly uid: string
  readonly controller?: boolean
  readonly blockOwnerDeletion?: boolean
}

export interface ManagedFieldsEntry {
  readonly manager?: string
  readonly operation?: string
  readonly apiVersion?: string
  readonly time?: string
  readonly fieldsType?: string
  readonly fieldsV1?: unknown
  readonly subresource?: string
}

/** A list as the API server sends it; the client gives every item its `apiVersion` and `kind`. */
export interface KubeList<T extends KubeObject = KubeObject> {
  readonly apiVersion?: string
  readonly kind?: string
  readonly metadata: { readonly resourceVersion?: string; readonly continue?: string }
  readonly items: ReadonlyArray<T>
}

/** Identifies one object: group (empty for core), version, kind, namespace (empty when cluster-scoped), name. */
export interface ObjectRef {
  readonly group: string
  readonly version: string
  readonly kind: string
  readonly namespace: string
  readonly name: string
}

/** Splits `apps/v1` into group `apps` and version `v1`; `v1` into the core group. */
export const splitApiVersion = (apiVersion: string): { readonly group: string; readonly version: string } => {
  const slash = apiVersion.indexOf("/")
  return slash < 0
    ? { group: "", version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) }
}

/** `group/version`, or `version` for the core group. */
export const apiVersionOf = (ref: { readonly group: string; readonly version: string }): string =>
  ref.group === "" ? ref.version : `${ref.group}/${ref.version}`

/** The reference of an object (a missing name or namespace is `""`). */
export const refOf = (obj: KubeObject): ObjectRef => {
  const { group, version } = splitApiVersion(obj.apiVersion)
  return {
    group,
    version,
    kind: obj.kind,
    namespace: obj.metadata.namespace ?? "",
    name: obj.metadata.name ?? "",
  }
}

/** `Kind/namespace/name`, or `Kind/name` when cluster-scoped — the form Flux uses in events and errors. */
export const formatRef = (ref: Pick<ObjectRef, "kind" | "namespace" | "name">): string =>
  ref.namespace === "" ? `${ref.kind}/${ref.name}` : `${ref.kind}/${ref.namespace}/${ref.name}`

/** A key that tells objects apart whatever the version they are served in (for maps and sets). */
export const refKey = (ref: Pick<ObjectRef, "group" | "kind" | "namespace" | "name">): string =>
  `${ref.group}/${ref.kind}/${ref.namespace}/${ref.name}`
