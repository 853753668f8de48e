import { Clock, Context, Effect, Fiber, Queue, Random } from "effect"
import {
  longestRunningProcessor,
  queueAdds,
  queueDepth,
  queueLatency,
  queueRetries,
  record,
  unfinishedWork,
  workDuration,
} from "../metrics/metrics.ts"
import { type BackoffPolicy, backoffDelay, defaultBackoff, makeTokenBucket, reserve } from "./backoff.ts"

export interface WorkQueueOptions {
  /** Name used in metrics (`name` and `controller` labels: the controller's name, its kind in lower case). */
  readonly name: string
  readonly backoff?: BackoffPolicy | undefined
  /** Overall retry rate limit (client-go default: 10 qps, burst 100). */
  readonly qps?: number | undefined
  readonly burst?: number | undefined
}

/**
 * A keyed work queue with client-go's guarantees: a key waits at most once (duplicates collapse), is
 * never handed to two workers at once (a key added while processing waits until `done`), delayed adds
 * keep the earliest deadline, and failures back off per key under an overall token bucket.
 */
export interface WorkQueue {
  /** Queue the key now. */
  readonly add: (key: string) => Effect.Effect<void>
  /** Queue the key after `delayMs`, unless it is already due sooner. */
  readonly addAfter: (key: string, delayMs: number) => Effect.Effect<void>
  /** Queue the key after its next backoff delay; returns the delay chosen (ms). */
  readonly addRateLimited: (key: string) => Effect.Effect<number>
  /** Reset the key's failure count (after a success). */
  readonly forget: (key: string) => Effect.Effect<void>
  /** How many times in a row the key has failed. */
  readonly failures: (key: string) => number
  /** Wait for the next key; the caller must call `done(key)` when finished with it. */
  readonly take: Effect.Effect<string>
  readonly done: (key: string) => Effect.Effect<void>
  /** Stop handing out keys; `take` then never returns. */
  readonly shutdown: Effect.Effect<void>
  /** Keys waiting (not counting delayed or processing ones). */
  readonly length: () => number
  /** Keys a worker holds right now. */
  readonly processing: () => number
  /** Keys waiting for a delay to expire. */
  readonly delayed: () => number
}

/** Builds a queue whose delayed-add timers live in the current scope. */
export const makeWorkQueue = Effect.fnUntraced(function* (options: WorkQueueOptions) {
  const policy = options.backoff ?? defaultBackoff
  const ready = yield* Queue.unbounded<string>()
  const dirty = new Set<string>()
  const inFlight = new Set<string>()
  /** When a worker took each key it holds (client-go's processingStartTimes). */
  const startedAt = new Map<string, number>()
  const addedAt = new Map<string, number>()
  const failureCounts = new Map<string, number>()
  const timers = new Map<string, { due: number; fiber: Fiber.Fiber<void> }>()
  const bucket = makeTokenBucket(options.qps ?? 10, options.burst ?? 100, yield* Clock.currentTimeMillis)
  let stopped = false
  const scope = yield* Effect.scope
  const attrs = { name: options.name, controller: options.name }

  const gauge = () => record(queueDepth, attrs, dirty.size)

  const add = (key: string) =>
    Effect.gen(function* () {
      if (stopped || dirty.has(key)) return
      dirty.add(key)
      addedAt.set(key, yield* Clock.currentTimeMillis)
      yield* record(queueAdds, attrs, 1)
      if (!inFlight.has(key)) yield* Queue.offer(ready, key)
      yield* gauge()
    })

  const addAfter = (key: string, delayMs: number): Effect.Effect<void> =>
    Effect.gen(function* () {
      if (stopped) return
      if (delayMs <= 0) return yield* add(key)
      const now = yield* Clock.currentTimeMillis
      const due = now + delayMs
      const existing = timers.get(key)
      if (existing !== undefined && existing.due <= due) return
      if (existing !== undefined) yield* Fiber.interrupt(existing.fiber)
      const fiber = yield* Effect.sleep(delayMs).pipe(
        Effect.andThen(Effect.sync(() => timers.delete(key))),
        Effect.andThen(add(key)),
        Effect.forkIn(scope),
      )
      timers.set(key, { due, fiber })
    })

  const addRateLimited = (key: string) =>
    Effect.gen(function* () {
      const n = (failureCounts.get(key) ?? 0) + 1
      failureCounts.set(key, n)
      const perKey = backoffDelay(policy, n, yield* Random.next)
      const overall = reserve(bucket, yield* Clock.currentTimeMillis)
      const delay = Math.max(perKey, overall)
      yield* record(queueRetries, attrs, 1)
      yield* addAfter(key, delay)
      return delay
    })

  const take = Effect.gen(function* () {
    const key = yield* Queue.take(ready)
    dirty.delete(key)
    inFlight.add(key)
    startedAt.set(key, yield* Clock.currentTimeMillis)
    // Every reconcile schedules its own next run (interval, backoff or none); a timer left from an earlier
    // outcome would otherwise fire mid-reconcile and start the key again at once, skipping its backoff.
    const timer = timers.get(key)
    if (timer !== undefined) {
      timers.delete(key)
      yield* Fiber.interrupt(timer.fiber)
    }
    const since = addedAt.get(key)
    addedAt.delete(key)
    if (since !== undefined)
      yield* record(queueLatency, attrs, ((yield* Clock.currentTimeMillis) - since) / 1000)
    yield* gauge()
    return key
  })

  const done = (key: string) =>
    Effect.gen(function* () {
      inFlight.delete(key)
      const since = startedAt.get(key)
      startedAt.delete(key)
      if (since !== undefined)
        yield* record(workDuration, attrs, ((yield* Clock.currentTimeMillis) - since) / 1000)
      if (dirty.has(key) && !stopped) yield* Queue.offer(ready, key)
    })

  // client-go's unfinished-work and longest-running gauges, refreshed every second (its metrics update period
  // is 500 ms) from the start times of the keys workers hold: a stuck reconcile shows as a growing value.
  const inProgress = Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    let total = 0
    let longest = 0
    for (const since of startedAt.values()) {
      total += now - since
      longest = Math.max(longest, now - since)
    }
    yield* record(unfinishedWork, attrs, total / 1000)
    yield* record(longestRunningProcessor, attrs, longest / 1000)
  })
  yield* inProgress
  yield* Effect.forkIn(Effect.forever(Effect.sleep(1_000).pipe(Effect.andThen(inProgress))), scope)

  const shutdown = Effect.gen(function* () {
    stopped = true
    for (const { fiber } of timers.values()) yield* Fiber.interrupt(fiber)
    timers.clear()
    yield* Queue.clear(ready)
  })

  const queue: WorkQueue = {
    add,
    addAfter,
    addRateLimited,
    forget: (key) => Effect.sync(() => void failureCounts.delete(key)),
    failures: (key) => failureCounts.get(key) ?? 0,
    take: Effect.suspend(() => (stopped ? Effect.never : take)),
    done,
    shutdown,
    length: () => dirty.size - [...dirty].filter((k) => inFlight.has(k)).length,
    processing: () => inFlight.size,
    delayed: () => timers.size,
  }
  return queue
})

/** For tests that need a queue as a service. */
export class WorkQueueService extends Context.Service<WorkQueueService, WorkQueue>()(
  "kustodian/runtime/WorkQueue",
) {}
