import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { backoffDelay, defaultBackoff, intervalWithJitter, makeTokenBucket, reserve } from "./backoff.ts"
import { makeWorkQueue } from "./workqueue.ts"

describe("backoff", () => {
  it("grows exponentially per failure, jittered within ±20%, and never exceeds the cap", () => {
    expect(backoffDelay(defaultBackoff, 1, 0.5)).toBe(1_000)
    expect(backoffDelay(defaultBackoff, 2, 0.5)).toBe(2_000)
    expect(backoffDelay(defaultBackoff, 4, 0.5)).toBe(8_000)
    expect(backoffDelay(defaultBackoff, 1, 0)).toBe(800)
    expect(backoffDelay(defaultBackoff, 1, 1)).toBe(1_200)
    expect(backoffDelay(defaultBackoff, 1_000, 1)).toBe(defaultBackoff.capMs)
  })

  it("adds interval jitter on top of the interval only", () => {
    expect(intervalWithJitter(60_000, 0.1, 0)).toBe(60_000)
    expect(intervalWithJitter(60_000, 0.1, 1)).toBe(66_000)
  })

  it("lets a burst through then paces at qps", () => {
    const bucket = makeTokenBucket(10, 2, 0)
    expect(reserve(bucket, 0)).toBe(0)
    expect(reserve(bucket, 0)).toBe(0)
    expect(reserve(bucket, 0)).toBe(100)
    expect(reserve(bucket, 1_000)).toBe(0)
  })
})

describe("WorkQueue", () => {
  it.effect("collapses duplicates", () =>
    Effect.gen(function* () {
      const q = yield* makeWorkQueue({ name: "t" })
      yield* q.add("a")
      yield* q.add("a")
      yield* q.add("b")
      expect(q.length()).toBe(2)
      expect(yield* q.take).toBe("a")
      expect(yield* q.take).toBe("b")
    }),
  )

  it.effect("never hands a key to two workers: a re-add while processing waits for done", () =>
    Effect.gen(function* () {
      const q = yield* makeWorkQueue({ name: "t" })
      yield* q.add("a")
      expect(yield* q.take).toBe("a")
      yield* q.add("a")
      const second = yield* Effect.forkChild(q.take)
      yield* Effect.yieldNow
      expect(second.pollUnsafe()).toBeUndefined()
      yield* q.done("a")
      expect(yield* Fiber.join(second)).toBe("a")
    }),
  )

  it.effect("delayed adds fire after the delay and the earliest deadline wins", () =>
    Effect.gen(function* () {
      const q = yield* makeWorkQueue({ name: "t" })
      yield* q.addAfter("a", 10_000)
      yield* q.addAfter("a", 1_000)
      yield* q.addAfter("a", 5_000)
      expect(q.delayed()).toBe(1)
      yield* TestClock.adjust(999)
      expect(q.length()).toBe(0)
      yield* TestClock.adjust(1)
      expect(q.length()).toBe(1)
      yield* TestClock.adjust(20_000)
      expect(q.length()).toBe(1)
    }),
  )

  it.effect("backs off per key and forgets on success", () =>
    Effect.gen(function* () {
      const q = yield* makeWorkQueue({
        name: "t",
        backoff: { baseMs: 100, capMs: 1_000, factor: 2, jitter: 0 },
      })
      expect(yield* q.addRateLimited("a")).toBe(100)
      expect(yield* q.addRateLimited("a")).toBe(200)
      expect(yield* q.addRateLimited("a")).toBe(400)
      expect(yield* q.addRateLimited("b")).toBe(100)
      expect(q.failures("a")).toBe(3)
      yield* q.forget("a")
      expect(q.failures("a")).toBe(0)
      expect(yield* q.addRateLimited("a")).toBe(100)
    }),
  )

  it.effect("stops handing out keys after shutdown", () =>
    Effect.gen(function* () {
      const q = yield* makeWorkQueue({ name: "t" })
      yield* q.add("a")
      yield* q.shutdown
      const taker = yield* Effect.forkChild(q.take)
      yield* TestClock.adjust(60_000)
      expect(taker.pollUnsafe()).toBeUndefined()
      yield* Fiber.interrupt(taker)
    }),
  )
})
