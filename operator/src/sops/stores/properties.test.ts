import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { type Branch, branch, comment, float, type Item, list, type Value } from "../tree.ts"
import { formatFloatG, formatFloatJson } from "./gofmt.ts"
import { type Format, storeFor } from "./store.ts"
import { canon, outcome } from "./testkit.ts"

const roundTrip = (format: Format, docs: ReadonlyArray<Branch>) => {
  const store = storeFor(format)
  const bytes = Effect.runSync(store.writePlain(docs))
  return Effect.runSync(store.readPlain(bytes))
}

const tricky = fc.constantFrom(
  "true",
  "False",
  "null",
  "~",
  "",
  "1.5",
  "0x1F",
  "017",
  "1_000",
  "yes",
  "n",
  "<<",
  "- a",
  "a: b",
  "#x",
  "x #y",
  " lead",
  "trail ",
  "a\nb",
  "a\n",
  "a\n\n",
  "\n",
  " \nx",
  "\tx",
  "é",
  "😀",
  "\u0085",
  "\u2028",
  "\u00a0",
  "a\"b'c",
  "2024-01-01",
  "2024-01-01T00:00:00Z",
  "1:30",
  ".inf",
  "-.nan",
  "@x",
  "`x",
  "%x",
  "!x",
  "&x",
  "*x",
  "|",
  ">",
  "? x",
  "---",
  "...",
  "x\r\ny",
  "\u0000",
  "\u007f",
  "\ufeff",
  "[a]",
  "{a}",
  "a,b",
)
const text = fc.oneof(fc.string({ unit: "grapheme", maxLength: 12 }), tricky)
const int64 = fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n)

/** Floats that read back as floats (Go %g / JSON text with a '.', an exponent, or a YAML special value). */
const yamlFloat = fc
  .double()
  .filter((f) => !Object.is(f, -0) && /[.e]|Inf|NaN/.test(formatFloatG(f)))
  .map(float)
const jsonFloat = fc
  .double({ noNaN: true, noDefaultInfinity: true })
  .filter((f) => /[.e]/.test(formatFloatJson(f)))
  .map(float)

const uniqueKeys = <T>(arb: fc.Arbitrary<T>, key: fc.Arbitrary<string>) =>
  fc.uniqueArray(fc.tuple(key, arb), { selector: ([k]) => k, maxLength: 5 })

const yamlTree = fc.letrec<{ value: Value; branch: Branch; list: Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    text,
    int64,
    yamlFloat,
    fc.boolean(),
    fc.constant(null),
    tie("branch"),
    tie("list"),
  ),
  branch: uniqueKeys(tie("value"), text).map((kvs) => branch(kvs.map(([key, value]) => ({ key, value })))),
  list: fc.array(tie("value"), { maxLength: 4 }).map((xs) => list(xs)),
}))

const jsonTree = fc.letrec<{ value: Value; branch: Branch; list: Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.string({ unit: "grapheme", maxLength: 12 }),
    tricky,
    int64,
    jsonFloat,
    fc.boolean(),
    fc.constant(null),
    tie("branch"),
    tie("list"),
  ),
  // JSON keeps duplicate keys.
  branch: fc
    .array(fc.tuple(text, tie("value")), { maxLength: 5 })
    .map((kvs) => branch(kvs.map(([key, value]) => ({ key, value })))),
  list: fc.array(tie("value"), { maxLength: 4 }).map((xs) => list(xs)),
}))

