import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { compile, firstTrue, maxExpressionLength } from "./cel.ts"
import { evaluateFirstTrue, evaluationTimeoutMs } from "./cel-evaluation.ts"
import { compileHealthExpressions } from "./health-expressions.ts"

const deployment = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: "apps", generation: 3, labels: { tier: "front" } },
  spec: { replicas: 2 },
  status: {
    observedGeneration: 3,
    replicas: 2,
    readyReplicas: 2,
    conditions: [
      { type: "Available", status: "True", reason: "MinimumReplicasAvailable" },
      { type: "Ready", status: "True", observedGeneration: 3 },
    ],
  },
}

describe("Flux's CEL environment", () => {
  it("evaluates what Flux's health expressions use: macros, has, optional fields, string extensions, ints", () => {
    const cases: ReadonlyArray<readonly [string, boolean]> = [
      [
        "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True' && e.observedGeneration == metadata.generation)",
        true,
      ],
      ["has(status.conditions) && status.conditions.exists(e, e.type == 'Stalled')", false],
      ["status.conditions.map(e, e.type).size() == 2", true],
      ["status.conditions.exists_one(e, e.type == 'Available')", true],
      // JSON integers are CEL ints, as in Go's unstructured objects.
      ["status.readyReplicas + 1 == spec.replicas + 1", true],
      ["status.readyReplicas >= 1.5", true],
      ["status.?paused.orValue(false) == false", true],
      ["metadata.?labels[?'tier'].orValue('none') == 'front'", true],
      ["metadata.name.upperAscii().startsWith('WE') && 'a,b'.split(',').size() == 2", true],
      ["metadata.name.charAt(1) == 'e' && metadata.name.replace('w', 'v') == 'veb'", true],
      ["metadata.name.reverse() == 'bew'", true],
      ["metadata.name.matches('^w[a-z]+$')", true],
    ]
    for (const [expression, want] of cases) {
      expect(compile("health", expression).ok, expression).toBe(true)
      expect(firstTrue("health", [expression], deployment), expression).toBe(want ? 0 : -1)
    }
  })

  it("ext.Sets and ext.Encoders as cel-go documents them", () => {
    const run = (expression: string, variables: Record<string, unknown> = {}) => {
      const c = compile("health", expression)
      if (!c.ok) throw new Error(c.error)
      return c.run(variables)
    }
    for (const [expression, expected] of [
      ["sets.contains([], [])", true],
      ["sets.contains([], [1])", false],
      ["sets.contains([1, 2, 3, 4], [2, 3])", true],
      ["sets.contains([1.0, 2.0], [2.0])", true],
      ["sets.equivalent([], [])", true],
      ["sets.equivalent([1], [1, 1])", true],
      ["sets.equivalent([1, 2, 3], [3, 2, 1])", true],
      ["sets.equivalent([1, 2], [1])", false],
      ["sets.intersects([1], [])", false],
      ["sets.intersects([1], [1, 2])", true],
      ["sets.intersects([[1], [2, 3]], [[1, 2], [2, 3]])", true],
      ["base64.encode(b'hello')", "aGVsbG8="],
      ["base64.decode('aGVsbG8=') == b'hello'", true],
      ["base64.decode('aGVsbG8') == b'hello'", true],
    ] as const)
      expect(run(expression), expression).toEqual(expected)
    // Over an object's fields, as a health expression uses them: JSON integers are ints, compared with doubles too.
    expect(
      run("sets.contains(status.conditions.map(c, c.type), ['Ready', 'Available'])", {
        status: deployment.status,
      }),
    ).toBe(true)
    expect(() => run("base64.decode('not base64!')")).toThrow()
  })

  it("returns the first true expression, in order", () => {
    expect(firstTrue("health", ["false", "status.replicas == 2", "true"], deployment)).toBe(1)
    expect(firstTrue("health", ["false", "false"], deployment)).toBe(-1)
  })

  it("errors name the expression: a missing field, a result that is not a boolean", () => {
    expect(() => firstTrue("health", ["status.missing == 1"], deployment)).toThrow(
      /^failed to evaluate the CEL expression 'status.missing == 1': .*missing/,
    )
    expect(() => firstTrue("health", ["status.replicas"], deployment)).toThrow(
      "failed to evaluate CEL expression as boolean: 'status.replicas'",
    )
  })

  it("refuses what does not compile, in one line, with Flux's wording", () => {
    const bad = compile("health", "status.conditions.all(e, e.status == 'True'")
    expect(bad.ok).toBe(false)
    if (!bad.ok) {
      expect(bad.error).toMatch(
        /^failed to parse the CEL expression 'status.conditions.all\(e, e.status == 'True'': /,
      )
      expect(bad.error).not.toContain("\n")
    }
    // Functions of Flux's environment that cel-js lacks are refused, never evaluated differently.
    expect(compile("health", "'%s'.format(['a'])").ok).toBe(false)
    expect(compile("health", `${"a || ".repeat(maxExpressionLength / 5)}true`).ok).toBe(false)
  })

  it("readyExpr: self and dep only, and it must be a bool", () => {
    expect(
      compile("ready", "dep.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')").ok,
    ).toBe(true)
    const notBool = compile("ready", "dep.metadata.name")
    expect(notBool.ok).toBe(false)
    if (!notBool.ok) expect(notBool.error).toBe("CEL expression output type mismatch: expected bool, got dyn")
    const unknown = compile("ready", "other.ready == true")
    expect(unknown.ok).toBe(false)
    if (!unknown.ok) expect(unknown.error).toContain("other")
    expect(
      firstTrue("ready", ["self.metadata.name != dep.metadata.name"], {
        self: { metadata: { name: "app" } },
        dep: { metadata: { name: "base" } },
      }),
    ).toBe(0)
  })

  it("compiles healthCheckExprs naming the field of an error, and matches kind before group", () => {
    const bad = compileHealthExpressions([
      { apiVersion: "apps/v1", kind: "Deployment", current: "true" },
      { apiVersion: "example.com/v1", current: "true", failed: "status.(" },
    ])
    expect(bad).toMatchObject({ ok: false, field: "spec.healthCheckExprs[1].failed" })
    const duplicate = compileHealthExpressions([
      { apiVersion: "example.com/v1", current: "true" },
      { apiVersion: "example.com/v2", current: "false" },
    ])
    expect(duplicate).toMatchObject({ ok: false, field: "spec.healthCheckExprs[1]" })
    const good = compileHealthExpressions([
      { apiVersion: "example.com/v1", current: "true" },
      { apiVersion: "example.com/v1", kind: "Widget", current: "false" },
    ])
    expect(good.ok).toBe(true)
    if (good.ok) {
      expect(good.reader?.supports("example.com", "Gadget")).toBe(true)
      expect(good.reader?.supports("apps", "Deployment")).toBe(false)
    }
  })

  // Live clock: the deadline is real time.
  it.live(
    "a runaway evaluation ends at its deadline on a worker, and the event loop keeps running meanwhile",
    () =>
      Effect.gen(function* () {
        // 3,000 entries nested three deep: 2.7·10^10 steps, hours of work for any evaluator.
        const hostile = { status: { items: Array.from({ length: 3_000 }, (_, i) => i) } }
        const expression = "status.items.all(a, status.items.all(b, status.items.all(c, a + b + c >= 0)))"
        expect(compile("health", expression).ok).toBe(true)
        let ticks = 0
        const timer = setInterval(() => ticks++, 50)
        const started = Date.now()
        const failed = yield* Effect.flip(evaluateFirstTrue("health", [expression], hostile)).pipe(
          Effect.ensuring(Effect.sync(() => clearInterval(timer))),
        )
        const took = Date.now() - started
        expect(failed.message).toBe(`the CEL evaluation did not finish within ${evaluationTimeoutMs / 1000}s`)
        expect(took).toBeLessThan(evaluationTimeoutMs + 1_500)
        // The main thread was free: a 50 ms timer ran most of its ticks over the two seconds.
        expect(ticks).toBeGreaterThan(evaluationTimeoutMs / 50 / 2)
        // The pool goes on with a fresh worker.
        expect(yield* evaluateFirstTrue("health", ["status.items.size() == 3000"], hostile)).toBe(0)
      }),
    20_000,
  )
})

