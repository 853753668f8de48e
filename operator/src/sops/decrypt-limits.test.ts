/**
 * The engine's bounds on one decryption: `maxValues` refuses a file holding more encrypted values before any
 * key is opened, and an encrypted file carrying an alias bomb fails with a typed error naming the file.
 */
import { describe, expect, it } from "@effect/vitest"
import { generateIdentity, identityToRecipient } from "age-encryption"
import { Cause, Effect, Exit } from "effect"
import { decrypt, encrypt, type Keyring } from "./index.ts"

const enc = (s: string) => new TextEncoder().encode(s)

const setup = Effect.gen(function* () {
  const identity = yield* Effect.promise(() => generateIdentity())
  const recipient = yield* Effect.promise(() => identityToRecipient(identity))
  const keyring: Keyring = { scope: "limits", age: [identity], pgp: [] }
  const seal = (text: string) =>
    encrypt({ bytes: enc(text), format: "yaml", file: "s.yaml", keyGroups: [[{ type: "age", recipient }]] })
  return { keyring, seal }
})

const failureOf = <A>(exit: Exit.Exit<A, { _tag: string; message: string }>) => {
  if (Exit.isSuccess(exit)) return expect.fail("expected a failure")
  expect(Cause.hasDies(exit.cause), Cause.pretty(exit.cause)).toBe(false)
  const e = Cause.findErrorOption(exit.cause)
  if (e._tag === "None") return expect.fail(Cause.pretty(exit.cause))
  return e.value
}

describe("decrypt bounds", () => {
  it.effect("counts the encrypted values (aliases expanded) and refuses more than maxValues", () =>
    Effect.gen(function* () {
      const { keyring, seal } = yield* setup
      const file = yield* seal("a: one-secret\nb: [two, three]\nc:\n    d: four\n")
      const ok = yield* decrypt({ bytes: file, format: "yaml", file: "s.yaml", keyring, mac: "strict" })
      expect(ok.values).toBe(4)
      const atLimit = yield* decrypt({
        bytes: file,
        format: "yaml",
        file: "s.yaml",
        keyring,
        mac: "strict",
        maxValues: 4,
      })
      expect(new TextDecoder().decode(atLimit.plaintext)).toContain("one-secret")
      const e = failureOf(
        yield* Effect.exit(
          decrypt({ bytes: file, format: "yaml", file: "s.yaml", keyring, mac: "strict", maxValues: 3 }),
        ),
      )
      expect(e._tag).toBe("TooManyValues")
      expect(e.message).toBe("s.yaml: holds 4 encrypted values, more than the 3 still allowed")
    }),
  )

  it.effect("an encrypted file with an alias bomb appended fails as unsupported input, no plaintext", () =>
    Effect.gen(function* () {
      const { keyring, seal } = yield* setup
      const file = new TextDecoder().decode(yield* seal("password: hunter2-secret\n"))
      let bomb = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
      for (let i = 1; i < 8; i++)
        bomb += `l${i}: &l${i} [${Array(10)
          .fill(`*l${i - 1}`)
          .join(", ")}]\n`
      const e = failureOf(
        yield* Effect.exit(
          decrypt({ bytes: enc(bomb + file), format: "yaml", file: "bomb.yaml", keyring, mac: "ignore" }),
        ),
      )
      expect(e._tag).toBe("UnsupportedInput")
      expect(e.message).toContain("bomb.yaml")
      expect(e.message).toContain("document contains excessive aliasing")
      expect(e.message).not.toContain("hunter2")
      expect(e.message).not.toContain("lol")
    }),
  )
})
