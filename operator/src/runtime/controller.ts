import { Data, type Effect } from "effect"
import type { DomainEvent } from "../../../model/events.ts"
import type { ReconcileStatus } from "../../../model/projection.ts"
import type { KubeObject } from "../kube/object.ts"
import type { ObjectKey, ResourceRef } from "../kube/resource.ts"
import { maskServerValues } from "../redaction/server-values.ts"
import type { StageFailed } from "./stage.ts"
import type { IndexFn, Store } from "./store.ts"

/** What to do after a reconcile (kube-rs `Action`). */
export type Action =
  | { readonly _tag: "RequeueAfter"; readonly ms: number }
  /** Nothing until the object (or something mapped to it) changes. */
  | { readonly _tag: "AwaitChange" }

export const Action = {
  requeueAfter: (ms: number): Action => ({ _tag: "RequeueAfter", ms }),
  awaitChange: { _tag: "AwaitChange" } as Action,
}

/**
 * How a failed stage reports itself. Stage errors carry Flux's reason (`BuildFailed`, `ArtifactFailed`,
 * …), a message without secrets, and whether retrying can help (`terminal` → Stalled, no retry).
 * Any error with `reason` and `message` string fields qualifies; others become `ReconciliationFailed`.
 */
export interface ReconcileFailure {
  readonly reason: string
  readonly message: string
  readonly terminal?: boolean | undefined
  /** Retry after this long instead of the backoff (e.g. Flux's `--requeue-dependency`). */
  readonly retryAfterMs?: number | undefined
  /**
   * The Event this failure is announced with, when it is not the default (a Warning with the message): Flux
   * announces some waits in words of their own (DependencyNotReady) and others not at all (a source without an
   * artifact yet: `null`), so Alerts do not fire on what resolves itself.
   */
  readonly event?: FailureEvent | null | undefined
}

/** The Kubernetes Event of a failure, when the controller chooses it. */
export interface FailureEvent {
  readonly type: "Normal" | "Warning"
  readonly note: string
}

/** A ready-made stage error for controllers without their own error types. */
export class StageError extends Data.TaggedError("StageError")<{
  readonly reason: string
  readonly message: string
  readonly terminal?: boolean
  readonly retryAfterMs?: number
  readonly event?: FailureEvent | null
}> {}

