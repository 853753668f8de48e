import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { branch, comment, list } from "../tree.ts"
import { flattenMetadata, unflattenMetadata } from "./flatten.ts"
import { storeFor } from "./store.ts"
import { canon, outcome, readEncrypted, readPlain, writePlain } from "./testkit.ts"

const meta = branch([
  {
    key: "age",
    value: list([
      branch([
        { key: "enc", value: "-----BEGIN AGE ENCRYPTED FILE-----\nabc\n-----END AGE ENCRYPTED FILE-----\n" },
        { key: "recipient", value: "age1xyz" },
      ]),
    ]),
  },
  {
    key: "key_groups",
    value: list(
      Array.from({ length: 11 }, (_, i) =>
        branch([
          { key: "hc_vault", value: list([]) },
          { key: "pgp", value: list([branch([{ key: "fp", value: `F${i}` }])]) },
        ]),
      ),
    ),
  },
  { key: "kms", value: list([branch([{ key: "context", value: branch([{ key: "Env", value: "prod" }]) }])]) },
  { key: "lastmodified", value: "2024-01-01T00:00:00Z" },
  { key: "mac_only_encrypted", value: true },
  { key: "shamir_threshold", value: 2n },
  { key: "version", value: "3.13.3" },
])

describe("metadata flattening", () => {
  it("flattens in tree order with __map_/__list_ markers and typed leaves as text", () => {
    const flat = flattenMetadata(meta, "ini")
    expect(flat.slice(0, 3)).toEqual([
      ["age__list_0__map_enc", "-----BEGIN AGE ENCRYPTED FILE-----\nabc\n-----END AGE ENCRYPTED FILE-----\n"],
      ["age__list_0__map_recipient", "age1xyz"],
      ["key_groups__list_0__map_pgp__list_0__map_fp", "F0"],
    ])
    expect(flat.map(([k]) => k)).toContain("key_groups__list_10__map_pgp__list_0__map_fp")
    expect(flat.findIndex(([k]) => k.startsWith("key_groups__list_2_"))).toBeLessThan(
      flat.findIndex(([k]) => k.startsWith("key_groups__list_10_")),
    )
    expect(flat.slice(-5)).toEqual([
      ["kms__list_0__map_context__map_Env", "prod"],
      ["lastmodified", "2024-01-01T00:00:00Z"],
      ["mac_only_encrypted", "true"],
      ["shamir_threshold", "2"],
      ["version", "3.13.3"],
    ])
  })

  it("unflattens back (empty lists have no leaves, so they disappear)", () => {
    const back = unflattenMetadata(flattenMetadata(meta, "ini"), "ini")
    const groups = canon(back.items.find((i) => i.key === "key_groups")!.value as never) as {
      list: Array<unknown>
    }
    expect(groups.list).toHaveLength(11)
    expect(groups.list[10]).toEqual([["pgp", { list: [[["fp", "F10"]]] }]])
    expect(canon(back.items.find((i) => i.key === "shamir_threshold")!.value as never)).toBe("2")
  })

  const bad: ReadonlyArray<[ReadonlyArray<readonly [string, string]>, string]> = [
    [
      [
        ["a", "1"],
        ["a", "2"],
      ],
      "duplicate",
    ],
    [
      [
        ["a", "1"],
        ["a__map_b", "2"],
      ],
      "type mismatch",
    ],
    [[["a__list_1", "x"]], "incomplete list"],
  ]
  it.each(bad)("rejects %j (%s)", (pairs) => {
    expect(() => unflattenMetadata(pairs, "dotenv")).toThrow(/metadata/)
  })
})

describe("dotenv store", () => {
  it("reads lines as sops does: no trimming, no quotes, \\n sequences, comments, CR kept", () => {
    expect(
      canon(readPlain("dotenv", '#c\nfoo =  bar \n\nQ="x"\nM=a\\nb\nE=\nCR=x\r\nexport X=1=2\n')),
    ).toEqual([
      [
        { comment: "c", inline: false },
        ["foo ", "  bar "],
        ["Q", '"x"'],
        ["M", "a\nb"],
        ["E", ""],
        ["CR", "x\r"],
        ["export X", "1=2"],
      ],
    ])
    expect(outcome(storeFor("dotenv").readPlain(Buffer.from("novalue\n")))).toBe("StoreParseError")
  })

  it("writes key=value lines, newlines escaped, non-strings via ValToString, nested values refused", () => {
    const tree = branch([
      { key: comment(" note"), value: null },
      { key: "A", value: "x\ny" },
      { key: "I", value: 42n },
      { key: "F", value: { _tag: "Float", value: 100000 } },
      { key: "G", value: { _tag: "Float", value: 1.5e-7 } },
      { key: "B", value: true },
    ])
    expect(writePlain("dotenv", [tree])).toBe("# note\nA=x\\ny\nI=42\nF=100000.0\nG=1.5E-07\nB=true\n")
    expect(outcome(storeFor("dotenv").writePlain([branch([{ key: "n", value: list([]) }])]))).toBe(
      "StoreEmitError",
    )
  })

  it("appends and extracts sops_ metadata", () => {
    const m = branch([
      { key: "lastmodified", value: "2024-01-01T00:00:00Z" },
      {
        key: "pgp",
        value: list([
          branch([
            { key: "enc", value: "a\nb" },
            { key: "fp", value: "F" },
          ]),
        ]),
      },
      { key: "version", value: "3.13.3" },
    ])
    const text = Buffer.from(
      Effect.runSync(storeFor("dotenv").writeEncrypted([branch([{ key: "K", value: "v" }])], m)),
    ).toString()
    expect(text).toBe(
      "K=v\nsops_lastmodified=2024-01-01T00:00:00Z\nsops_pgp__list_0__map_enc=a\\nb\nsops_pgp__list_0__map_fp=F\nsops_version=3.13.3\n",
    )
    const back = readEncrypted("dotenv", text)
    expect(canon(back.documents)).toEqual([[["K", "v"]]])
    expect(canon(back.metadata)).toEqual(canon(m))
    expect(outcome(storeFor("dotenv").readEncrypted(Buffer.from("K=v\n")))).toBe("StoreMetadataError")
    expect(outcome(storeFor("dotenv").writeEncrypted([branch([{ key: "sops_x", value: "v" }])], m))).toBe(
      "StoreMetadataError",
    )
  })
})

