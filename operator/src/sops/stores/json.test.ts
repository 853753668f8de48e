import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { branch, comment, float, list } from "../tree.ts"
import { storeFor } from "./store.ts"
import { canon, outcome, readEncrypted, readPlain, writePlain } from "./testkit.ts"

describe("JSON store", () => {
  it("keeps order and duplicate keys, reads int64 as bigint and other numbers as floats", () => {
    const docs = readPlain(
      "json",
      '{"b": 1, "a": [1.0, 1e2, -0, 9223372036854775807, 9223372036854775808], "b": null, "c": {"d": true}}',
    )
    expect(canon(docs)).toEqual([
      [
        ["b", { int: "1" }],
        [
          "a",
          {
            list: [
              { float: "1" },
              { float: "100" },
              { int: "0" },
              { int: "9223372036854775807" },
              { float: "9223372036854776000" },
            ],
          },
        ],
        ["b", null],
        ["c", [["d", true]]],
      ],
    ])
  })

  it("decodes escapes like Go (surrogate pairs joined, lone surrogates replaced)", () => {
    expect(canon(readPlain("json", '{"s": "\\u00e9\\ud83d\\ude00\\ud800x\\/\\b\\f\\n\\r\\t"}'))).toEqual([
      [["s", "é😀\ufffdx/\b\f\n\r\t"]],
    ])
  })

  it("writes Go's encoding/json + json.Indent layout with a TAB and a trailing newline", () => {
    const tree = branch([
      { key: "html", value: "<a href='x'>&</a>\u2028\u2029" },
      { key: "ctl", value: '\u0000\u001f\b\f\n\r\t"\\\u007f' },
      { key: comment(" dropped"), value: null },
      {
        key: "nums",
        value: list([1n, float(1), float(1.5), float(-0), float(1e21), float(1e-7), float(123456789)]),
      },
      { key: "empty", value: branch([]) },
      { key: "none", value: list([comment("x")]) },
      { key: "nested", value: list([branch([{ key: "k", value: null }]), list([])]) },
      { key: "t", value: { _tag: "Timestamp", date: new Date(0), text: "2024-01-01T00:00:00.500Z" } },
      { key: "raw", value: new Uint8Array([0, 255]) },
    ])
    expect(writePlain("json", [tree])).toBe(
      [
        "{",
        '\t"html": "\\u003ca href=\'x\'\\u003e\\u0026\\u003c/a\\u003e\\u2028\\u2029",',
        '\t"ctl": "\\u0000\\u001f\\b\\f\\n\\r\\t\\"\\\\\u007f",',
        '\t"nums": [',
        "\t\t1,",
        "\t\t1,",
        "\t\t1.5,",
        "\t\t-0,",
        "\t\t1e+21,",
        "\t\t1e-7,",
        "\t\t123456789",
        "\t],",
        '\t"empty": {},',
        '\t"none": [],',
        '\t"nested": [',
        "\t\t{",
        '\t\t\t"k": null',
        "\t\t},",
        "\t\t[]",
        "\t],",
        '\t"t": "2024-01-01T00:00:00.5Z",',
        '\t"raw": "AP8="',
        "}",
        "",
      ].join("\n"),
    )
  })

  it("indents with N spaces when asked and rejects less than -1", () => {
    const tree = [branch([{ key: "a", value: list(["b"]) }])]
    expect(writePlain("json", tree, { indent: 2 })).toBe('{\n  "a": [\n    "b"\n  ]\n}\n')
    expect(writePlain("json", tree, { indent: 0 })).toBe('{\n"a": [\n"b"\n]\n}\n')
    expect(outcome(storeFor("json", { indent: -2 }).writePlain(tree))).toBe("StoreEmitError")
  })

  it("refuses what sops refuses, with typed errors naming the position", () => {
    for (const bad of [
      "[1]",
      '"x"',
      "",
      "{",
      '{"a" 1}',
      '{"a": 01}',
      '{"a": "\u0001"}',
      '{"a": tru}',
      '{"a": 1e400}',
      "{,}",
    ]) {
      expect(outcome(storeFor("json").readPlain(Buffer.from(bad))), bad).toBe("StoreParseError")
    }
    expect(outcome(storeFor("json").writePlain([branch([{ key: "n", value: float(Number.NaN) }])]))).toBe(
      "StoreEmitError",
    )
  })

  it("ignores what follows the top-level object, like sops' token decoder", () => {
    expect(canon(readPlain("json", '{"a": "b"} trailing'))).toEqual([[["a", "b"]]])
  })

  it("embeds and extracts the metadata", () => {
    const meta = branch([{ key: "version", value: "3.13.3" }])
    const s = storeFor("json")
    const text = '{\n\t"a": "b",\n\t"sops": {\n\t\t"version": "3.13.3"\n\t}\n}\n'
    expect(
      Buffer.from(Effect.runSync(s.writeEncrypted([branch([{ key: "a", value: "b" }])], meta))).toString(),
    ).toBe(text)
    const back = readEncrypted("json", text)
    expect(canon(back.documents)).toEqual([[["a", "b"]]])
    expect(canon(back.metadata)).toEqual([["version", "3.13.3"]])
    expect(outcome(s.readEncrypted(Buffer.from('{"a": 1}')))).toBe("StoreMetadataError")
    expect(outcome(s.readEncrypted(Buffer.from('{"sops": 1}')))).toBe("StoreMetadataError")
    expect(outcome(s.readEncrypted(Buffer.from('{"sops": {}, "sops": {}}')))).toBe("StoreMetadataError")
    expect(outcome(s.writeEncrypted([branch([{ key: "sops", value: "x" }])], meta))).toBe(
      "StoreMetadataError",
    )
  })
})

describe("binary store", () => {
  it("keeps arbitrary bytes as bytes", () => {
    const raw = new Uint8Array([0xff, 0xfe, 0x00, 0x41, 0x0a])
    const docs = readPlain("binary", raw)
    expect(canon(docs)).toEqual([[["data", { bytes: "fffe00410a" }]]])
    expect(Buffer.from(Effect.runSync(storeFor("binary").writePlain(docs)))).toEqual(Buffer.from(raw))
  })

  it("refuses trees without a string data entry", () => {
    expect(outcome(storeFor("binary").writePlain([branch([{ key: "other", value: "x" }])]))).toBe(
      "StoreEmitError",
    )
    expect(outcome(storeFor("binary").writePlain([branch([{ key: "data", value: 1n }])]))).toBe(
      "StoreEmitError",
    )
  })
})
