/**
 * Fuzzing: mutated sops files (made at test time, plus the upstream fixtures when present) never crash the
 * engine — every outcome is a success or a typed SopsError, and no error text contains a plaintext value.
 */
import { describe, expect, it } from "@effect/vitest"
import { generateIdentity, identityToRecipient } from "age-encryption"
import { Cause, Effect, Exit } from "effect"
import fc from "fast-check"
import { decrypt, encrypt, type Format, formatForPath, type Keyring, makeDataKeyCache } from "./index.ts"
import { fixture, fixtureText, haveFixtures } from "./testing/fixtures.ts"

const secret = "correct-horse-battery-staple"
const plaintexts: Record<Exclude<Format, "binary">, string> = {
  yaml: `# head\napi: v1\ndata:\n    password: ${secret}\n    list:\n        - ${secret}\n        # c\n        - 12\nflag: true\n---\nsecond: ${secret}\n`,
  json: `{"password": "${secret}", "n": 1.5, "nested": {"a": [1, "${secret}", null]}}`,
  dotenv: `# comment\nPASSWORD=${secret}\nOTHER=x\n`,
  ini: `; c\n[db]\npassword = ${secret}\nuser = app\n`,
}
const tags = new Set([
  "DataKeyError",
  "MacMismatch",
  "MalformedValue",
  "BadMetadata",
  "UnsupportedInput",
  "EncryptError",
  "ConfigError",
])

type Mutation = {
  op: "flip" | "delete" | "insert" | "dup" | "truncate" | "replace"
  at: number
  len: number
  byte: number
  text: string
}
const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom("flip", "delete", "insert", "dup", "truncate", "replace"),
  at: fc.nat(),
  len: fc.integer({ min: 1, max: 40 }),
  byte: fc.integer({ min: 0, max: 255 }),
  text: fc.constantFrom(
    "ENC[",
    "]",
    ",",
    ":",
    "\n",
    "- ",
    "{",
    '"',
    "sops",
    "=",
    "[",
    "  ",
    "type:int",
    "\u0000",
    "---\n",
    "!!binary ",
  ),
})

const mutate = (src: Uint8Array, muts: ReadonlyArray<Mutation>): Uint8Array => {
  let b = Buffer.from(src)
  for (const m of muts) {
    const at = b.length === 0 ? 0 : m.at % b.length
    switch (m.op) {
      case "flip":
        if (b.length > 0) b[at] = b[at]! ^ (1 << (m.byte % 8))
        break
      case "delete":
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)])
        break
      case "insert":
        b = Buffer.concat([b.subarray(0, at), Buffer.from(m.text), b.subarray(at)])
        break
      case "dup":
        b = Buffer.concat([b.subarray(0, at + m.len), b.subarray(at)])
        break
      case "truncate":
        b = b.subarray(0, at)
        break
      case "replace":
        if (b.length > 0) b[at] = m.byte
        break
    }
  }
  return new Uint8Array(b)
}

const checkOutcome = (exit: Exit.Exit<unknown, { _tag: string; message: string }>) => {
  if (Exit.isSuccess(exit)) return
  expect(Cause.hasDies(exit.cause), Cause.pretty(exit.cause)).toBe(false)
  const e = Cause.findErrorOption(exit.cause)
  expect(e._tag).toBe("Some")
  if (e._tag === "Some") {
    expect(tags.has(e.value._tag), e.value._tag).toBe(true)
    expect(e.value.message).not.toContain(secret)
  }
}

describe("fuzzing mutated sops files", () => {
  it.effect("files made at test time (age, every store)", () =>
    Effect.gen(function* () {
      const identity = yield* Effect.promise(() => generateIdentity())
      const recipient = yield* Effect.promise(() => identityToRecipient(identity))
      const keyring: Keyring = { scope: "fuzz", age: [identity], pgp: [] }
      const cache = makeDataKeyCache()
      const inputs: Array<[Format, Uint8Array]> = []
      for (const [format, text] of Object.entries(plaintexts) as Array<[Format, string]>)
        inputs.push([
          format,
          yield* encrypt({
            bytes: new TextEncoder().encode(text),
            format,
            file: `f.${format}`,
            keyGroups: [[{ type: "age", recipient }]],
          }),
        ])
      inputs.push([
        "binary",
        yield* encrypt({
          bytes: new TextEncoder().encode(`${secret}\n`),
          format: "binary",
          file: "f.bin",
          keyGroups: [[{ type: "age", recipient }]],
        }),
      ])
      for (const [format, bytes] of inputs) {
        // unmutated input decrypts
        const ok = yield* decrypt({ bytes, format, file: `f.${format}`, keyring, mac: "strict", cache })
        expect(Buffer.from(ok.plaintext).toString("utf8")).toContain(secret)
        for (const muts of fc.sample(fc.array(mutation, { minLength: 1, maxLength: 4 }), 150)) {
          for (const mac of ["strict", "ignore"] as const) {
            const exit = yield* Effect.exit(
              decrypt({ bytes: mutate(bytes, muts), format, file: `f.${format}`, keyring, mac, cache }),
            )
            checkOutcome(exit)
          }
        }
      }
    }),
  )

  it.effect.skipIf(!haveFixtures)("upstream fixtures (PGP)", () =>
    Effect.gen(function* () {
      const keyring: Keyring = {
        scope: "fuzz-fixtures",
        age: [],
        pgp: [fixtureText("pgp/sops_functional_tests_key.asc")],
      }
      const cache = makeDataKeyCache()
      for (const rel of [
        "example.yaml",
        "example.json",
        "example.ini",
        "example.txt",
        "functional-tests/res/format.enc.env",
      ]) {
        const bytes = fixture(rel)
        for (const muts of fc.sample(fc.array(mutation, { minLength: 1, maxLength: 3 }), 60)) {
          const exit = yield* Effect.exit(
            decrypt({
              bytes: mutate(bytes, muts),
              format: formatForPath(rel),
              file: rel,
              keyring,
              mac: "strict",
              cache,
            }),
          )
          checkOutcome(exit)
        }
      }
    }),
  )
})
