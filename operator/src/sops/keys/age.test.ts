import { describe, expect, it } from "@effect/vitest"
import { generateIdentity, identityToRecipient } from "age-encryption"
import { Effect } from "effect"
import { fixtureText, haveFixtures } from "../testing/fixtures.ts"
import { ageService, parseAgeIdentities } from "./age.ts"

describe("age key service", () => {
  it("reads key files with several identities, comments and blank lines", () => {
    const file = [
      "# created: 2024-01-01T00:00:00Z",
      "# public key: age1…",
      "AGE-SECRET-KEY-1AAAA",
      "",
      "AGE-SECRET-KEY-1BBBB AGE-SECRET-KEY-1CCCC",
      "AGE-PLUGIN-YUBIKEY-1XYZ",
    ].join("\n")
    expect(parseAgeIdentities([file])).toEqual([
      "AGE-SECRET-KEY-1AAAA",
      "AGE-SECRET-KEY-1BBBB",
      "AGE-SECRET-KEY-1CCCC",
    ])
  })

  it.effect("wraps with a recipient and unwraps with any of several identities", () =>
    Effect.gen(function* () {
      const [a, b] = yield* Effect.promise(() => Promise.all([generateIdentity(), generateIdentity()]))
      const recipient = yield* Effect.promise(() => identityToRecipient(b!))
      const part = new Uint8Array(33).map((_, i) => i)
      const stored = yield* ageService([]).encrypt({ type: "age", recipient }, part)
      expect(stored.type === "age" && stored.enc).toMatch(
        /^-----BEGIN AGE ENCRYPTED FILE-----\n[\s\S]+\n-----END AGE ENCRYPTED FILE-----\n$/,
      )
      const keyFile = `# a\n${a}\n# b\n${b}\n`
      expect(yield* ageService([keyFile]).decrypt(stored)).toEqual(part)
      const failure = yield* Effect.flip(ageService([a!]).decrypt(stored))
      expect(failure.reason).toContain("no age identity matched")
      const none = yield* Effect.flip(ageService([]).decrypt(stored))
      expect(none.reason).toContain("no age identity available")
    }),
  )

  it.effect.skipIf(!haveFixtures)("decrypts the upstream age test vector", () =>
    Effect.gen(function* () {
      const text = fixtureText("age-test-vectors.txt")
      const identity = /identity {2}\(X25519\):\s+(\S+)/.exec(text)![1]!
      const armored = /(-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----)/.exec(
        text,
      )![1]!
      const out = yield* ageService([identity]).decrypt({
        type: "age",
        recipient: "age1lzd9",
        enc: `${armored}\n`,
      })
      expect(Buffer.from(out).toString("utf8")).toBe("data")
    }),
  )
})
