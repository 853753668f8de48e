/**
 * One deadline for a whole Kustomization reconcile, as Flux's `spec.timeout` is one context for it: the build
 * (with pre- and post-build decryption and substitution) and the apply share the budget, each gets what the
 * previous stages left. Hitting it interrupts the stage's fiber, and interruption reaches what the stage
 * runs: the kustomize child is killed (its `execFile` is bound to the fiber's abort signal), a parse in the
 * worker pool takes its worker with it, git children are killed with their process group.
 *
 * A build that times out has applied nothing, so the cluster stays as it was; an apply that times out may
 * have written some objects (each server-side apply is atomic, the set is not), which the next reconcile
 * converges, and the inventory is not advanced.
 *
 * @module
 */
import { Clock, Effect } from "effect"
import { formatDuration } from "../../../model/duration.ts"
import { StageError } from "../runtime/controller.ts"

/** Starts the clock of a reconcile's `spec.timeout`; the result bounds each stage run through it. */
export const startDeadline = (timeoutMs: number) =>
  Effect.map(Clock.currentTimeMillis, (start) => {
    const label = formatDuration(timeoutMs)
    return <A, E, R>(stage: string, reason: string, self: Effect.Effect<A, E, R>) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const left = start + timeoutMs - now
        const timedOut = new StageError({
          reason,
          message: `${stage} timed out: the reconcile exceeded spec.timeout (${label})`,
        })
        return left <= 0
          ? Effect.fail(timedOut)
          : self.pipe(Effect.timeoutOrElse({ duration: left, orElse: () => Effect.fail(timedOut) }))
      })
  })
