import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { ignoredHint, keysFromSecret, suggestName } from "./keys.ts"

const b64 = (s: string) => Buffer.from(s).toString("base64")
const secret = (data: Record<string, string>) => ({
  namespace: "team-a",
  name: "sops-keys",
  uid: "u1",
  resourceVersion: "7",
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
})
const ageKey = "# created\nAGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n"
const pgpKey = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxyz\n-----END PGP PRIVATE KEY BLOCK-----\n"

describe("keysFromSecret", () => {
  it.effect("refuses an *.agekey entry that is not age identities, naming the entry and never its text", () =>
    Effect.gen(function* () {
      const sshKey =
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n"
      for (const [text, why] of [
        [sshKey, "holds an SSH private key"],
        [`${ageKey}AGE-PLUGIN-YUBIKEY-1QQQQQQ\n`, "line 3 is an age plugin identity"],
        [`${ageKey}password=hunter2\n`, "line 3 is not an age identity"],
      ] as const) {
        const exit = yield* Effect.exit(keysFromSecret(secret({ "identity.agekey": text })))
        expect(Exit.isFailure(exit)).toBe(true)
        const message = Exit.isFailure(exit) ? String(exit.cause) : ""
        expect(message).toContain(
          "failed to import 'identity.agekey' data from sops decryption Secret 'team-a/sops-keys'",
        )
        expect(message).toContain(why)
        expect(message).not.toContain("hunter2")
        expect(message).not.toContain("b3BlbnNzaC1")
      }
      // age-keygen's file (comments, a post-quantum identity) is accepted.
      const pq = "# public key: age1pq…\nAGE-SECRET-KEY-PQ-1QQQQQQQQQQ\n"
      expect((yield* keysFromSecret(secret({ "a.agekey": ageKey, "b.agekey": pq }))).age).toEqual([
        ageKey,
        pq,
      ])
    }),
  )

  it.effect("reads *.agekey and *.asc and provider entries by exact name", () =>
    Effect.gen(function* () {
      const k = yield* keysFromSecret(
        secret({
          "identity.agekey": ageKey,
          "ops.asc": pgpKey,
          "sops.vault-token": " s.token \n",
          "sops.aws-kms": "aws_access_key_id: AKIA\naws_secret_access_key: xyz\n",
          "README.md": "docs",
        }),
      )
      expect(k.age).toEqual([ageKey])
      expect(k.pgp).toEqual([pgpKey])
      expect(k.providers.map((p) => p.type)).toEqual(["kms", "hc_vault"])
      expect(k.ignored).toEqual([])
    }),
  )

  it.effect(
    "reads sops.gcp-kms as Flux does: service account, authorized user or external account JSON",
    () =>
      Effect.gen(function* () {
        for (const json of [
          { type: "service_account", client_email: "a@p.iam.gserviceaccount.com", private_key: "k" },
          { type: "authorized_user", client_id: "c", client_secret: "s", refresh_token: "r" },
          { type: "external_account", audience: "//iam.googleapis.com/projects/1/x" },
        ]) {
          const k = yield* keysFromSecret(secret({ "sops.gcp-kms": `${JSON.stringify(json)}\n` }))
          expect(k.providers).toEqual([{ type: "gcp_kms", serviceAccount: json }])
        }
        const exit = yield* Effect.exit(
          keysFromSecret(secret({ "sops.gcp-kms": '{"type":"api_key","key":"AIza-secret"}' })),
        )
        expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).not.toContain("AIza-secret")
        expect(Exit.isFailure(exit)).toBe(true)
      }),
  )

  it.effect("remembers entries that look like keys, with the name they should have", () =>
    Effect.gen(function* () {
      const k = yield* keysFromSecret(
        secret({ "age.key": ageKey, "key.txt": ageKey, "private.asc.txt": pgpKey, vault_token: "t" }),
      )
      expect(k.age).toEqual([])
      expect(k.ignored).toEqual([
        { entry: "age.key", suggested: "age.agekey" },
        { entry: "key.txt", suggested: "key.agekey" },
        { entry: "private.asc.txt", suggested: "private.asc" },
        { entry: "vault_token", suggested: "sops.vault-token" },
      ])
      const hint = ignoredHint({ namespace: "team-a", name: "sops-keys" }, k.ignored)
      expect(hint).toContain("'age.key' (rename it to 'age.agekey')")
      expect(hint).not.toContain("AGE-SECRET-KEY")
    }),
  )

  it.effect("fails on malformed provider credentials, naming the entry but not the value", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        keysFromSecret(secret({ "sops.aws-kms": "aws_access_key_id: AKIASECRETID\n" })),
      )
      expect(Exit.isFailure(exit)).toBe(true)
      const text = String(exit)
      expect(text).toContain(
        "failed to import 'sops.aws-kms' data from sops decryption Secret 'team-a/sops-keys'",
      )
      expect(text).not.toContain("AKIASECRETID")
    }),
  )

  it.effect(
    "sops.azure-kv: Flux's formats (UTF-16 with a BOM too); an unusable one fails at import, naming why",
    () =>
      Effect.gen(function* () {
        const config = JSON.stringify({ tenantId: "t", clientId: "c", clientSecret: "azure-secret-value" })
        const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(config, "utf16le")])
        const k = yield* keysFromSecret({
          ...secret({}),
          data: { "sops.azure-kv": utf16.toString("base64") },
        })
        expect(k.providers).toEqual([
          { type: "azure_kv", config: { tenantId: "t", clientId: "c", clientSecret: "azure-secret-value" } },
        ])
        const bad = String(
          yield* Effect.exit(
            keysFromSecret(secret({ "sops.azure-kv": "tenantId: t\nclientSecret: azure-secret-value\n" })),
          ),
        )
        expect(bad).toContain(
          "failed to import 'sops.azure-kv' data from sops decryption Secret 'team-a/sops-keys'",
        )
        expect(bad).toContain("requires a 'clientId' field")
        expect(bad).not.toContain("azure-secret-value")
        const unknown = String(
          yield* Effect.exit(keysFromSecret(secret({ "sops.azure-kv": "clientId: c\nresource: r\n" }))),
        )
        expect(unknown).toContain("unknown field(s) 'resource'")
      }),
  )

  it("suggests nothing for unrelated entries", () => {
    expect(suggestName("README.md", "hello")).toBeUndefined()
  })
})
