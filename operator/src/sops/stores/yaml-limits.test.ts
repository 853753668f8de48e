/**
 * The YAML store on hostile input: alias bombs stop under go-yaml's alias budget with a typed error, and
 * inputs that used to cost quadratic time (a line/column rescan per node, a document walk per alias, a copy
 * per trailing comment) of a few megabytes parse to the right tree. No timing is asserted: a regression to
 * quadratic time turns these inputs into minutes, far past the test timeout.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { isBranch, isComment, isList } from "../tree.ts"
import { fromSync, type StoreError, syncStoreFor } from "./store.ts"
import { canon } from "./testkit.ts"

// The parser itself, synchronously: what these bounds are about (large reads run on a worker in `storeFor`).
const read = (src: string) =>
  Effect.runSyncExit(fromSync("yaml", syncStoreFor("yaml")).readPlain(Buffer.from(src)))
const failure = (src: string): StoreError => {
  const exit = read(src)
  if (Exit.isSuccess(exit)) return expect.fail("expected a store error")
  const e = Cause.findErrorOption(exit.cause)
  if (e._tag === "None") return expect.fail(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return e.value
}
const parsed = (src: string) => {
  const exit = read(src)
  if (Exit.isFailure(exit)) return expect.fail(Cause.pretty(exit.cause))
  return exit.value
}

/** `levels` anchored flow sequences, each holding `width` aliases of the previous one. */
const flowBomb = (levels: number, width: number, leaf = "lol") => {
  let s = `l0: &l0 [${Array(width).fill(leaf).join(", ")}]\n`
  for (let i = 1; i < levels; i++)
    s += `l${i}: &l${i} [${Array(width)
      .fill(`*l${i - 1}`)
      .join(", ")}]\n`
  return s
}

describe("YAML alias budget (go-yaml's 'excessive aliasing')", () => {
  it("stops a bomb of 8 levels of 10 (10^8 nodes) with a typed error that names no content", () => {
    const e = failure(flowBomb(8, 10, "secret-lol"))
    expect(e._tag).toBe("StoreParseError")
    expect(e.message).toContain("document contains excessive aliasing")
    expect(e.line).toBeGreaterThan(0)
    expect(e.message).not.toContain("secret-lol")
  })

  it("stops the 334-byte bomb of the review (10^6 nodes)", () => {
    const src = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n${flowBomb(7, 9).split("\n").slice(1).join("\n").replaceAll("l0", "a")}`
    expect(src.length).toBeLessThan(400)
    expect(failure(src).message).toContain("document contains excessive aliasing")
  })

  it("stops a block-style bomb and a bomb hidden as a mapping key's value", () => {
    let block = "a0: &a0\n" + Array(10).fill("  - x").join("\n") + "\n"
    for (let i = 1; i < 8; i++)
      block += `a${i}: &a${i}\n${Array(10)
        .fill(`  - *a${i - 1}`)
        .join("\n")}\n`
    expect(failure(block).message).toContain("excessive aliasing")
    const maps = flowBomb(7, 10).replace("[lol, lol", "[{k: v, j: w}, lol")
    expect(failure(`sops:\n    mac: x\n${maps}`).message).toContain("excessive aliasing")
  })

  it("counts over the whole file: many documents of small bombs fail too", () => {
    const docs = Array.from({ length: 200 }, () => flowBomb(4, 10)).join("---\n")
    expect(failure(docs).message).toContain("excessive aliasing")
  })

  it("caps the text aliases copy: a 1 MB anchored scalar or comment aliased 1000 times", () => {
    const big = "x".repeat(1_000_000)
    const aliases = Array.from({ length: 1000 }, () => "- *a").join("\n")
    expect(failure(`a: &a ${big}\nl:\n${aliases}\n`).message).toContain("excessive aliasing")
    expect(failure(`a: &a\n  # ${big}\n  k: v\nl:\n${aliases}\n`).message).toContain("excessive aliasing")
  })

  it("keeps ordinary aliasing: 300 aliases of a 20-key mapping expand", () => {
    const base = Array.from({ length: 20 }, (_, i) => `  k${i}: v${i}`).join("\n")
    const uses = Array.from({ length: 300 }, (_, i) => `u${i}: *base`).join("\n")
    const [doc] = parsed(`base: &base\n${base}\n${uses}\n`)
    expect(doc!.items).toHaveLength(301)
    const last = doc!.items[300]!
    expect(last.key).toBe("u299")
    expect(isBranch(last.value) && last.value.items.length).toBe(20)
  })

  it("still refuses a recursive alias and an unknown anchor", () => {
    expect(failure("a: &a\n  b: *a\n").message).toContain("recursive alias")
    expect(failure("a: *nope\n").message).toContain("unknown anchor")
  })

  it("refuses nesting deeper than the stack with a typed error, not a crash", () => {
    const deep = `a: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`
    expect(failure(deep)._tag).toBe("StoreParseError")
    const block = `${Array.from({ length: 3000 }, (_, i) => `${" ".repeat(i)}k:`).join("\n")} x\n`
    expect(failure(block)._tag).toBe("StoreParseError")
  })
})

