import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { branch, comment, float, list } from "../tree.ts"
import { storeFor } from "./store.ts"
import { canon, outcome, readEncrypted, readPlain, writePlain } from "./testkit.ts"

const one = (src: string) => canon(readPlain("yaml", src)) as Array<Array<unknown>>
const resolvedValue = (src: string) => ((one(`v: ${src}\n`)[0] as Array<unknown>)[0] as [string, unknown])[1]

describe("YAML scalar resolution (go-yaml v3)", () => {
  it.each([
    ["true", true],
    ["True", true],
    ["FALSE", false],
    ["yes", "yes"],
    ["off", "off"],
    ["y", "y"],
    ["~", null],
    ["null", null],
    ["", null],
    ["12", { int: "12" }],
    ["-0x1F", { int: "-31" }],
    ["0o17", { int: "15" }],
    ["017", { int: "15" }],
    ["0b101", { int: "5" }],
    ["1_000", { int: "1000" }],
    ["9223372036854775807", { int: "9223372036854775807" }],
    ["-9223372036854775808", { int: "-9223372036854775808" }],
    ["99999999999999999999", { float: "100000000000000000000" }],
    ["08", { float: "8" }],
    ["1.5", { float: "1.5" }],
    ["1e3", { float: "1000" }],
    [".5", { float: "0.5" }],
    [".inf", { float: "Infinity" }],
    ["-.Inf", { float: "-Infinity" }],
    [".nan", { float: "NaN" }],
    ["1e400", "1e400"],
    ["0x", "0x"],
    ["1.2.3", "1.2.3"],
    ["'12'", "12"],
    ['"true"', "true"],
    ["!!str 12", "12"],
    ["!!float 1", { float: "1" }],
    ["!!int '7'", { int: "7" }],
    ["!Ref thing", "thing"],
    ["!!binary aGVsbG8=", "hello"],
    ["<<", "<<"],
    [
      "2001-12-14t21:59:43.10-05:00",
      { time: "2001-12-14T21:59:43.1-05:00", ms: Date.UTC(2001, 11, 15, 2, 59, 43, 100) },
    ],
    ["2002-12-14", { time: "2002-12-14T00:00:00Z", ms: Date.UTC(2002, 11, 14) }],
    [
      "2001-12-14 21:59:43.10",
      { time: "2001-12-14T21:59:43.1Z", ms: Date.UTC(2001, 11, 14, 21, 59, 43, 100) },
    ],
    ["2001-2-3T4:05:06Z", { time: "2001-02-03T04:05:06Z", ms: Date.UTC(2001, 1, 3, 4, 5, 6) }],
    ["2001-02-30", "2001-02-30"],
    ["'2001-02-03'", "2001-02-03"],
  ])("%s", (src, expected) => {
    expect(resolvedValue(src)).toEqual(expected)
  })

  it("rejects integers only uint64 can hold (sops cannot walk them)", () => {
    expect(outcome(storeFor("yaml").readPlain(Buffer.from("v: 18446744073709551615\n")))).toBe(
      "StoreParseError",
    )
  })
})

describe("YAML structure", () => {
  it("expands aliases and keeps << as a key", () => {
    expect(one("base: &b\n  x: 1\nother:\n  <<: *b\n  y: [*b]\n")).toEqual([
      [
        ["base", [["x", { int: "1" }]]],
        [
          "other",
          [
            ["<<", [["x", { int: "1" }]]],
            ["y", { list: [[["x", { int: "1" }]]] }],
          ],
        ],
      ],
    ])
  })

  it("reads several documents; an explicit null document is empty, an empty input has none", () => {
    expect(canon(readPlain("yaml", "a: 1\n---\n---\nb: 2\n"))).toEqual([
      [["a", { int: "1" }]],
      [],
      [["b", { int: "2" }]],
    ])
    expect(readPlain("yaml", "")).toEqual([])
  })

  it.each([
    ["a: 1\na: 2\n", "duplicate"],
    ["- a\n", "sequence"],
    ["just text\n", "value"],
    ["1: x\n", "non-string key"],
    ["? [a]\n: x\n", "non-string key"],
    ["a: [\n", "syntax"],
    ["a: *nope\n", "unknown anchor"],
    ["a: !!int x\n", "bad tag"],
  ])("rejects %j (%s) with a typed error naming the line", (src) => {
    const o = outcome(storeFor("yaml").readPlain(Buffer.from(src)))
    expect(o).toBe("StoreParseError")
  })

  it("rejects invalid UTF-8 like go-yaml", () => {
    expect(outcome(storeFor("yaml").readPlain(Uint8Array.from([0x61, 0x3a, 0x20, 0xff, 0x0a])))).toBe(
      "StoreParseError",
    )
  })

  it("errors never contain the values", () => {
    try {
      readPlain("yaml", "top:\n  secret: s3cr3t-value\n  secret: other-s3cr3t\n")
      expect.unreachable()
    } catch (e) {
      expect(String(e)).not.toMatch(/s3cr3t/)
      expect(String(e)).toMatch(/top:secret/)
    }
  })

  it("attaches comments like go-yaml: head, inline (3.13), foot of a block", () => {
    expect(one("# head\na: 1 # inline\nb:\n    c: 2\n    # foot of c\nd: [x]\n")).toEqual([
      [
        { comment: " head", inline: false },
        { comment: " inline", inline: true },
        ["a", { int: "1" }],
        ["b", [["c", { int: "2" }], { comment: " foot of c", inline: false }]],
        ["d", { list: ["x"] }],
      ],
    ])
  })
})

