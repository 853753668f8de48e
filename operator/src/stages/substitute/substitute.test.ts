// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Flux variable syntax (${var}) is what these tests are about
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import type { KubeObject } from "../../kube/object.ts"
import { substituteObject } from "./substitute.ts"

const configMap = (data: Record<string, string>, annotations?: Record<string, string>): KubeObject =>
  ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "app", namespace: "team-a", ...(annotations ? { annotations } : {}) },
    data,
  }) as KubeObject

const vars = new Map([
  ["replicas", "3"],
  ["password", "hunter2-secret"],
])

describe("substituteObject", () => {
  it("substitutes, reads numbers back and collapses $$ even where no ${ occurs, as Flux does", () =>
    Effect.gen(function* () {
      const out = yield* substituteObject(configMap({ a: "${replicas}", b: "cost $$5" }), vars, false)
      expect((out as unknown as { data: unknown }).data).toEqual({ a: 3, b: "cost $5" })
    }).pipe(Effect.runSync))

  it("leaves objects annotated substitute: disabled untouched", () =>
    Effect.gen(function* () {
      const o = configMap({ a: "${replicas} $$" }, { "kustomize.toolkit.fluxcd.io/substitute": "disabled" })
      expect(yield* substituteObject(o, vars, true)).toBe(o)
    }).pipe(Effect.runSync))

  it("names the object and the variable in errors, never a value", () => {
    const exit = Effect.runSyncExit(
      substituteObject(configMap({ a: "${password}", b: "${password/x}", c: "${nope}" }), vars, true),
    )
    expect(Exit.isFailure(exit)).toBe(true)
    const e = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
    const message = Option.isSome(e) ? e.value.message : ""
    expect(message).toMatch(
      /^var substitution failed for 'ConfigMap\/team-a\/app': bad substitution in the expression of 'password' at line \d+$/,
    )
    expect(message).not.toContain("hunter2")
    const strict = Effect.runSyncExit(
      substituteObject(configMap({ a: "${password}", c: "${nope}" }), vars, true),
    )
    expect(String(strict)).toContain("variable not set (strict mode): 'nope'")
    expect(String(strict)).not.toContain("hunter2")
  })
})
