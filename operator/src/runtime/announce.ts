import { ConditionType } from "../../../model/condition.ts"
import { formatDuration } from "../../../model/duration.ts"
import type { Recorded } from "../../../model/events.ts"
import type { ReconcileStatus } from "../../../model/projection.ts"

/** A Kubernetes Event to publish, before aggregation. */
export interface Announcement {
  readonly type: "Normal" | "Warning"
  readonly reason: string
  readonly note: string
  /** Success events tell notification consumers to update commit status (Flux). */
  readonly commitStatus?: boolean
}

/**
 * Which of a reconcile's events users should see as Kubernetes Events (Flux's choices): change sets
 * when something changed, garbage collection, failures every time (aggregated into a series), and the
 * success message every time (`always`) or only when the object became ready or moved to another revision.
 */
export const announce = (
  entries: ReadonlyArray<Recorded>,
  before: ReconcileStatus,
  after: ReconcileStatus,
  intervalMs: number,
  successEvents: "always" | "onChange" = "onChange",
): ReadonlyArray<Announcement> => {
  const out: Announcement[] = []
  const wasReady = before.conditions?.find((c) => c.type === ConditionType.Ready)
  for (const { event } of entries) {
    switch (event._tag) {
      case "Applied": {
        const changed = event.changes.filter((c) => c.action !== "unchanged" && c.action !== "skipped")
        if (changed.length > 0)
          out.push({
            type: "Normal",
            reason: "Progressing",
            note: changed.map((c) => `${c.subject} ${c.action}`).join("\n"),
          })
        break
      }
      case "Pruned": {
        const deleted = event.changes.filter((c) => c.action === "deleted")
        if (deleted.length > 0)
          out.push({
            type: "Normal",
            reason: "Progressing",
            note: deleted.map((c) => `${c.subject} deleted`).join("\n"),
          })
        break
      }
      case "StageFailed":
        // The controller may choose the Event (Flux's words for a wait, or none at all).
        if (event.event === null) break
        out.push({
          type: event.event?.type ?? (event.reason === "DependencyNotReady" ? "Normal" : "Warning"),
          reason: event.reason,
          note: event.event?.note ?? event.message,
        })
        break
      case "Succeeded": {
        const recovered = wasReady?.status !== "True"
        const moved = after.lastAppliedRevision !== before.lastAppliedRevision
        if (successEvents === "always" || recovered || moved) {
          const took =
            event.durationMs !== undefined
              ? `Reconciliation finished in ${formatDuration(event.durationMs)}, `
              : ""
          out.push({
            type: "Normal",
            reason: event.reason ?? "ReconciliationSucceeded",
            note: `${took}next run in ${formatDuration(intervalMs)}`,
            commitStatus: true,
          })
        }
        break
      }
      default:
        break
    }
  }
  return out
}
