/**
 * Large files are read on a worker of the process's pool (`workers/pool.ts`): same result and same typed errors
 * as the synchronous store, and the event loop keeps turning while the parser works.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { inlineLimit } from "../../workers/pool.ts"
import { StoreParseError } from "./errors.ts"
import { fromSync, storeFor, syncStoreFor } from "./store.ts"

const large = (n: number) =>
  `items:\n${Array.from({ length: n }, (_, i) => `  - {name: item-${i}, value: "v${i}"}`).join("\n")}\n`

describe("SOPS stores: large reads off the event loop", () => {
  it.effect("a large YAML file reads as the synchronous store reads it, while the event loop turns", () =>
    Effect.gen(function* () {
      const bytes = Buffer.from(large(20_000))
      expect(bytes.length).toBeGreaterThan(inlineLimit)
      let turnedBeforeDone = false
      let done = false
      setImmediate(() => {
        turnedBeforeDone = !done
      })
      const docs = yield* storeFor("yaml").readPlain(bytes)
      done = true
      // Inline, the parse would have finished before the event loop turned once.
      expect(turnedBeforeDone).toBe(true)
      const inline = yield* fromSync("yaml", syncStoreFor("yaml")).readPlain(bytes)
      expect(docs).toEqual(inline)
    }),
  )

  it.effect("a parse error on the worker is the same typed error, with its position", () =>
    Effect.gen(function* () {
      const bytes = Buffer.from(`${large(5_000)}  - [unclosed\n`)
      expect(bytes.length).toBeGreaterThan(inlineLimit)
      const exit = yield* Effect.exit(storeFor("yaml").readEncrypted(bytes))
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : expect.fail("parsed")
      expect(error).toBeInstanceOf(StoreParseError)
      const inline = yield* Effect.flip(fromSync("yaml", syncStoreFor("yaml")).readEncrypted(bytes))
      expect((error as StoreParseError).message).toBe(inline.message)
    }),
  )

  it.effect("JSON goes the same way; small files stay inline", () =>
    Effect.gen(function* () {
      const obj = { items: Array.from({ length: 5_000 }, (_, i) => ({ name: `item-${i}` })) }
      const bytes = Buffer.from(JSON.stringify(obj))
      expect(bytes.length).toBeGreaterThan(inlineLimit)
      const docs = yield* storeFor("json").readPlain(bytes)
      expect(docs).toEqual(yield* fromSync("json", syncStoreFor("json")).readPlain(bytes))
      // Under the limit the read is synchronous: runSync works.
      expect(Effect.runSync(storeFor("json").readPlain(Buffer.from('{"a": 1}')))).toHaveLength(1)
    }),
  )
})