/** What a reconcile sees: the object, its last status, and how to record events and stages. */
export interface ReconcileContext<K extends KubeObject> {
  readonly object: K
  readonly key: ObjectKey
  /** The last status (the snapshot this reconcile folds over). */
  readonly status: ReconcileStatus
  /** Append domain events to this reconcile's journal. */
  readonly emit: (...events: ReadonlyArray<DomainEvent>) => Effect.Effect<void>
  /**
   * The cache of a resource this controller watches (its own kind or a declared secondary watch):
   * read referenced objects here instead of from the API server.
   */
  readonly cache: (resource: ResourceRef) => Store<KubeObject> | undefined
  /**
   * Runs one stage in its own span. Whatever it fails or dies with leaves it as a {@link StageFailed} naming it
   * (an inner stage's StageFailed keeps its own name); interruption passes through.
   */
  readonly stage: <A, E, R>(name: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, StageFailed, R>
}

/** A secondary watch: objects of another resource that requeue primaries when they change. */
export interface SecondaryWatch<K extends KubeObject> {
  readonly resource: ResourceRef
  readonly namespace?: string | undefined
  readonly labelSelector?: string | undefined
  /** The keys of the primaries to requeue, usually via an index of the primary store. */
  readonly map: (obj: KubeObject, primaries: Store<K>) => ReadonlyArray<ObjectKey>
  /**
   * Whether an update matters to the primaries (default: any new resourceVersion). A Kustomization cares about
   * its GitRepository's artifact revision, not about every status write.
   */
  readonly changed?: ((previous: KubeObject, next: KubeObject) => boolean) | undefined
}

/**
 * A declared controller. The runtime owns watching, queueing, leader election, finalizers, status
 * writes, Kubernetes Events and metrics; the declaration says only what is specific to the kind.
 */
export interface ControllerSpec<K extends KubeObject, R = never> {
  /** The kind this controller owns. */
  readonly resource: ResourceRef
  /** Watch one namespace only (default: all). */
  readonly namespace?: string | undefined
  /** Watch only objects with these labels (`--watch-label-selector`: one shard of a fleet). */
  readonly labelSelector?: string | undefined
  /** Field manager for status server-side apply (Flux: `gotk-<controller>`). */
  readonly fieldManager: string
  /** `reportingController` of Kubernetes Events, also the finalizer owner. */
  readonly controllerName: string
  readonly indexes?: Readonly<Record<string, IndexFn<K>>> | undefined
  readonly watches?: ReadonlyArray<SecondaryWatch<K>> | undefined
  /** The pipeline. Emit domain events through `ctx`; fail with a ReconcileFailure-like error. */
  readonly reconcile: (ctx: ReconcileContext<K>) => Effect.Effect<Action | undefined, unknown, R>
  /** Declare to get a finalizer: the runtime adds it and removes it once `run` succeeds. */
  readonly cleanup?:
    | {
        readonly finalizer: string
        readonly run: (ctx: ReconcileContext<K>) => Effect.Effect<void, unknown, R>
      }
    | undefined
  /** Requeue interval after success (ms), usually `spec.interval`. */
  readonly interval: (obj: K) => number
  /** Cap of the failure backoff (ms), usually `spec.retryInterval`; defaults to the interval. */
  readonly retryInterval?: ((obj: K) => number | undefined) | undefined
  /** `spec.suspend`: a suspended object is not reconciled. */
  readonly suspended?: ((obj: K) => boolean) | undefined
  /**
   * Decides what follows a failure; the default retries with per-key exponential backoff (capped by
   * the retry interval) and waits for a change after a terminal failure.
   */
  readonly errorPolicy?:
    | ((obj: K, failure: ReconcileFailure, failures: number) => Action | "Backoff")
    | undefined
  /**
   * When a successful reconcile is announced as an Event: `always` (Flux's kustomize-controller: every Ready
   * reconcile says "Reconciliation finished in …", which notification-controller forwards as the commit status)
   * or `onChange` (the default, as source-controller: on recovery or a new revision only).
   */
  readonly successEvents?: "always" | "onChange" | undefined
  /** Annotations of Kubernetes Events for this object (Flux: `<group>/revision`). */
  readonly eventMetadata?: ((obj: K, status: ReconcileStatus) => Readonly<Record<string, string>>) | undefined
}

/** Declares a controller; identity at run time, inference at compile time. */
export const defineController = <K extends KubeObject, R = never>(
  spec: ControllerSpec<K, R>,
): ControllerSpec<K, R> => spec

/** One stage of a linear pipeline: returns the events it produced. */
export interface Stage<K extends KubeObject, R = never> {
  readonly name: string
  readonly run: (
    ctx: ReconcileContext<K>,
  ) => Effect.Effect<ReadonlyArray<DomainEvent> | undefined, unknown, R>
}

/** The `requestedAt` annotation (fluxcd/pkg apis/meta): a new value asks for a reconcile now. */
export const ReconcileRequestAnnotation = "reconcile.fluxcd.io/requestedAt"

/**
 * Turns any error into a ReconcileFailure without leaking anything but its message. The message is what the
 * condition, the Warning Event and the log line say: values the API server quoted in it are masked here too,
 * whichever stage let an API error through (stages redact what they know more of themselves).
 */
export const toFailure = (error: unknown): ReconcileFailure => {
  const failure = rawFailure(error)
  return { ...failure, message: maskServerValues(failure.message) }
}

const rawFailure = (error: unknown): ReconcileFailure => {
  if (typeof error === "object" && error !== null) {
    const e = error as Partial<ReconcileFailure> & { message?: unknown }
    if (typeof e.reason === "string" && typeof e.message === "string") {
      return {
        reason: e.reason,
        message: e.message,
        terminal: e.terminal === true,
        ...(typeof e.retryAfterMs === "number" ? { retryAfterMs: e.retryAfterMs } : {}),
        ...(e.event !== undefined ? { event: e.event } : {}),
      }
    }
    if (typeof e.message === "string" && e.message !== "")
      return { reason: "ReconciliationFailed", message: e.message }
  }
  return { reason: "ReconciliationFailed", message: String(error) }
}
