import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeTokenCache } from "./token-cache.ts"

const involved = { kind: "Kustomization", name: "app", namespace: "team", operation: "decrypt_with_aws" }

describe("token cache", () => {
  it.effect("serves a token for 80% of its lifetime, then fetches a new one; failures are not cached", () =>
    Effect.gen(function* () {
      const cache = makeTokenCache<string>(10)
      let fetches = 0
      const fetch = (lifetimeMs: number) =>
        Effect.sync(() => {
          fetches++
          return { token: `t${fetches}`, lifetimeMs }
        })
      expect(yield* cache.getOrSet("k", fetch(60_000), involved)).toBe("t1")
      expect(yield* cache.getOrSet("k", fetch(60_000), involved)).toBe("t1")
      expect(fetches).toBe(1)
      // a token whose 80% mark has passed is not served
      expect(yield* cache.getOrSet("short", fetch(0), involved)).toBe("t2")
      expect(yield* cache.getOrSet("short", fetch(60_000), involved)).toBe("t3")
      const failed = yield* Effect.result(cache.getOrSet("bad", Effect.fail("denied" as const), involved))
      expect(failed._tag).toBe("Failure")
      expect(yield* cache.getOrSet("bad", fetch(60_000), involved)).toBe("t4")
    }),
  )

  it.effect(
    "holds at most its capacity, evicting the least recently used; concurrent misses fetch once",
    () =>
      Effect.gen(function* () {
        const cache = makeTokenCache<string>(2)
        const fixed = (token: string) => Effect.succeed({ token, lifetimeMs: 60_000 })
        yield* cache.getOrSet("a", fixed("a"), involved)
        yield* cache.getOrSet("b", fixed("b"), involved)
        yield* cache.getOrSet("a", fixed("a2"), involved) // a is now the most recent
        yield* cache.getOrSet("c", fixed("c"), involved) // evicts b
        expect(cache.size()).toBe(2)
        expect(yield* cache.getOrSet("a", fixed("a3"), involved)).toBe("a")
        expect(yield* cache.getOrSet("b", fixed("b2"), involved)).toBe("b2")

        const shared = makeTokenCache<string>(10)
        let fetches = 0
        const slow = Effect.gen(function* () {
          fetches++
          yield* Effect.yieldNow
          return { token: "one", lifetimeMs: 60_000 }
        })
        const got = yield* Effect.all(
          [1, 2, 3].map(() => shared.getOrSet("k", slow, involved)),
          {
            concurrency: "unbounded",
          },
        )
        expect(got).toEqual(["one", "one", "one"])
        expect(fetches).toBe(1)
      }),
  )

  it.effect("with size 0 there is no cache: every request fetches", () =>
    Effect.gen(function* () {
      const cache = makeTokenCache<string>(0)
      let fetches = 0
      const fetch = Effect.sync(() => ({ token: `t${++fetches}`, lifetimeMs: 60_000 }))
      expect(yield* cache.getOrSet("k", fetch, involved)).toBe("t1")
      expect(yield* cache.getOrSet("k", fetch, involved)).toBe("t2")
      expect(cache.size()).toBe(0)
    }),
  )
})