describe("CEL evaluation errors never quote the evaluated objects' values", () => {
  const token = "c2VydmljZS1hY2NvdW50LXRva2Vu" // a Secret's data value, as the API server returns it
  const dep = { status: { token, byName: { other: 1 }, lastAppliedRevision: "main@sha1:abc" } }
  const messageOf = (kind: "health" | "ready", expression: string, variables: Record<string, unknown>) => {
    try {
      firstTrue(kind, [expression], variables)
    } catch (e) {
      return (e as Error).message
    }
    throw new Error(`'${expression}' did not fail`)
  }

  it("a readyExpr error about the dependency's value names the expression and the error, not the value", () => {
    for (const expression of [
      "dep.status.byName[dep.status.token] == 1",
      "duration(dep.status.token) > duration('1s')",
      "dep.status.token.matches('(') || dep.status.lastAppliedRevision.matches(dep.status.token + '(')",
    ]) {
      const message = messageOf("ready", expression, { self: {}, dep })
      expect(message).toContain(`failed to evaluate the CEL expression '${expression}'`)
      expect(message).not.toContain(token)
    }
  })

  it("a health expression error about a Secret's data is masked the same way; values the expression wrote stay", () => {
    const secret = { kind: "Secret", data: { token }, metadata: { name: "sa-token" } }
    const message = messageOf("health", "duration(data.token) > duration('1s')", secret)
    expect(message).toContain("Invalid duration string")
    expect(message).not.toContain(token)
    // A value the expression itself spells is the tenant's own text, not the object's secret.
    expect(messageOf("health", "data[metadata.name + 'xyz'] == 'x'", secret)).toContain("sa-tokenxyz")
  })
})

describe("a health expression that runs past its deadline is not run again for the same spec", () => {
  // Live clock: the deadline is real time.
  it.live(
    "the second object gets Unknown at once instead of holding a shared worker for another 2 s",
    () =>
      Effect.gen(function* () {
        const compiled = compileHealthExpressions([
          {
            apiVersion: "example.com/v1",
            kind: "Gadget",
            current: "status.items.all(a, status.items.all(b, status.items.all(c, a + b + c >= 0)))",
          },
        ])
        if (!compiled.ok || compiled.reader === undefined) throw new Error("expected a reader")
        const gadget = (name: string) => ({
          apiVersion: "example.com/v1",
          kind: "Gadget",
          metadata: { name, namespace: "tenant" },
          status: { items: Array.from({ length: 3_000 }, (_, i) => i) },
        })
        const first = yield* compiled.reader.read(gadget("a"))
        expect(first.status).toBe("Unknown")
        expect(first.message).toContain(`did not finish within ${evaluationTimeoutMs / 1000}s`)
        const started = Date.now()
        const second = yield* compiled.reader.read(gadget("b"))
        expect(Date.now() - started).toBeLessThan(500)
        expect(second.status).toBe("Unknown")
        expect(second.message).toContain("spec.healthCheckExprs[0]")
        expect(second.message).toContain("not evaluated again")
      }),
    20_000,
  )
})
