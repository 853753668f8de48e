/**
 * Reconciliation history of a Kustomization (fluxcd/pkg apis/meta `History`): the last snapshots, most recent
 * first, keyed by the digest of the built manifests and the outcome.
 */
import { Schema } from "effect"
import { Reason, Time } from "./condition.ts"
import { Duration } from "./duration.ts"

/** How many snapshots Flux keeps. */
export const MaxHistorySize = 5

/** The reasons recorded as `lastReconciledStatus`. */
export const HistoryStatus = [
  Reason.ReconciliationSucceeded,
  Reason.ReconciliationFailed,
  Reason.PruneFailed,
  Reason.HealthCheckFailed,
] as const

/** One snapshot: a digest of the built manifests and how its reconciliations went. */
export const HistoryEntry = Schema.Struct({
  digest: Schema.String.annotate({
    description: "Checksum of the reconciled manifests in the format '<algo>:<hex>'.",
  }),
  firstReconciled: Time.annotate({ description: "First time this digest was reconciled." }),
  lastReconciled: Time.annotate({ description: "Last time this digest was reconciled." }),
  lastReconciledDuration: Duration.annotate({ description: "How long the last reconciliation took." }),
  lastReconciledStatus: Schema.String.annotate({
    description: "Outcome of the last reconciliation (a Ready condition reason).",
  }),
  totalReconciliations: Schema.Int.annotate({
    description: "Number of reconciliations of this digest.",
    format: "int64",
  }),
  metadata: Schema.optionalKey(
    Schema.Record(Schema.String, Schema.String).annotate({
      description: "Metadata of the snapshot, e.g. revision and originRevision.",
    }),
  ),
}).annotate({ description: "Snapshot of a reconciliation." })
export type HistoryEntry = typeof HistoryEntry.Type

/** Snapshots, most recent first. */
export const History = Schema.Array(HistoryEntry).annotate({
  description: "The last reconciliation snapshots, most recent first.",
})
export type History = typeof History.Type
