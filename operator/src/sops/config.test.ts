import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { creationRuleFor, discoverConfig, loadCreationRule, matchPath } from "./config.ts"

const root = mkdtempSync(join(tmpdir(), "ksops-config-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const config = `
creation_rules:
  - path_regex: ^prod/.*\\.yaml$
    key_groups:
      - age: [age1aaa, "age1bbb,age1ccc"]
        pgp: [FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4]
        merge:
          - age: [age1aaa]
            hc_vault: ["https://vault:8200/v1/sops/transit/keys/prod"]
      - pgp: ["D7229043384BCC60326C6FB9D8720D957C3D3074"]
      - kms: [{ arn: "arn:aws:kms:eu-west-1:123:key/x", role: "arn:aws:iam::123:role/r", context: { env: prod } }]
    shamir_threshold: 2
    encrypted_regex: ^(data|stringData)$
    mac_only_encrypted: true
  - path_regex: \\.env$
    age: "age1ddd , age1eee,"
    pgp: "AAAA BBBB"
    unencrypted_suffix: _plain
  - filename_regex: ignored-field-so-this-rule-matches-everything
    azure_keyvault: https://myvault.vault.azure.net/keys/k/v1
stores:
  yaml: { indent: 2 }
`

describe(".sops.yaml", () => {
  it("first matching rule wins; key_groups with merge are flattened and de-duplicated", () => {
    const r = creationRuleFor("c", config, "prod/app/secret.yaml")!
    expect(r.keyGroups.length).toBe(3)
    expect(r.keyGroups[0]).toEqual([
      { type: "pgp", fp: "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4" },
      { type: "age", recipient: "age1aaa" },
      { type: "age", recipient: "age1bbb" },
      { type: "age", recipient: "age1ccc" },
      { type: "hc_vault", vaultAddress: "https://vault:8200", enginePath: "sops/transit", keyName: "prod" },
    ])
    expect(r.keyGroups[2]).toEqual([
      {
        type: "kms",
        arn: "arn:aws:kms:eu-west-1:123:key/x",
        role: "arn:aws:iam::123:role/r",
        context: { env: "prod" },
        awsProfile: "",
      },
    ])
    expect(r.shamirThreshold).toBe(2)
    expect(r.rule).toEqual({ kind: "encrypted_regex", value: "^(data|stringData)$" })
    expect(r.macOnlyEncrypted).toBe(true)
    expect(r.indent?.yaml).toBe(2)
  })
  it("flat per-type fields form one group; comma lists are trimmed", () => {
    const r = creationRuleFor("c", config, "x/.env")!
    expect(r.keyGroups).toEqual([
      [
        { type: "pgp", fp: "AAAABBBB" },
        { type: "age", recipient: "age1ddd" },
        { type: "age", recipient: "age1eee" },
      ],
    ])
    expect(r.rule).toEqual({ kind: "unencrypted_suffix", value: "_plain" })
  })
  it("a rule without path_regex matches everything (unknown fields ignored)", () => {
    const r = creationRuleFor("c", config, "other.json")!
    expect(r.keyGroups).toEqual([
      [{ type: "azure_kv", vaultUrl: "https://myvault.vault.azure.net", name: "k", version: "v1" }],
    ])
  })
  it("errors: no match, two selection rules, bad regex; no creation_rules = no config", () => {
    expect(() => creationRuleFor("c", "creation_rules:\n  - path_regex: ^a$\n", "b")).toThrow(
      /no matching creation rules/,
    )
    expect(() =>
      creationRuleFor("c", "creation_rules:\n  - encrypted_regex: a\n    unencrypted_suffix: b\n", "b"),
    ).toThrow(/more than one/)
    expect(() => creationRuleFor("c", "creation_rules:\n  - path_regex: (?=x)\n", "b")).toThrow(/RE2/)
    expect(creationRuleFor("c", "stores: {}\n", "b")).toBeUndefined()
  })
  it("discovery goes upward and path_regex sees the path relative to the config", () => {
    mkdirSync(join(root, "repo", "prod", "app"), { recursive: true })
    writeFileSync(join(root, "repo", ".sops.yaml"), config)
    const cwd = join(root, "repo", "prod", "app")
    expect(discoverConfig({ cwd, file: "secret.yaml" })).toBe(join(root, "repo", ".sops.yaml"))
    expect(matchPath(join(root, "repo", ".sops.yaml"), "secret.yaml", cwd)).toBe(
      join("prod", "app", "secret.yaml"),
    )
    expect(matchPath(join(root, "repo", ".sops.yaml"), "/elsewhere/x.yaml", cwd)).toBe("/elsewhere/x.yaml")
    // from outside the repository, the file's directory is searched too
    expect(discoverConfig({ cwd: root, file: join(root, "repo", "prod", "app", "s.yaml") })).toBe(
      join(root, "repo", ".sops.yaml"),
    )
  })
  it.effect("loadCreationRule returns typed errors", () =>
    Effect.gen(function* () {
      const cwd = join(root, "repo", "prod", "app")
      const found = yield* loadCreationRule({ cwd, file: "secret.yaml" })
      expect(found?.rule.keyGroups.length).toBe(3)
      writeFileSync(join(root, "broken.yaml"), "creation_rules: [")
      const err = yield* Effect.flip(
        loadCreationRule({ explicit: join(root, "broken.yaml"), cwd, file: "x" }),
      )
      expect(err._tag).toBe("ConfigError")
      expect(err.message).toContain("broken.yaml")
    }),
  )
})