describe("YAML parsing stays linear on inputs of a few MB", () => {
  it("3 MB of short lines with flow collections (a line/column per node)", () => {
    const n = 250_000
    const src = Array.from({ length: n }, (_, i) => `k${i}: [${i}]`).join("\n")
    expect(src.length).toBeGreaterThan(3_000_000)
    const [doc] = parsed(src)
    expect(doc!.items).toHaveLength(n)
    expect(canon(doc!.items[n - 1]!.value)).toEqual({ list: [{ int: String(n - 1) }] })
  })

  it("100k aliases of one anchor (a document walk per alias)", () => {
    const src = `a: &a x\nl:\n${Array.from({ length: 100_000 }, () => "- *a").join("\n")}\n`
    const [doc] = parsed(src)
    const l = doc!.items[1]!.value
    expect(isList(l) && l.items.length).toBe(100_000)
    expect(isList(l) && l.items[99_999]).toBe("x")
  })

  it("50k keys then 50k comment lines at the end of the document (a copy per comment)", () => {
    const keys = Array.from({ length: 50_000 }, (_, i) => `k${i}: v`).join("\n")
    const comments = Array.from({ length: 50_000 }, (_, i) => `# c${i}`).join("\n")
    const [doc] = parsed(`${keys}\n${comments}\n`)
    expect(doc!.items).toHaveLength(100_000)
    const last = doc!.items[99_999]!.key
    expect(isComment(last) && last.value).toBe(" c49999")
  })

  it("comments at the end of nested blocks, placed by indentation", () => {
    const depth = 200
    const nest = Array.from({ length: depth }, (_, i) => `${" ".repeat(i * 2)}k${i}:`).join("\n")
    const comments = Array.from({ length: 40_000 }, (_, i) => `${" ".repeat((i % depth) * 2)}# c${i}`)
    const [doc] = parsed(`${nest} x\n${comments.join("\n")}\n`)
    // The root keeps k0 and the comments at column 1 (every 200th); the rest sit deeper.
    expect(doc!.items).toHaveLength(1 + 40_000 / depth)
  })

  it("a 2 MB integer literal resolves like a short out-of-range one (no bigint of it)", () => {
    const digits = `1${"2".repeat(2_000_000)}`
    const [doc] = parsed(`big: ${digits}\nneg: -${digits}\nzeros: 0x${"0".repeat(1_000_000)}1F\n`)
    expect(canon(doc!)).toEqual([
      ["big", digits],
      ["neg", `-${digits}`],
      ["zeros", { int: "31" }],
    ])
    expect(failure(`big: !!int ${digits}\n`).message).toContain("cannot decode the scalar as !!int")
  })

  it("1.5 MB of a flow sequence with comments inside and after its items", () => {
    const items = Array.from({ length: 50_000 }, (_, i) => `  # c${i}\n  [x${i}], # t${i}`).join("\n")
    const [doc] = parsed(`a: [\n${items}\n]\n`)
    const a = doc!.items.find((i) => i.key === "a")!.value
    expect(isList(a) && a.items.filter((e) => !isComment(e)).length).toBe(50_000)
  })
})
