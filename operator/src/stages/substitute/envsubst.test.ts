// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Flux variable syntax (${var}) is what these tests are about
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import { envsubst, SubstitutionSyntaxError, SubstitutionTooLarge, VariableNotSet } from "./envsubst.ts"

const vars = new Map([
  ["cluster", "prod"],
  ["empty", ""],
  ["region", "eu-1"],
])
const run = (text: string, strict = false, v: ReadonlyMap<string, string> = vars, max?: number) =>
  Effect.runSync(envsubst(text, v, strict, max))
const failure = (text: string, strict = false, v: ReadonlyMap<string, string> = vars, max?: number) => {
  const exit = Effect.runSyncExit(envsubst(text, v, strict, max))
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${JSON.stringify(exit.value)}`)
  const e = Cause.findErrorOption(exit.cause)
  if (Option.isNone(e)) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return e.value
}

describe("envsubst", () => {
  it("substitutes ${var} and leaves $var alone", () => {
    expect(run("name: app-${cluster}\ncmd: echo $cluster $HOME")).toBe(
      "name: app-prod\ncmd: echo $cluster $HOME",
    )
  })

  it("applies defaults when unset or empty (Flux's rule for :=, :-, =)", () => {
    expect(run("${missing:=a} ${empty:=b} ${cluster:=c}")).toBe("a b prod")
    expect(run("${missing:-a} ${empty:-b}")).toBe("a b")
    expect(run("${missing=a}|${empty=b}")).toBe("a|b")
    // Flux parses :? and :+ and treats them as defaults too.
    expect(run("${missing:?a}|${cluster:+b}|${empty:+c}")).toBe("a|prod|c")
  })

  it("expands references inside defaults, to any depth within the cap", () => {
    expect(run("${missing:=${region}-x}")).toBe("eu-1-x")
    expect(run("something ${var=${region}}")).toBe("something eu-1")
    expect(run("foo: ${var=prefix${region}-suffix}")).toBe("foo: prefixeu-1-suffix")
    expect(run("${var=${region^^}}")).toBe("EU-1")
    const deep = `${"${a:=".repeat(90)}leaf${"}".repeat(90)}`
    expect(run(deep)).toBe("leaf")
    expect(run(deep, false, new Map([["a", "set"]]))).toBe("set")
  })

  it("keeps $$ as an escape for $", () => {
    expect(run("echo $${cluster} ${cluster}")).toBe("echo ${cluster} prod")
    expect(run("price: $$5 and $$$${cluster} and $$$")).toBe("price: $5 and $${cluster} and $$")
    expect(run("something $${var=${region}}")).toBe("something ${var=eu-1}")
    expect(run("some text ${cluster}$${var$${cluster}$cluster${cluster}")).toBe(
      "some text prod${var${cluster}$clusterprod",
    )
    // Backslashes outside an expression are text.
    expect(run("\\\\something ${var=${region}}")).toBe("\\\\something eu-1")
  })

  it("implements length, case, substring and replacement as Flux does", () => {
    const v = new Map([
      ["var01", "abcdEFGH28ij"],
      ["up", "ABCDEFGH28IJ"],
      ["path_name", "/home/bozo/ideas/thoughts.for.today"],
      ["stringZ", "abcABC123ABCabc"],
      ["slashy", "foo/bar/baz"],
      ["dotted", "foo.bar"],
      ["filename", "bash.string.txt"],
      ["p", "/path/to/file"],
      ["uni", "héllo"],
      ["neg", "-5"],
      ...vars,
    ])
    const table: Array<[string, string]> = [
      ["${#var01}", "12"],
      ["${#uni}", "6"],
      ["${var01^}", "AbcdEFGH28ij"],
      ["${var01^^}", "ABCDEFGH28IJ"],
      ["${up,}", "aBCDEFGH28IJ"],
      ["${up,,}", "abcdefgh28ij"],
      ["${var01^,}", "abcdEFGH28ij"],
      ["${path_name:11}", "ideas/thoughts.for.today"],
      ["${path_name:11:5}", "ideas"],
      ["${path_name:-5}", "/home/bozo/ideas/thoughts.for.today"],
      ["${path_name:${neg}}", "today"],
      ["${path_name:${neg}:2}", "to"],
      ["${path_name: -5}", "/home/bozo/ideas/thoughts.for.today"],
      ["${path_name:100}", ""],
      ["${path_name:x}", "/home/bozo/ideas/thoughts.for.today"],
      ["${path_name:1::4}", "home"],
      ["${path_name:${region:3}}", "home/bozo/ideas/thoughts.for.today"],
      ["${stringZ/%abc/XYZ}", "abcABC123ABCXYZ"],
      ["${stringZ/#abc/XYZ}", "XYZABC123ABCabc"],
      ["${stringZ/#ABC/XYZ}", "abcABC123ABCabc"],
      ["${stringZ/#abc/}", "abcABC123ABCabc"],
      ["${stringZ//abc/xyz}", "xyzABC123ABCxyz"],
      ["${stringZ/abc/xyz}", "xyzABC123ABCabc"],
      ["${stringZ//abc/$&}", "$&ABC123ABC$&"],
      ["${slashy/\\//-}", "foo-bar/baz"],
      ["${slashy//\\//-}", "foo-bar-baz"],
      ["${slashy//\\///}", "foobarbaz"],
      ["${dotted/./}", "foobar"],
      ["${dotted//o/}", "f.bar"],
      ["${dotted//${empty}/-}", "-f-o-o-.-b-a-r-"],
      ["${stringZ//${cluster}/x}", "abcABC123ABCabc"],
      ["${filename#*.}", "string.txt"],
      ["${filename##*.}", "txt"],
      ["${filename%.*}", "bash.string"],
      ["${filename%%.*}", "bash"],
      ["${p#*/}", "path/to/file"],
      ["${p##*/}", "file"],
      ["${filename#[a-c]?s}", "h.string.txt"],
      ["${filename#[^a]}", "ash.string.txt"],
      ["${filename#[abc}", "bash.string.txt"],
      ["${filename#nomatch}", "bash.string.txt"],
      ["${uni^^}", "HÉLLO"],
    ]
    const got = table.map(([input]) => [input, run(input, false, v)])
    expect(got).toEqual(table)
  })

  it("fails on malformed expressions with Flux's reason and the line, never the text", () => {
    const cases: Array<[string, string]> = [
      ["a: 1\nb: ${a.b}", "missing closing brace in the expression of 'a' at line 2"],
      ["${cluster", "missing closing brace in the expression of 'cluster' at line 1"],
      // The shell's `${var-default}` is not Flux's syntax.
      ["x: ${cluster-default}", "missing closing brace in the expression of 'cluster' at line 1"],
      ["${}", "unable to parse variable name at line 1"],
      ["${#}", "bad substitution at line 1"],
      ["${#cluster:1}", "bad substitution in the expression of 'cluster' at line 1"],
      ["${a:=x", "unable to parse substitution within function in the expression of 'a' at line 1"],
      ["${a:}", "unable to parse substitution within function in the expression of 'a' at line 1"],
      ["${a/x}", "bad substitution in the expression of 'a' at line 1"],
      ["${a^^^}", "bad substitution in the expression of 'a' at line 1"],
      ["${a:1:-2}", "negative substring length in the expression of 'a'"],
    ]
    const v = new Map([["a", "s3cr3t-value"]])
    for (const [text, message] of cases) {
      const e = failure(text, false, v)
      expect(e).toBeInstanceOf(SubstitutionSyntaxError)
      expect(e.message).toBe(message)
    }
  })

  it("fails in strict mode on a variable without value or default, naming only the variable", () => {
    const e = failure("x: ${nope}", true)
    expect(e).toBeInstanceOf(VariableNotSet)
    expect(e.message).toBe("variable not set (strict mode): 'nope'")
    expect(run("x: ${nope}")).toBe("x: ")
    expect(run("x: ${nope:=d}", true)).toBe("x: d")
    expect(run("x: ${nope=d}|${nope:-f}", true)).toBe("x: d|f")
    for (const op of [
      "#nope",
      "nope^",
      "nope,,",
      "nope:0",
      "nope:0:1",
      "nope/a/b",
      "nope//a/",
      "nope#a",
      "nope%%a",
    ])
      expect(failure(`\${${op}}`, true)).toEqual(new VariableNotSet({ variable: "nope" }))
    // Defaults are evaluated eagerly, as Flux does: an unset variable inside one fails even when unused.
    expect(failure("${cluster:=${nope}}", true)).toEqual(new VariableNotSet({ variable: "nope" }))
  })

  it("stays linear on a megabyte of hostile text", () => {
    const MiB = 1024 * 1024
    // A megabyte of `${`: the first one has no name.
    expect(failure("${".repeat(MiB / 2)).message).toBe("unable to parse variable name at line 1")
    // A megabyte of `$`: every pair is an escape.
    expect(run("$".repeat(MiB))).toBe("$".repeat(MiB / 2))
    expect(run(`${"$".repeat(MiB - 1)}x`)).toBe(`${"$".repeat(MiB / 2 - 1)}$x`)
    // Unclosed defaults nested a megabyte deep stop at the nesting cap, not the stack.
    expect(failure("${a:=".repeat(MiB / 5)).message).toBe("expressions nested deeper than 100 at line 1")
    // A megabyte of unclosed `${a`: the first one fails, found in one pass (no rescan per `${`).
    expect(failure(`x: 1\ny: ${"${a".repeat(MiB / 3)}`).message).toBe(
      "missing closing brace in the expression of 'a' at line 2",
    )
    // A default a megabyte long.
    expect(run(`\${nope:=${"x".repeat(MiB)}}`)).toBe("x".repeat(MiB))
    // Many closed expressions and escapes in one text.
    const many = "${cluster}$$ ".repeat(MiB / 13)
    expect(run(many)).toBe("prod$ ".repeat(MiB / 13))
    // Globs against long values: one pass per value.
    const long = new Map([["v", `${"a".repeat(200_000)}b`]])
    expect(run("${v##*a}", false, long)).toBe("b")
    expect(run("${v#*c}", false, long)).toBe(long.get("v"))
  })

  it("bounds what nested replacements can produce", () => {
    const v = new Map([["a", "xxxxxxxxxx"]])
    // Each level multiplies the length by ten.
    const bomb = "${a//x/".repeat(12) + "${a}" + "}".repeat(12)
    const e = failure(bomb, false, v, 1024 * 1024)
    expect(e).toBeInstanceOf(SubstitutionTooLarge)
    expect(e.message).toBe("substitution produces more than 1 MiB (raise it with --max-substituted-size)")
    expect(run("${a//x/${a//x/${a}}}", false, v)).toBe("x".repeat(1000))
  })
})
