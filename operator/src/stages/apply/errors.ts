/**
 * The apply stage's failures, typed. Each per-object failure carries the object it is about (an `ObjectRef`,
 * as fluxcd/pkg ssa's `DryRunErr` carries its involved object) and, for a refused request, what the API server
 * answered; `ApplyError` is what the stage fails with, the failures of one phase together. Their `message` renders
 * Flux's text from those fields when the runtime makes the Ready condition, the Warning Event and the log line of
 * it, one line per failure.
 *
 * What the API server said is stored already redacted (`ServerAnswer.detail`): the applier masks it with the
 * reconcile's redactor when it builds the error, so no field of these errors ever holds an object's values.
 * A per-object failure never leaves the stage on its own: its `reason` is the API server's (`Invalid`), while the
 * runtime reads an error's `reason` as Flux's, which `ApplyError` gives.
 *
 * @module
 */
import { Data, Duration } from "effect"
import { formatRef, type ObjectRef } from "../../kube/object.ts"
import { describeIdentity, type Identity } from "../cluster/impersonation.ts"

/** What the API server answered to a request about one object. */
export interface ServerAnswer {
  /** Kubernetes' `Status.reason` (`Invalid`, `Forbidden`, `NotFound`, …); absent when no answer came. */
  readonly reason?: string | undefined
  /** The HTTP status; absent when the server could not be reached or the connection broke. */
  readonly status?: number | undefined
  /** The server's message (or the transport's), with the object's values and the reconcile's secrets masked. */
  readonly detail: string
  /** The ServiceAccount the request was refused to (HTTP 403 under impersonation). */
  readonly forbiddenFor?: Identity | undefined
}

/** `(Reason): detail`, `(transport): detail` or `is forbidden for ServiceAccount ns/name: detail`. */
const answerText = (a: ServerAnswer): string => {
  if (a.forbiddenFor !== undefined) return `is forbidden for ${describeIdentity(a.forbiddenFor)}: ${a.detail}`
  return `${a.status === undefined ? "(transport)" : `(${a.reason ?? ""})`}: ${a.detail}`
}

/** Connection failures, 429 and 5xx: a later reconcile may succeed with nothing changed. */
const transient = (a: ServerAnswer): boolean => a.status === undefined || a.status === 429 || a.status >= 500

/** The server-side dry run of an object was refused: nothing was written. */
export class DryRunFailed extends Data.TaggedError("DryRunFailed")<
  { readonly object: ObjectRef; readonly immutable: boolean } & ServerAnswer
> {
  override get message(): string {
    const base = `${formatRef(this.object)} dry-run failed ${answerText(this)}`
    return this.immutable
      ? `${base} (immutable field; set spec.force or the kustomize.toolkit.fluxcd.io/force: enabled annotation to recreate)`
      : base
  }
  readonly retryable = false
}

/** A write of the apply was refused: the apply itself, the managed-fields takeover, or a delete or create of a recreate. */
export class ApplyFailed extends Data.TaggedError("ApplyFailed")<
  {
    readonly object: ObjectRef
    readonly step: "apply" | "managed fields cleanup" | "delete (to recreate)" | "recreate"
  } & ServerAnswer
> {
  override get message(): string {
    return `${formatRef(this.object)} ${this.step} failed ${answerText(this)}`
  }
  get retryable(): boolean {
    return transient(this)
  }
}

/** Reading the live object, or its kind's discovery, failed while planning it. */
export class ReadFailed extends Data.TaggedError("ReadFailed")<
  { readonly object: ObjectRef } & ServerAnswer
> {
  override get message(): string {
    return `${formatRef(this.object)} ${answerText(this)}`
  }
  readonly retryable = false
}

/** Discovery knows no such kind (before the set was applied, or after its CRD was). */
export class UnknownKind extends Data.TaggedError("UnknownKind")<{
  readonly object: ObjectRef
  readonly apiVersion: string
  readonly afterCrd: boolean
}> {
  override get message(): string {
    return `${formatRef(this.object)}: no matches for kind "${this.object.kind}" in version "${this.apiVersion}"${this.afterCrd ? " after its CRD was applied" : ""}`
  }
  readonly retryable = false
}

/** Discovery of the object's kind failed for another reason than an unknown kind. */
export class DiscoveryFailed extends Data.TaggedError("DiscoveryFailed")<{
  readonly object: ObjectRef
  readonly detail: string
}> {
  override get message(): string {
    return `${formatRef(this.object)}: discovery failed: ${this.detail}`
  }
  readonly retryable = false
}

