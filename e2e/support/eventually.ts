/** Waiting in tests for what a user would wait for with `kubectl get -w`. */
import { Effect, Option } from "effect"

/** Polls `check` until it gives Some, dying with `timed out waiting for <what>` after `timeoutMs`. */
export const eventually = <A, E, R>(
  what: string,
  check: Effect.Effect<Option.Option<A>, E, R>,
  timeoutMs = 30_000,
  intervalMs = 200,
): Effect.Effect<A, E, R> =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const result = yield* check
      if (Option.isSome(result)) return result.value
      yield* Effect.sleep(intervalMs)
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })
