/**
 * The shape the apply, prune and health stages work on: an arbitrary Kubernetes object as plain JSON
 * (never a typed client model, so unknown fields survive), and the reference that names it in messages.
 */

/** An arbitrary Kubernetes object as the API server sends and receives it. */
export interface KubeObject {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: ObjectMeta
  readonly [key: string]: unknown
}

export interface ObjectMeta {
  readonly name: string
  readonly generateName?: string
  readonly namespace?: string
  readonly labels?: Readonly<Record<string, string>>
  readonly annotations?: Readonly<Record<string, string>>
  readonly resourceVersion?: string
  readonly uid?: string
  readonly generation?: number
  readonly deletionTimestamp?: string
  readonly finalizers?: ReadonlyArray<string>
  readonly managedFields?: ReadonlyArray<ManagedFieldsEntry>
  readonly [key: string]: unknown
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

/** Identifies one object: group (empty for core), kind, namespace (empty when cluster-scoped), name. */
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

export const joinApiVersion = (group: string, version: string): string =>
  group === "" ? version : `${group}/${version}`

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

/** Same object, whatever the version it is served in. */
export const sameObject = (a: ObjectRef, b: ObjectRef): boolean =>
  a.group === b.group && a.kind === b.kind && a.namespace === b.namespace && a.name === b.name

export const isSecret = (ref: Pick<ObjectRef, "group" | "kind">): boolean =>
  ref.group === "" && ref.kind === "Secret"
