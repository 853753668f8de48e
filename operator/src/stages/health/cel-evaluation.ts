/**
 * Evaluates CEL expressions on the worker pool under a deadline. Neither CEL library for JavaScript has a cost
 * budget, and the expressions come from a Kustomization's spec and the values from objects anyone with write
 * access to them controls: a comprehension nested over a list of a hundred thousand entries, or a backtracking
 * `matches`, would hold the event loop for minutes. On a worker the main thread only clones the object, and a
 * run past the deadline takes its worker with it (the pool starts another).
 *
 * @module
 */
import { Data, Effect } from "effect"
import { offThread } from "../../workers/pool.ts"
import type { CelKind } from "./cel.ts"

/** What one evaluation (all expressions of one object) may take, waiting for a free worker included. */
export const evaluationTimeoutMs = 2_000

export class CelEvaluationError extends Data.TaggedError("CelEvaluationError")<{
  readonly message: string
  /** The deadline passed while a worker ran the expressions (not while they waited for one). */
  readonly ranPastDeadline?: boolean | undefined
}> {}

/** The index of the first expression that is `true` for `variables` (-1: none). */
export const evaluateFirstTrue = Effect.fn("cel.evaluateFirstTrue")(function* (
  kind: CelKind,
  expressions: ReadonlyArray<string>,
  variables: Record<string, unknown>,
) {
  let running = false
  const reply = yield* offThread({ op: "cel", kind, expressions, variables }, () => {
    running = true
  }).pipe(
    Effect.timeoutOrElse({
      duration: evaluationTimeoutMs,
      orElse: () =>
        Effect.fail(
          new CelEvaluationError({
            message: `the CEL evaluation did not finish within ${evaluationTimeoutMs / 1000}s`,
            ranPastDeadline: running,
          }),
        ),
    }),
  )
  if (!reply.ok) return yield* new CelEvaluationError({ message: reply.message })
  if (!("first" in reply)) return yield* new CelEvaluationError({ message: "unexpected worker reply" })
  return reply.first
})
