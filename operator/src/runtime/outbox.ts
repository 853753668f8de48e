/**
 * A controller's Kubernetes Events go out on a fiber of their own, in order: a reconcile's worker is free once
 * the status is written, not two more round trips later. Bounded: should the API server fall behind, the
 * oldest pending Events are dropped (as client-go's broadcaster drops); what is pending at shutdown gets a
 * second to go out.
 *
 * @module
 */
import { Effect, Queue } from "effect"

export const makeOutbox = Effect.gen(function* () {
  const outbox = yield* Queue.sliding<Effect.Effect<void>>(10_000)
  yield* Effect.addFinalizer(() =>
    Queue.clear(outbox).pipe(
      Effect.flatMap((pending) => Effect.forEach(pending, (send) => send, { discard: true })),
      Effect.timeout("1 second"),
      Effect.ignore,
    ),
  )
  yield* Effect.forkScoped(Effect.forever(Effect.flatten(Queue.take(outbox))))
  /** Queues `send`; never waits for it. */
  const offer = (send: Effect.Effect<void>) => Queue.offer(outbox, send).pipe(Effect.asVoid)
  return { offer }
})
