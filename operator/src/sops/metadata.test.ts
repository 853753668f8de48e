import { describe, expect, it } from "@effect/vitest"
import type { MasterKey } from "./keys/masterkey.ts"
import { fromBranch, type Metadata, MetadataError, toBranch } from "./metadata.ts"
import {
  type Branch,
  branch,
  float,
  isBranch,
  isComment,
  isList,
  type List,
  list,
  type Value,
} from "./tree.ts"

const b = (o: Record<string, Value>): Branch =>
  branch(Object.entries(o).map(([key, value]) => ({ key, value })))
const keys = (v: unknown): Array<string> =>
  isBranch(v) ? v.items.map((i) => (isComment(i.key) ? "#" : i.key)) : []

const age: MasterKey = { type: "age", recipient: "age1xyz", enc: "-----BEGIN AGE ENCRYPTED FILE-----\n…\n" }
const pgp: MasterKey = {
  type: "pgp",
  fp: "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4",
  createdAt: "2024-01-01T00:00:00Z",
  enc: "-----BEGIN PGP MESSAGE-----",
}
const vault: MasterKey = {
  type: "hc_vault",
  vaultAddress: "https://vault:8200",
  enginePath: "sops",
  keyName: "k",
  createdAt: "2024-01-01T00:00:00Z",
  enc: "vault:v1:abc",
}
const kms: MasterKey = {
  type: "kms",
  arn: "arn:aws:kms:eu-west-1:123456789012:key/x",
  role: "",
  context: { b: "2", a: "1" },
  awsProfile: "",
  createdAt: "2024-01-01T00:00:00Z",
  enc: "AQID",
}

const md = (over: Partial<Metadata>): Metadata => ({
  keyGroups: [[age, pgp]],
  shamirThreshold: 0,
  lastModified: "2024-05-01T10:00:00Z",
  mac: "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]",
  rule: { kind: "unencrypted_suffix", value: "_unencrypted" },
  macOnlyEncrypted: false,
  version: "3.13.2",
  ...over,
})

describe("metadata writing (sops 3.13 order)", () => {
  it("one group: alphabetical top-level keys, empty lists omitted", () => {
    const out = toBranch(md({ keyGroups: [[age, pgp, kms]], macOnlyEncrypted: true }))
    expect(keys(out)).toEqual([
      "age",
      "kms",
      "lastmodified",
      "mac",
      "mac_only_encrypted",
      "pgp",
      "unencrypted_suffix",
      "version",
    ])
    const kmsEntry = (out.items.find((i) => i.key === "kms")!.value as List).items[0]!
    expect(keys(kmsEntry)).toEqual(["arn", "aws_profile", "context", "created_at", "enc"])
    expect(keys((kmsEntry as Branch).items[2]!.value)).toEqual(["a", "b"])
    const ageEntry = (out.items[0]!.value as List).items[0]!
    expect(keys(ageEntry)).toEqual(["enc", "recipient"])
  })
  it("several groups: key_groups with age and hc_vault always present, threshold as an integer", () => {
    const out = toBranch(
      md({
        keyGroups: [[pgp], [vault], [age]],
        shamirThreshold: 2,
        rule: { kind: "encrypted_regex", value: "^data$" },
      }),
    )
    expect(keys(out)).toEqual([
      "encrypted_regex",
      "key_groups",
      "lastmodified",
      "mac",
      "shamir_threshold",
      "version",
    ])
    const groups = out.items.find((i) => i.key === "key_groups")!.value
    expect(isList(groups)).toBe(true)
    const g = (groups as List).items
    expect(g.map(keys)).toEqual([
      ["age", "hc_vault", "pgp"],
      ["age", "hc_vault"],
      ["age", "hc_vault"],
    ])
    expect(
      keys(
        (g[1] as Branch).items[1]!.value === null
          ? null
          : ((g[1] as Branch).items[1]!.value as List).items[0]!,
      ),
    ).toEqual(["created_at", "enc", "engine_path", "key_name", "vault_address"])
    expect(out.items.find((i) => i.key === "shamir_threshold")!.value).toBe(2n)
  })
  it("round-trips through fromBranch", () => {
    const m = md({ keyGroups: [[pgp], [vault, kms], [age]], shamirThreshold: 2 })
    const back = fromBranch(toBranch(m))
    expect(back.shamirThreshold).toBe(2)
    // the loader orders keys by type: kms, gcp_kms, hckms, azure_kv, hc_vault, pgp, age
    expect(back.keyGroups.map((g) => g.map((k) => k.type))).toEqual([["pgp"], ["kms", "hc_vault"], ["age"]])
    expect(back.keyGroups[1]).toEqual([kms, vault])
    expect(back.rule).toEqual(m.rule)
  })
})

describe("metadata reading (every sops version)", () => {
  const base = {
    lastmodified: "2019-12-10T22:45:55Z",
    mac: "ENC[…]",
    pgp: list([b({ created_at: "2019-12-10T22:45:54Z", enc: "e", fp: "FBC7 B9E2" })]),
    version: "3.5.0",
  }
  it("tolerates null/empty lists, unknown fields and weak types", () => {
    const m = fromBranch(
      b({
        ...base,
        kms: null,
        gcp_kms: list([]),
        azure_kv: null,
        attention: "legacy",
        shamir_threshold: "2",
        mac_only_encrypted: "true",
      }),
    )
    expect(m.keyGroups).toEqual([
      [{ type: "pgp", fp: "FBC7B9E2", createdAt: "2019-12-10T22:45:54Z", enc: "e" }],
    ])
    expect(m.shamirThreshold).toBe(2)
    expect(m.macOnlyEncrypted).toBe(true)
    expect(m.rule).toEqual({ kind: "unencrypted_suffix", value: "_unencrypted" })
  })
  it("uses key_groups when the top-level lists are empty", () => {
    const m = fromBranch(
      b({
        ...base,
        pgp: list([]),
        key_groups: list([
          b({ age: list([b({ recipient: " age1a ", enc: "x" })]), hc_vault: list([]) }),
          b({ pgp: base.pgp }),
        ]),
        shamir_threshold: 2n,
      }),
    )
    expect(m.keyGroups.length).toBe(2)
    expect(m.keyGroups[0]![0]).toEqual({ type: "age", recipient: "age1a", enc: "x" })
  })
  it("reads a JSON-number version as a 1.x file and floats as thresholds", () => {
    expect(fromBranch(b({ ...base, version: float(1.13) })).version).toBe("1.13")
    expect(fromBranch(b({ ...base, shamir_threshold: float(3) })).shamirThreshold).toBe(3)
  })
  it("fails with a named field", () => {
    const bad = (o: Record<string, Value>, msg: RegExp) => expect(() => fromBranch(b(o))).toThrow(msg)
    bad({ ...base, lastmodified: null }, /lastmodified is missing/)
    bad({ ...base, lastmodified: "yesterday" }, /lastmodified is not an RFC 3339/)
    bad({ ...base, encrypted_regex: "a", unencrypted_suffix: "b" }, /more than one/)
    bad({ ...base, pgp: list([]) }, /no keys found/)
    bad({ ...base, version: "three" }, /not a semantic version/)
    bad({ ...base, pgp: list([b({ enc: "e", fp: "F" })]) }, /pgp.created_at/)
    expect(() => fromBranch(b({ ...base, pgp: "x" }))).toThrow(MetadataError)
  })
})
