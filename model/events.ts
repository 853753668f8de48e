/**
 * The domain events of a reconcile. Stages return them, the runtime appends them to the object's journal,
 * and everything users see is derived from them: the status (`projection.ts`), Kubernetes Events and
 * metrics. An event states a fact about this reconcile; it never carries secret material.
 */

/** One object's entry in `status.inventory.entries` (Flux's `ResourceRef`). */
export interface InventoryEntry {
  /** `<namespace>_<name>_<group>_<kind>`. */
  readonly id: string
  /** API version, e.g. `v1`. */
  readonly v: string
}

/** What applying one object did (fluxcd/pkg ssa change-set actions). */
export type ChangeAction = "created" | "configured" | "unchanged" | "skipped" | "deleted" | "unknown"

export interface Change {
  /** `Kind/namespace/name` or `Kind/name` for cluster-scoped objects. */
  readonly subject: string
  readonly action: ChangeAction
}

export type DomainEvent =
  /** A reconcile began for this generation; `requestedAt` is the `reconcile.fluxcd.io/requestedAt` it handles. */
  | {
      readonly _tag: "ReconcileStarted"
      readonly generation: number
      readonly requestedAt?: string | undefined
    }
  /** A stage is under way; shown as the Reconciling condition's message. */
  | { readonly _tag: "Progressed"; readonly stage: string; readonly message: string }
  /** The source artifact was resolved: this is the revision being attempted. */
  | {
      readonly _tag: "ArtifactFetched"
      readonly revision: string
      readonly originRevision?: string | undefined
      readonly digest?: string | undefined
    }
  /** The manifests were built; `digest` is `sha256:<hex>` of the built YAML (history key). */
  | { readonly _tag: "Built"; readonly digest: string; readonly objects: number }
  /** SOPS documents were decrypted (only the count: plaintext never leaves the build). */
  | { readonly _tag: "Decrypted"; readonly documents: number }
  /** Server-side apply finished; `changes` lists every object and what happened to it. */
  | {
      readonly _tag: "Applied"
      readonly changes: ReadonlyArray<Change>
      /** How many `unchanged` entries the journal left out of `changes` (it keeps what changed only). */
      readonly unchanged?: number | undefined
    }
  /** The new inventory of applied objects. */
  | { readonly _tag: "InventoryRecorded"; readonly entries: ReadonlyArray<InventoryEntry> }
  /** Stale objects were garbage-collected. */
  | {
      readonly _tag: "Pruned"
      readonly changes: ReadonlyArray<Change>
      readonly unchanged?: number | undefined
    }
  /** Health checks began. */
  | { readonly _tag: "HealthChecking"; readonly message: string }
  /** Health checks ended. */
  | {
      readonly _tag: "HealthChecked"
      readonly healthy: boolean
      readonly reason: string
      readonly message: string
    }
  /** This object has no health checks (the Healthy condition goes away). */
  | { readonly _tag: "HealthChecksDisabled" }
  /** A kind-specific condition (e.g. GitRepository's ArtifactInStorage). Ready/Reconciling/Stalled belong to the runtime. */
  | {
      readonly _tag: "ConditionSet"
      readonly type: string
      readonly status: "True" | "False" | "Unknown"
      readonly reason: string
      readonly message: string
    }
  | { readonly _tag: "ConditionRemoved"; readonly type: string }
  /** Kind-specific status fields this reconcile produced (e.g. GitRepository's `artifact`); merged at the top level. */
  | { readonly _tag: "FieldsSet"; readonly fields: Readonly<Record<string, unknown>> }
  /**
   * A stage failed. `reason` is Flux's (ArtifactFailed, BuildFailed, ReconciliationFailed, …);
   * `terminal` means retrying cannot help without a spec change (the object is Stalled).
   */
  | {
      readonly _tag: "StageFailed"
      readonly stage: string
      readonly reason: string
      readonly message: string
      readonly terminal: boolean
      readonly durationMs?: number | undefined
      /** How the failure is announced, when not as a Warning with the message; `null`: not at all. */
      readonly event?: { readonly type: "Normal" | "Warning"; readonly note: string } | null | undefined
    }
  /** The reconcile succeeded; `message` becomes Ready's message (Flux: "Applied revision: <rev>"). */
  | {
      readonly _tag: "Succeeded"
      readonly reason?: string | undefined
      readonly message: string
      readonly revision?: string | undefined
      readonly originRevision?: string | undefined
      readonly durationMs?: number | undefined
    }

export type DomainEventTag = DomainEvent["_tag"]

/** A journal entry: an event and when it happened (RFC 3339, seconds). */
export interface Recorded {
  readonly at: string
  readonly event: DomainEvent
}

/** Events that end a reconcile. */
export const isOutcome = (
  event: DomainEvent,
): event is Extract<DomainEvent, { readonly _tag: "StageFailed" | "Succeeded" }> =>
  event._tag === "StageFailed" || event._tag === "Succeeded"

/** `metav1.Time` precision: seconds. */
export const timestamp = (date: Date): string => `${date.toISOString().slice(0, 19)}Z`
