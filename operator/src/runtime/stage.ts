/**
 * The stage boundary: whatever a stage fails with — a typed error, a thrown exception, a rejected
 * `Effect.promise` — leaves it as one typed {@link StageFailed} naming the stage, so the runtime records a
 * `StageFailed` domain event for it and the status never stays at its progress write. Interruption (a
 * deadline, shutdown) is not a failure and passes through.
 *
 * @module
 */
import { Cause, Data, Effect } from "effect"
import { type ReconcileFailure, toFailure } from "./controller.ts"

/** A stage failed: which one, Flux's reason and message (masked), and what it failed with. */
export class StageFailed extends Data.TaggedError("StageFailed")<{
  readonly stage: string
  readonly reason: string
  readonly message: string
  readonly terminal: boolean
  readonly retryAfterMs?: number | undefined
  readonly event?: ReconcileFailure["event"]
  /** Whether the stage died (an exception or a rejected promise) rather than failing with an error. */
  readonly defect: boolean
  /** The error or defect itself, for callers that inspect it; never logged as is. */
  readonly cause: unknown
}> {}

/** The failure a stage's error stands for; a StageFailed from an inner stage keeps its own stage. */
export const stageFailed = (stage: string, error: unknown, defect = false): StageFailed => {
  if (error instanceof StageFailed) return error
  const failure = toFailure(error)
  return new StageFailed({
    stage,
    reason: failure.reason,
    message: failure.message,
    terminal: failure.terminal === true,
    ...(failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {}),
    ...(failure.event !== undefined ? { event: failure.event } : {}),
    defect,
    cause: error,
  })
}

/** A defect's message: its own for an Error, "unexpected error" otherwise (never the value itself). */
const defectMessage = (defect: unknown): { message: string } => ({
  message:
    defect instanceof Error && defect.message !== ""
      ? `internal error: ${defect.message}`
      : "internal error: unexpected failure",
})

/** Runs `effect` as stage `name`: its errors and defects become a StageFailed; interruption passes. */
export const atStageBoundary = <A, E, R>(
  name: string,
  effect: Effect.Effect<A, E, R>,
): Effect.Effect<A, StageFailed, R> =>
  effect.pipe(
    Effect.catchCause((cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
      const error = Cause.findErrorOption(cause)
      if (error._tag === "Some") return Effect.fail(stageFailed(name, error.value))
      const defect = Cause.findDefect(cause)
      const value = defect._tag === "Success" ? defect.success : Cause.squash(cause)
      return Effect.fail(stageFailed(name, defectMessage(value), true))
    }),
  )
