import { describe, expect, it } from "@effect/vitest"
import { generateIdentity, identityToRecipient } from "age-encryption"
import { Effect } from "effect"
import { combine } from "shamir-secret-sharing"
import { newDataKey, recoverDataKey, wrapDataKey } from "./datakey.ts"
import { ageService } from "./keys/age.ts"
import type { MasterKeyService } from "./keys/masterkey.ts"
import { servicesFor } from "./keys/services.ts"

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"))

describe("Shamir (HashiCorp Vault / sops layout)", () => {
  it("combines the spec's worked example shares, any two or all three", async () => {
    const shares = ["2d7f01", "24e402", "236403"].map(hex)
    for (const pick of [
      [0, 1],
      [0, 2],
      [1, 2],
      [0, 1, 2],
    ])
      expect(Buffer.from(await combine(pick.map((i) => shares[i]!))).toString("hex")).toBe("2aff")
  })
})

describe("data key with key groups", () => {
  it.effect("wraps and recovers with 3 groups, threshold 2, when one group has no usable key", () =>
    Effect.gen(function* () {
      const ids = yield* Effect.promise(() =>
        Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]),
      )
      const recips = yield* Effect.promise(() => Promise.all(ids.map((i) => identityToRecipient(i))))
      const key = newDataKey()
      const services = servicesFor({ scope: "t", age: ids, pgp: [] })
      const groups = yield* wrapDataKey(
        "f",
        key,
        recips.map((r) => [{ type: "age" as const, recipient: r }]),
        2,
        services,
      )
      expect(groups.length).toBe(3)
      // only the identities of groups 0 and 2
      const partial = servicesFor({ scope: "t", age: [ids[0]!, ids[2]!], pgp: [] })
      const back = yield* recoverDataKey("f", groups, 2, partial)
      expect(back).toEqual(key)
      const one = servicesFor({ scope: "t", age: [ids[1]!], pgp: [] })
      const err = yield* Effect.flip(recoverDataKey("secret.yaml", groups, 2, one))
      expect(err._tag).toBe("DataKeyError")
      expect(err.message).toContain("secret.yaml")
      expect(err.message).toContain("threshold 2")
      expect(err.message).toContain(recips[0]!)
      expect(err.groups.filter((g) => g.ok).length).toBe(1)
    }),
  )

  it.effect("names a missing provider for key types without one", () =>
    Effect.gen(function* () {
      const vaultKey = {
        type: "hc_vault" as const,
        vaultAddress: "https://vault:8200",
        enginePath: "sops",
        keyName: "k",
        createdAt: "2024-01-01T00:00:00Z",
        enc: "vault:v1:x",
      }
      const err = yield* Effect.flip(
        recoverDataKey("f.yaml", [[vaultKey]], 0, servicesFor({ scope: "t", age: [], pgp: [] })),
      )
      expect(err.message).toContain("HashiCorp Vault transit provider")
      expect(err.message).toContain("https://vault:8200/v1/sops/keys/k")
    }),
  )

  it.effect("uses a registered provider and tries age before others", () =>
    Effect.gen(function* () {
      const calls: Array<string> = []
      const fake: MasterKeyService = {
        type: "hc_vault",
        decrypt: () =>
          Effect.sync(() => {
            calls.push("vault")
            return new Uint8Array(32).fill(7)
          }),
        encrypt: () => Effect.die("unused"),
      }
      const id = yield* Effect.promise(() => generateIdentity())
      const age = ageService([])
      const services = servicesFor({ scope: "t", age: [id], pgp: [], providers: [fake] })
      const groups = [
        [
          {
            type: "hc_vault" as const,
            vaultAddress: "a",
            enginePath: "b",
            keyName: "c",
            createdAt: "2024-01-01T00:00:00Z",
            enc: "x",
          },
          {
            type: "age" as const,
            recipient: "age1nomatch",
            enc: "-----BEGIN AGE ENCRYPTED FILE-----\nAAAA\n-----END AGE ENCRYPTED FILE-----\n",
          },
        ],
      ]
      const key = yield* recoverDataKey("f", groups, 0, services)
      expect(key).toEqual(new Uint8Array(32).fill(7))
      expect(calls).toEqual(["vault"])
      expect(age.type).toBe("age")
    }),
  )

  it.effect("rejects bad group configurations", () =>
    Effect.gen(function* () {
      const s = servicesFor({ scope: "t", age: [], pgp: [] })
      expect((yield* Effect.flip(wrapDataKey("f", newDataKey(), [], undefined, s))).message).toContain(
        "no key groups",
      )
      expect((yield* Effect.flip(wrapDataKey("f", newDataKey(), [[]], undefined, s))).message).toContain(
        "empty key group",
      )
      const r = { type: "age" as const, recipient: "age1x" }
      expect((yield* Effect.flip(wrapDataKey("f", newDataKey(), [[r], [r]], 3, s))).message).toContain(
        "threshold 3",
      )
    }),
  )
})

describe("decryption order", () => {
  it.effect("tries age, then pgp, then the rest by default; a custom order puts its types first", () =>
    Effect.gen(function* () {
      const id = yield* Effect.promise(() => generateIdentity())
      const recipient = yield* Effect.promise(() => identityToRecipient(id))
      const key = newDataKey()
      const calls: Array<string> = []
      const vault: MasterKeyService = {
        type: "hc_vault",
        decrypt: () =>
          Effect.sync(() => {
            calls.push("vault")
            return key
          }),
        encrypt: (r) =>
          Effect.succeed({
            ...(r as Extract<typeof r, { type: "hc_vault" }>),
            createdAt: "2024-01-01T00:00:00Z",
            enc: "vault:v1:x",
          }),
      }
      const services = servicesFor({ scope: "t", age: [id], pgp: [], providers: [vault] })
      const groups = yield* wrapDataKey(
        "f",
        key,
        [
          [
            { type: "hc_vault", vaultAddress: "https://v", enginePath: "transit", keyName: "k" },
            { type: "age", recipient },
          ],
        ],
        undefined,
        services,
      )
      expect(yield* recoverDataKey("f", groups, 0, services)).toEqual(key)
      expect(calls).toEqual([])
      expect(yield* recoverDataKey("f", groups, 0, services, ["hc_vault"])).toEqual(key)
      expect(calls).toEqual(["vault"])
    }),
  )
})
