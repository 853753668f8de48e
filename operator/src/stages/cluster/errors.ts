/**
 * The typed failures of the access check, the prune and the health stages (the applier's own are in
 * `apply/errors.ts`). Each carries the Flux reason the Kustomization's Ready condition gets, a message naming the
 * objects involved (never a Secret value), and whether a later retry can succeed without a change in Git.
 */
import { Data } from "effect"
import type { ObjectRef } from "../../kube/object.ts"

/** With `--no-cross-namespace-refs`, the Kustomization references a source or dependency in another namespace. */
export class CrossNamespaceRefsDenied extends Data.TaggedError("CrossNamespaceRefsDenied")<{
  /** The Kustomization. */
  readonly object: ObjectRef
  /** Each offending reference (`GitRepository 'repo'`, `dependency 'infra'`) and its namespace. */
  readonly refs: ReadonlyArray<{ readonly what: string; readonly namespace: string }>
}> {
  readonly reason = "AccessDenied"
  override get message(): string {
    return `cross-namespace references are not allowed (--no-cross-namespace-refs): ${this.refs
      .map((r) => `${r.what} in namespace '${r.namespace}'`)
      .join(", ")}`
  }
  /** Only a change of the spec helps. */
  readonly retryable = false
  /** The runtime's contract: terminal errors stall the object instead of being retried. */
  readonly terminal = true
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