describe("random trees round-trip through writePlain → readPlain", () => {
  it("YAML (several documents, go-yaml resolution and quoting)", () => {
    fc.assert(
      fc.property(fc.array(yamlTree.branch, { minLength: 1, maxLength: 3 }), (docs) => {
        expect(canon(roundTrip("yaml", docs))).toEqual(canon(docs))
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    )
  })

  it("YAML with head comments above keys and list elements", () => {
    const commentText = fc
      .string({ unit: "grapheme-ascii", minLength: 1, maxLength: 10 })
      .filter((s) => !s.includes("\n"))
    const withComments = yamlTree.branch.chain((b) =>
      fc
        .array(fc.option(commentText, { nil: undefined }), {
          minLength: b.items.length,
          maxLength: b.items.length,
        })
        .map((cs) =>
          branch(
            b.items.flatMap(
              (it, i): Array<Item> =>
                cs[i] === undefined ? [it] : [{ key: comment(cs[i]!), value: null }, it],
            ),
          ),
        ),
    )
    fc.assert(
      fc.property(withComments, (doc) => {
        expect(canon(roundTrip("yaml", [doc]))).toEqual(canon([doc]))
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 200) },
    )
  })

  it("JSON (duplicate keys, int64, floats)", () => {
    fc.assert(
      fc.property(jsonTree.branch, (doc) => {
        expect(canon(roundTrip("json", [doc]))).toEqual(canon([doc]))
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    )
  })

  it("dotenv (flat string values, comments)", () => {
    const key = fc
      .string({ unit: "grapheme", maxLength: 8 })
      .filter((k) => !k.includes("=") && !k.includes("\n") && !k.startsWith("#") && !k.endsWith("\\"))
    const value = fc
      .string({ unit: "grapheme", maxLength: 12 })
      .filter((v) => !v.includes("\\n") && !v.endsWith("\\"))
    const item: fc.Arbitrary<Item> = fc.oneof(
      fc.tuple(key, value).map(([k, v]) => ({ key: k, value: v })),
      fc
        .string({ unit: "grapheme", maxLength: 8 })
        .filter((c) => !c.includes("\n"))
        .map((c) => ({ key: comment(c), value: null })),
    )
    fc.assert(
      fc.property(fc.array(item, { maxLength: 6 }), (items) => {
        const doc = branch(
          items.filter((i) => !(typeof i.key === "string" && i.key === "" && i.value === "")),
        )
        expect(canon(roundTrip("dotenv", [doc]))).toEqual(canon([doc]))
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    )
  })

  it("INI (sections, values that need quoting, key comments)", () => {
    const name = fc
      .stringMatching(/^[A-Za-z][A-Za-z0-9 _.-]{0,8}$/)
      .map((s) => s.trim())
      .filter((s) => s !== "sops" && s !== "DEFAULT")
    const key = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,8}$/)
    const value = fc.stringMatching(/^[A-Za-z0-9 #;.,_/-]{0,12}$/)
    const note = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 ]{0,8}$/).map((s) => s.trim())
    const section = fc
      .tuple(
        fc.option(note, { nil: undefined }),
        fc.uniqueArray(fc.tuple(key, value, fc.option(note, { nil: undefined })), {
          selector: ([k]) => k,
          maxLength: 4,
        }),
      )
      .map(([head, kvs]) =>
        branch([
          ...(head === undefined ? [] : [{ key: comment(head), value: null }]),
          ...kvs.flatMap(
            ([k, v, c]): Array<Item> => [
              { key: k, value: v },
              ...(c === undefined ? [] : [{ key: comment(c), value: null }]),
            ],
          ),
        ]),
      )
    const file = fc
      .tuple(
        fc.array(fc.tuple(key, value), { maxLength: 3 }),
        fc.array(fc.tuple(name, section), { maxLength: 3 }),
      )
      .map(([defaults, sections]) => {
        const seen = new Set<string>()
        const dflt = branch(
          defaults
            .filter(([k]) => !seen.has(k) && seen.add(k) !== undefined)
            .map(([k, v]) => ({ key: k, value: v })),
        )
        return branch([{ key: "DEFAULT", value: dflt }, ...sections.map(([n, s]) => ({ key: n, value: s }))])
      })
    fc.assert(
      fc.property(file, (doc) => {
        // ini.v1 trims values; a value of spaces only is written quoted and read back as is.
        expect(canon(roundTrip("ini", [doc]))).toEqual(canon([doc]))
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    )
  })

  it("binary (any bytes)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const store = storeFor("binary")
        const out = Effect.runSync(store.writePlain(Effect.runSync(store.readPlain(bytes))))
        expect(Buffer.from(out)).toEqual(Buffer.from(bytes))
      }),
    )
  })
})

describe("random and mutated inputs never crash a store", () => {
  it("arbitrary text only ever yields a tree or a typed StoreError", () => {
    const junk = fc.oneof(
      fc.string({ unit: "grapheme", maxLength: 80 }),
      fc
        .array(
          fc.constantFrom(
            "a",
            ":",
            " ",
            "\n",
            "-",
            "#",
            "[",
            "]",
            "{",
            "}",
            "=",
            ";",
            "`",
            '"',
            "'",
            "&x",
            "*x",
            "!!int",
            "sops",
            "\t",
            "|",
            "\\",
            "---",
            "0x",
          ),
          { maxLength: 60 },
        )
        .map((xs) => xs.join("")),
    )
    fc.assert(
      fc.property(junk, fc.constantFrom<Format>("yaml", "json", "dotenv", "ini", "binary"), (src, format) => {
        const store = storeFor(format)
        const bytes = Buffer.from(src)
        expect(outcome(store.readPlain(bytes))).not.toBe("defect")
        expect(outcome(store.readEncrypted(bytes))).not.toBe("defect")
      }),
      { numRuns: 1000 },
    )
  })
})