describe("YAML emit (go-yaml v3 encoder, indent 4)", () => {
  const emit = (items: Parameters<typeof branch>[0]) => writePlain("yaml", [branch(items)])

  it("indents mappings, sequences under keys and mappings in sequence items", () => {
    const tree = branch([
      {
        key: "a",
        value: branch([
          {
            key: "b",
            value: list([
              "x",
              branch([
                { key: "k", value: 1n },
                { key: "n", value: branch([{ key: "deep", value: true }]) },
              ]),
            ]),
          },
        ]),
      },
      { key: "empty_map", value: branch([]) },
      { key: "empty_list", value: list([]) },
      { key: "nested", value: list([list(["p", "q"])]) },
    ])
    expect(writePlain("yaml", [tree])).toBe(
      'a:\n    b:\n        - x\n        - k: 1\n          "n":\n            deep: true\nempty_map: {}\nempty_list: []\nnested:\n    - - p\n      - q\n',
    )
  })

  it("quotes strings that would read back as something else, like go-yaml", () => {
    const vals = [
      "true",
      "yes",
      "12",
      "1.5",
      "",
      "~",
      "null",
      "2024-01-01",
      "1:20",
      "<<",
      "- x",
      "a: b",
      "#c",
      "x #y",
      " lead",
      "trail ",
      "tab\there",
      "it's",
      "plain text",
      "x:y",
      "@at",
      "%p",
      "ünïcödé",
      "😀",
      "\u0085",
      'a"b\\c',
    ]
    expect(emit(vals.map((v, i) => ({ key: `k${i}`, value: v })))).toBe(
      [
        'k0: "true"',
        'k1: "yes"',
        'k2: "12"',
        'k3: "1.5"',
        'k4: ""',
        'k5: "~"',
        'k6: "null"',
        'k7: "2024-01-01"',
        'k8: "1:20"',
        "k9: !!merge <<",
        "k10: '- x'",
        "k11: 'a: b'",
        "k12: '#c'",
        "k13: 'x #y'",
        "k14: ' lead'",
        "k15: 'trail '",
        'k16: "tab\\there"',
        "k17: it's",
        "k18: plain text",
        "k19: x:y",
        "k20: '@at'",
        "k21: '%p'",
        "k22: ünïcödé",
        'k23: "\\U0001F600"',
        'k24: "\\N"',
        'k25: a"b\\c',
        "",
      ].join("\n"),
    )
  })

  it("writes numbers, booleans, null, timestamps and bytes", () => {
    expect(
      emit([
        { key: "f1", value: float(1234568000) },
        { key: "f2", value: float(100000) },
        { key: "f3", value: float(0.00001) },
        { key: "f4", value: float(Number.NEGATIVE_INFINITY) },
        { key: "f5", value: float(Number.NaN) },
        { key: "i", value: -(2n ** 63n) },
        { key: "b", value: false },
        { key: "n", value: null },
        { key: "t", value: { _tag: "Timestamp", date: new Date(0), text: "2006-01-02T15:04:05.000+07:00" } },
        { key: "raw", value: new Uint8Array([104, 105]) },
      ]),
    ).toBe(
      'f1: 1.234568e+09\nf2: 100000\nf3: 1e-05\nf4: -.inf\nf5: .nan\ni: -9223372036854775808\nb: false\n"n": null\nt: 2006-01-02T15:04:05+07:00\nraw: !!binary aGk=\n',
    )
  })

  it("writes multi-line strings as literal blocks with the right chomping", () => {
    expect(
      emit([
        { key: "clip", value: "a\nb\n" },
        { key: "strip", value: "a\n\nb" },
        { key: "keep", value: "a\n\n" },
        { key: "lead", value: "  x\ny" },
        { key: "spacebreak", value: "a \nb" },
        { key: "seq", value: list(["l1\nl2\n"]) },
      ]),
    ).toBe(
      'clip: |\n    a\n    b\nstrip: |-\n    a\n\n    b\nkeep: |+\n    a\n\nlead: |4-\n      x\n    y\nspacebreak: "a \\nb"\nseq:\n    - |\n      l1\n      l2\n',
    )
  })

  it("places comments as go-yaml does, with a blank line after a foot comment at the same indentation", () => {
    const tree = branch([
      { key: comment(" head"), value: null },
      { key: comment(" inline", true), value: null },
      { key: "a", value: "1" },
      {
        key: "b",
        value: branch([
          { key: "c", value: "x" },
          { key: comment(" foot"), value: null },
        ]),
      },
      { key: "l", value: list([comment(" before"), "y", comment("ENC[x]")]) },
      { key: "z", value: "end" },
      { key: comment(" last"), value: null },
    ])
    const out = writePlain("yaml", [tree])
    expect(out).toBe(
      '# head\na: "1" # inline\nb:\n    c: x\n    # foot\nl:\n    # before\n    - "y"\n    #ENC[x]\nz: end\n# last\n',
    )
    expect(canon(readPlain("yaml", out))).toEqual(canon([tree]))
  })

  it("appends sops to every document and strips it again", () => {
    const meta = branch([
      { key: "lastmodified", value: "2024-01-01T00:00:00Z" },
      { key: "version", value: "3.13.3" },
    ])
    const docs = [
      branch([
        { key: "a", value: "1" },
        { key: comment(" tail"), value: null },
      ]),
      branch([{ key: "b", value: 2n }]),
    ]
    const bytes = Effect.runSync(storeFor("yaml").writeEncrypted(docs, meta))
    const text = Buffer.from(bytes).toString()
    expect(text).toBe(
      'a: "1"\n# tail\nsops:\n    lastmodified: "2024-01-01T00:00:00Z"\n    version: 3.13.3\n---\nb: 2\nsops:\n    lastmodified: "2024-01-01T00:00:00Z"\n    version: 3.13.3\n',
    )
    const back = readEncrypted("yaml", bytes)
    expect(canon(back.documents)).toEqual(canon(docs))
    expect(canon(back.metadata)).toEqual(canon(meta))
  })

  it("honours the indent option and clamps it like go-yaml", () => {
    const tree = [branch([{ key: "a", value: branch([{ key: "b", value: list(["c"]) }]) }])]
    expect(writePlain("yaml", tree, { indent: 2 })).toBe("a:\n  b:\n    - c\n")
    expect(writePlain("yaml", tree, { indent: 0 })).toBe("a:\n  b:\n    - c\n")
    expect(outcome(storeFor("yaml", { indent: -1 }).writePlain(tree))).toBe("StoreEmitError")
  })

  it("writes empty containers like go-yaml, including their comments (verified against sops)", () => {
    expect(writePlain("yaml", [branch([])])).toBe("{}\n")
    // An empty list's head comment waits for the next head-comment slot: here the end of the mapping.
    expect(
      writePlain("yaml", [
        branch([
          { key: "a", value: list([comment(" only")]) },
          { key: "b", value: 1n },
        ]),
      ]),
    ).toBe("a: []\n# only\nb: 1\n")
    expect(
      writePlain("yaml", [
        branch([{ key: "x", value: branch([{ key: "a", value: list([comment(" only")]) }]) }]),
      ]),
    ).toBe("x:\n    a: []\n    # only\n")
    // An empty mapping's head comment is written inside the braces.
    expect(
      writePlain("yaml", [branch([{ key: "e", value: branch([{ key: comment(" c"), value: null }]) }])]),
    ).toBe("e: {\n    # c\n}\n")
  })

  it("writes a container element's leading comments before its dash", () => {
    const tree = branch([
      {
        key: "l",
        value: list([
          branch([
            { key: comment(" lead"), value: null },
            { key: "k", value: "v" },
          ]),
          list([comment(" in"), "x"]),
        ]),
      },
    ])
    expect(writePlain("yaml", [tree])).toBe("l:\n    # lead\n    - k: v\n    # in\n    - - x\n")
  })

  it("reports sops metadata problems", () => {
    const s = storeFor("yaml")
    expect(outcome(s.readEncrypted(Buffer.from("a: 1\n")))).toBe("StoreMetadataError")
    expect(outcome(s.readEncrypted(Buffer.from("a: 1\nsops: 2\n")))).toBe("StoreMetadataError")
    expect(outcome(s.readEncrypted(Buffer.from("sops:\n  a: 1\nx: 1\nsops:\n  a: 1\n")))).toBe(
      "StoreParseError",
    )
  })
})