/** A namespaced kind without a namespace. */
export class NamespaceMissing extends Data.TaggedError("NamespaceMissing")<{ readonly object: ObjectRef }> {
  override get message(): string {
    return `${formatRef(this.object)}: namespace not specified for a namespaced ${this.object.kind}`
  }
  readonly retryable = false
}

/** An object without `metadata.name`. */
export class NameMissing extends Data.TaggedError("NameMissing")<{
  readonly object: ObjectRef
  readonly apiVersion: string
}> {
  override get message(): string {
    return `${this.object.kind} in ${this.apiVersion} has no metadata.name`
  }
  readonly retryable = false
}

/** The same object twice in the set. */
export class DuplicateObject extends Data.TaggedError("DuplicateObject")<{ readonly object: ObjectRef }> {
  override get message(): string {
    return `${formatRef(this.object)} appears more than once in the set`
  }
  readonly retryable = false
}

/** A `spec.ignore` field whose live value cannot be put into what is applied. */
export class IgnoredFieldNotKept extends Data.TaggedError("IgnoredFieldNotKept")<{
  readonly object: ObjectRef
  /** The JSON pointer of the field. */
  readonly pointer: string
}> {
  override get message(): string {
    return `${formatRef(this.object)}: the live value of the ignored field ${this.pointer} cannot be kept in what is applied: the manifests lack its parent, or it is not an object (spec.ignore)`
  }
  readonly retryable = false
}

/** The object deleted to be recreated is still there. */
export class StillTerminating extends Data.TaggedError("StillTerminating")<{ readonly object: ObjectRef }> {
  override get message(): string {
    return `${formatRef(this.object)} is still terminating`
  }
  readonly retryable = true
}

/** What the applier reports about one object. */
export type ObjectFailure =
  | DryRunFailed
  | ApplyFailed
  | ReadFailed
  | UnknownKind
  | DiscoveryFailed
  | NamespaceMissing
  | NameMissing
  | DuplicateObject
  | IgnoredFieldNotKept
  | StillTerminating

/** One object of a stage that did not become ready; `message` is its status message, redacted. */
export interface PendingObject {
  readonly object: ObjectRef
  readonly status: string
  readonly message: string
}

/** CRDs, Namespaces or classes of a stage were not ready before the next stage needed them. */
export class StageNotReady extends Data.TaggedError("StageNotReady")<{
  readonly stage: string
  readonly elapsed: Duration.Duration
  readonly pending: ReadonlyArray<PendingObject>
}> {
  override get message(): string {
    return `${this.stage} stage not ready after ${Duration.format(this.elapsed)}: ${this.pending
      .map((p) => `${formatRef(p.object)} status: '${p.status}': ${p.message}`)
      .join(", ")}`
  }
  readonly retryable = true
}

/** The whole apply (or, for `Applier.plan`, its dry-runs) outlasted its deadline. */
export class ApplyTimedOut extends Data.TaggedError("ApplyTimedOut")<{
  readonly objects: number
  readonly after: Duration.Duration
  readonly phase?: "apply" | "dry-run"
}> {
  override get message(): string {
    return `${this.phase ?? "apply"} of ${this.objects} objects timed out after ${Duration.format(this.after)}`
  }
  readonly retryable = true
}

export type ApplyFailure = ObjectFailure | StageNotReady | ApplyTimedOut

const objectsOf = (f: ApplyFailure): ReadonlyArray<ObjectRef> => {
  switch (f._tag) {
    case "StageNotReady":
      return f.pending.map((p) => p.object)
    case "ApplyTimedOut":
    case "NameMissing":
      return []
    default:
      return [f.object]
  }
}

/**
 * The apply stage failed; nothing after it ran. `failures`: every failure of the phase that failed (validation
 * reports all objects at once), never empty. Flux's reason is `ReconciliationFailed`.
 */
export class ApplyError extends Data.TaggedError("ApplyError")<{
  readonly failures: ReadonlyArray<ApplyFailure>
}> {
  readonly reason = "ReconciliationFailed"
  /** One line per failure, in the order the objects were listed. */
  override get message(): string {
    return this.failures.map((f) => f.message).join("\n")
  }
  /** `Kind/namespace/name` of every object that failed. */
  get objects(): ReadonlyArray<string> {
    return [...new Set(this.failures.flatMap((f) => objectsOf(f).map(formatRef)))]
  }
  /** False when only a change to the manifests or the spec can fix it (stalled). */
  get retryable(): boolean {
    return this.failures.every((f) => f.retryable)
  }
  /** The runtime's contract: terminal errors stall the object instead of being retried. */
  get terminal(): boolean {
    return !this.retryable
  }
}
