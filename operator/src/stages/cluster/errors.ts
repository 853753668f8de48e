/**
 * The typed failures of the apply, prune and health stages. Each carries the Flux reason the
 * Kustomization's Ready condition gets, a message naming the objects involved (never a Secret value),
 * and whether a later retry can succeed without a change in Git.
 */
import { Data } from "effect"
import type { ObjectRef } from "../../kube/object.ts"

/** Apply (dry-run validation, server-side apply, recreate, stage waits) failed; nothing after it ran. */
export class ApplyError extends Data.TaggedError("ApplyError")<{
  /** `AccessDenied` for a spec the controller refuses (cross-namespace refs); `ReconciliationFailed` otherwise. */
  readonly reason: "ReconciliationFailed" | "AccessDenied"
  readonly message: string
  /** `Kind/namespace/name` of every object that failed. */
  readonly objects: ReadonlyArray<string>
  /** False when only a change to the manifests or the spec can fix it (stalled). */
  readonly retryable: boolean
}> {
  /** The runtime's contract: terminal errors stall the object instead of being retried. */
  get terminal(): boolean {
    return !this.retryable
  }
}

/** Prune could not delete some objects; they stay in the inventory. */
export class PruneError extends Data.TaggedError("PruneError")<{
  readonly reason: "PruneFailed"
  readonly message: string
  readonly objects: ReadonlyArray<string>
  /** Inventory entries of the objects not deleted: merge them back into the new inventory. */
  readonly remaining: ReadonlyArray<{ readonly id: string; readonly v: string }>
  /** What prune did before it failed (deleted and skipped objects). */
  readonly changeSet: ReadonlyArray<{ readonly ref: ObjectRef; readonly action: "deleted" | "skipped" }>
  readonly retryable: boolean
}> {
  /** The runtime's contract: terminal errors stall the object instead of being retried. */
  get terminal(): boolean {
    return !this.retryable
  }
}

/** Objects did not become ready within the timeout, or failed on the way. */
export class HealthCheckError extends Data.TaggedError("HealthCheckError")<{
  readonly reason: "HealthCheckFailed"
  readonly message: string
  readonly objects: ReadonlyArray<string>
  readonly retryable: boolean
}> {
  /** The runtime's contract: terminal errors stall the object instead of being retried. */
  get terminal(): boolean {
    return !this.retryable
  }
}

export type StageError = ApplyError | PruneError | HealthCheckError