describe("INI store (gopkg.in/ini.v1)", () => {
  const src = [
    "top = level",
    "; about the name section",
    "# second line",
    "[name]",
    "first =  John  ",
    'quoted = "  spaced  "',
    "single = 'x'",
    "colon: yes",
    "inline = value ; a comment",
    "hash = a#b",
    "back = `with ; semicolon`",
    'multi = """line1',
    'line2"""',
    "cont = a \\",
    "  b",
    "dup = 1",
    "; c-dup",
    "dup = 2",
    "[name]",
    "again = yes",
    "",
  ].join("\n")

  it("reads sections, values and comments like ini.v1 does with sops' options", () => {
    expect(canon(readPlain("ini", src))).toEqual([
      [
        ["DEFAULT", [["top", "level"]]],
        [
          "name",
          [
            { comment: "about the name section\n# second line", inline: false },
            ["first", "John"],
            ["quoted", "  spaced  "],
            ["single", "x"],
            ["colon", "yes"],
            ["inline", "value"],
            { comment: "a comment", inline: false },
            ["hash", "a"],
            { comment: "b", inline: false },
            ["back", "with ; semicolon"],
            ["multi", "line1\nline2"],
            ["cont", "a b"],
            ["dup", "2"],
            { comment: "c-dup", inline: false },
          ],
        ],
        ["name", [["again", "yes"]]],
      ],
    ])
  })

  it("writes aligned keys, quoting like ini.v1, comments above their key, blank line between sections", () => {
    const docs = readPlain("ini", src)
    expect(writePlain("ini", docs)).toBe(
      [
        "top = level",
        "",
        "; about the name section",
        "# second line",
        "[name]",
        "first  = John",
        'quoted = "  spaced  "',
        "single = x",
        "colon  = yes",
        "; a comment",
        "inline = value",
        "; b",
        "hash   = a",
        "back   = `with ; semicolon`",
        'multi  = """line1\nline2"""',
        "cont   = a b",
        "; c-dup",
        "dup    = 2",
        "",
        "[name]",
        "again = yes",
        "",
      ].join("\n"),
    )
    expect(canon(readPlain("ini", writePlain("ini", docs)))).toEqual(canon(docs))
  })

  it("omits an empty DEFAULT section and refuses nested values", () => {
    expect(
      writePlain("ini", [
        branch([
          { key: "DEFAULT", value: branch([]) },
          { key: "s", value: branch([{ key: "k", value: "v" }]) },
        ]),
      ]),
    ).toBe("[s]\nk = v\n")
    expect(
      outcome(
        storeFor("ini").writePlain([branch([{ key: "s", value: branch([{ key: "k", value: list([]) }]) }])]),
      ),
    ).toBe("StoreEmitError")
    expect(outcome(storeFor("ini").writePlain([branch([{ key: "s", value: "flat" }])]))).toBe(
      "StoreEmitError",
    )
  })

  it.each(["[unclosed\n", "=novalue\n", "[]\n", 'k = """open\n'])("rejects %j", (bad) => {
    expect(outcome(storeFor("ini").readPlain(Buffer.from(bad)))).toBe("StoreParseError")
  })

  it("writes the [sops] section flattened with escaped newlines, and reads both newline variants", () => {
    const m = branch([
      { key: "lastmodified", value: "2024-01-01T00:00:00Z" },
      { key: "pgp", value: list([branch([{ key: "enc", value: "a\nb" }])]) },
    ])
    const text = Buffer.from(
      Effect.runSync(
        storeFor("ini").writeEncrypted(
          [
            branch([
              { key: "DEFAULT", value: branch([]) },
              { key: "s", value: branch([{ key: "k", value: "v" }]) },
            ]),
          ],
          m,
        ),
      ),
    ).toString()
    expect(text).toBe(
      "[s]\nk = v\n\n[sops]\nlastmodified         = 2024-01-01T00:00:00Z\npgp__list_0__map_enc = a\\nb\n",
    )
    expect(canon(readEncrypted("ini", text).metadata)).toEqual(canon(m))
    const v3130 = '[sops]\nlastmodified = 2024-01-01T00:00:00Z\npgp__list_0__map_enc = """a\nb"""\n'
    expect(canon(readEncrypted("ini", v3130).metadata)).toEqual(canon(m))
  })
})
