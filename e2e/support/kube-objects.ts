/**
 * The shapes e2e tests read back from `kubectl get -o json`: a Flux object (or any object with data) with the
 * status fields the tests look at, and an events.k8s.io/v1 Event. Read-only views, not the operator's types:
 * the tests check what the API server holds, whatever the operator's code believes.
 */

export interface Condition {
  readonly type: string
  readonly status: string
  readonly reason: string
  readonly message: string
}

export interface Obj {
  readonly metadata: {
    readonly name: string
    readonly uid: string
    readonly resourceVersion: string
    readonly generation?: number
    readonly labels?: Record<string, string>
    readonly annotations?: Record<string, string>
    readonly managedFields?: ReadonlyArray<{
      readonly manager: string
      readonly operation: string
      readonly subresource?: string
    }>
  }
  readonly data?: Record<string, string>
  readonly spec?: { readonly replicas?: number }
  readonly status?: {
    readonly observedGeneration?: number
    readonly conditions?: ReadonlyArray<Condition>
    readonly lastAppliedRevision?: string
    readonly lastAttemptedRevision?: string
    readonly lastHandledReconcileAt?: string
    readonly inventory?: { readonly entries: ReadonlyArray<{ readonly id: string; readonly v: string }> }
    readonly history?: ReadonlyArray<{
      readonly digest: string
      readonly firstReconciled: string
      readonly lastReconciled: string
      readonly lastReconciledDuration: string
      readonly lastReconciledStatus: string
      readonly totalReconciliations: number
      readonly metadata?: Record<string, string>
    }>
    readonly artifact?: { readonly revision: string }
  }
}

export interface KubeEvent {
  readonly type: string
  readonly reason: string
  readonly note?: string
  readonly reportingController?: string
  readonly reportingInstance?: string
  readonly regarding: { readonly kind: string; readonly name: string }
  readonly metadata: { readonly annotations?: Record<string, string> }
}
