/**
 * How a kind is served: group, version, names. One constant per kind lives next to its schema; the CRD generator,
 * RBAC rules and API clients all read it instead of repeating the strings.
 */

/** Names and printing of a served kind. */
export interface ApiResource {
  readonly group: string
  readonly version: string
  readonly kind: string
  readonly listKind: string
  readonly plural: string
  readonly singular: string
  readonly shortNames: ReadonlyArray<string>
  readonly categories: ReadonlyArray<string>
  /** Columns `kubectl get` prints, in order (CRD additionalPrinterColumns). */
  readonly printerColumns: ReadonlyArray<{
    readonly name: string
    readonly type: "string" | "date" | "integer" | "number" | "boolean"
    readonly jsonPath: string
  }>
}

/** `<group>/<version>`. */
export const apiVersionOf = (resource: ApiResource): string => `${resource.group}/${resource.version}`

/** Flux's columns for the Ready condition. */
export const readyColumns = [
  { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
  { name: "Status", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].message' },
] as const

/** Finalizer Flux's controllers put on the objects they reconcile. */
export const FluxFinalizer = "finalizers.fluxcd.io"
