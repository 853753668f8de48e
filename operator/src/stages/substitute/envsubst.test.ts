// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Flux variable syntax (${var}) is what these tests are about
// biome-ignore-all lint/suspicious/noExplicitAny: assertions reach into built objects of open shape
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { envsubst } from "./envsubst.ts"

const vars = new Map([
  ["cluster", "prod"],
  ["empty", ""],
  ["region", "eu-1"],
])
const run = (text: string, strict = false) => Effect.runSync(envsubst(text, vars, strict))

describe("envsubst", () => {
  it("substitutes ${var} and leaves $var alone", () => {
    expect(run("name: app-${cluster}\ncmd: echo $cluster $HOME")).toBe(
      "name: app-prod\ncmd: echo $cluster $HOME",
    )
  })

  it("applies := and :- defaults when unset or empty, = and - only when unset", () => {
    expect(run("${missing:=a} ${empty:=b} ${cluster:=c}")).toBe("a b prod")
    expect(run("${missing:-a} ${empty:-b}")).toBe("a b")
    expect(run("${missing=a}|${empty=b}|${missing-c}|${empty-d}")).toBe("a||c|")
  })

  it("expands references inside defaults", () => {
    expect(run("${missing:=${region}-x}")).toBe("eu-1-x")
  })

  it("keeps $${var} as a literal ${var}", () => {
    expect(run("echo $${cluster} ${cluster}")).toBe("echo ${cluster} prod")
  })

  it("leaves unsupported expressions as written", () => {
    expect(run("${a.b} ${#cluster}")).toBe("${a.b} ${#cluster}")
  })

  it("fails in strict mode on a variable without value or default, naming only the variable", () => {
    const exit = Effect.runSyncExit(envsubst("x: ${nope}", vars, true))
    expect(Exit.isFailure(exit)).toBe(true)
    expect(String(exit)).toContain("variable not set (strict mode): 'nope'")
    expect(run("x: ${nope}")).toBe("x: ")
    expect(run("x: ${nope:=d}", true)).toBe("x: d")
  })
})
