/**
 * Acceptance: every upstream sops fixture decrypts to the values recorded in EXPECTED-decryptions.json with the
 * MAC verified; `no_mac.yaml` fails with the MAC error unless the check is skipped.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { decryptFile } from "./decrypt.ts"
import { formatForPath } from "./format.ts"
import { decrypt, type Keyring, makeDataKeyCache } from "./index.ts"
import { alignComments, fixture, fixtureText, haveFixtures, toPlain } from "./testing/fixtures.ts"
import { isComment } from "./tree.ts"

interface Expected {
  readonly data_key_hex: string
  readonly mac_plaintext: string | null
  readonly decrypted_values: unknown
}

const expected: Record<string, Expected> = haveFixtures
  ? JSON.parse(fixtureText("EXPECTED-decryptions.json"))
  : {}
const keyring = (): Keyring => ({
  scope: "fixtures",
  age: [],
  pgp: [fixtureText("pgp/sops_functional_tests_key.asc")],
})

describe.skipIf(!haveFixtures)("upstream sops fixtures", () => {
  const files = Object.keys(expected)
  for (const rel of files) {
    const want = expected[rel]!
    const mac = rel.endsWith("no_mac.yaml") ? "ignore" : "strict"
    it.effect(`${rel} decrypts to the expected values (MAC ${mac})`, () =>
      Effect.gen(function* () {
        const opened = yield* decryptFile({
          bytes: fixture(rel),
          format: formatForPath(rel),
          file: rel,
          keyring: keyring(),
          mac,
        })
        expect(Buffer.from(opened.dataKey).toString("hex")).toBe(want.data_key_hex)
        const doc = opened.documents[0]!
        const actual = toPlain(doc)
        expect(alignComments(actual, want.decrypted_values)).toEqual(want.decrypted_values)
        expect(opened.macMismatch).toBe(false)
      }),
    )
  }

  it.effect("no_mac.yaml fails with the MAC error under the strict policy", () =>
    Effect.gen(function* () {
      const rel = "functional-tests/res/no_mac.yaml"
      const exit = yield* Effect.exit(
        decrypt({ bytes: fixture(rel), format: "yaml", file: rel, keyring: keyring(), mac: "strict" }),
      )
      expect(Exit.isFailure(exit)).toBe(true)
      const err = yield* Effect.flip(
        decrypt({ bytes: fixture(rel), format: "yaml", file: rel, keyring: keyring(), mac: "strict" }),
      )
      expect(err._tag).toBe("MacMismatch")
      expect(err.message).toContain(rel)
      expect(err.message).toContain("no MAC")
      const warned = yield* decrypt({
        bytes: fixture(rel),
        format: "yaml",
        file: rel,
        keyring: keyring(),
        mac: "warn",
      })
      expect(warned.macMismatch).toBe(true)
    }),
  )

  it.effect("example.yaml comments decrypt in their branches", () =>
    Effect.gen(function* () {
      const opened = yield* decryptFile({
        bytes: fixture("example.yaml"),
        format: "yaml",
        file: "example.yaml",
        keyring: keyring(),
        mac: "strict",
      })
      const comments: Array<string> = []
      const visit = (v: unknown): void => {
        if (isComment(v)) comments.push(v.value)
        else if (v !== null && typeof v === "object" && "items" in v)
          for (const i of (v as { items: Array<unknown> }).items)
            if (i !== null && typeof i === "object" && "key" in i) {
              const item = i as { key: unknown; value: unknown }
              visit(item.key)
              visit(item.value)
            } else visit(i)
      }
      visit(opened.documents[0])
      expect(comments).toEqual([
        " private key for secret operations in app2",
        " sops supports unencrypted fields",
        " by adding the `_unencrypted` suffix",
        " to any key",
      ])
    }),
  )

  it.effect("binary fixture decrypts to the exact bytes", () =>
    Effect.gen(function* () {
      const out = yield* decrypt({
        bytes: fixture("example.txt"),
        format: "binary",
        file: "example.txt",
        keyring: keyring(),
        mac: "strict",
      })
      expect(Buffer.from(out.plaintext).toString("utf8")).toBe(
        (expected["example.txt"]!.decrypted_values as { data: string }).data,
      )
    }),
  )

  it.effect("a data-key cache serves the second decryption without the master key", () =>
    Effect.gen(function* () {
      const cache = makeDataKeyCache()
      const rel = "functional-tests/res/format.enc.json"
      const bytes = fixture(rel)
      yield* decrypt({ bytes, format: "json", file: rel, keyring: keyring(), mac: "strict", cache })
      const noKeys: Keyring = { scope: "fixtures", age: [], pgp: [] }
      const again = yield* decrypt({
        bytes,
        format: "json",
        file: rel,
        keyring: noKeys,
        mac: "strict",
        cache,
      })
      expect(Buffer.from(again.plaintext).toString("utf8")).toBe('{\n\t"foo": "bar"\n}\n')
      // another scope does not see the cached key
      const other = yield* Effect.flip(
        decrypt({
          bytes,
          format: "json",
          file: rel,
          keyring: { ...noKeys, scope: "other" },
          mac: "strict",
          cache,
        }),
      )
      expect(other._tag).toBe("DataKeyError")
      expect(other.message).toContain("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4")
    }),
  )
})
