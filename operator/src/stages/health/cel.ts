/**
 * Flux's CEL environment (fluxcd/pkg runtime/cel) on `@marcbachmann/cel-js`: optional syntax (`obj.?field`,
 * `.orValue()`), homogeneous aggregate literals, the standard macros (`has`, `all`, `exists`, `exists_one`,
 * `filter`, `map`), string extensions (cel-js' own plus `charAt`, `replace` and `reverse`, registered here so
 * the `ext.Strings` functions Flux users write are there), and `ext.Sets` (`sets.contains`, `sets.equivalent`,
 * `sets.intersects`) and `ext.Encoders` (`base64.encode`, `base64.decode`). cel-js has no namespaced functions, so
 * `sets` and `base64` are constants of a type of their own whose methods these are — the same calls to whoever
 * writes them. Not available: `string.format`; an expression using it fails to compile, so it is refused naming
 * its field rather than evaluated differently.
 *
 * Two kinds of expression, as in Flux:
 * - health (`spec.healthCheckExprs[]`): the object's top-level fields are the variables (`status`, `metadata`,
 *   `spec`, …), any name is accepted (Flux parses without declarations because not every CRD has the usual
 *   five fields). JSON integers are CEL `int`s, as Go's unstructured objects hold int64, so
 *   `status.readyReplicas + 1` works as in Flux.
 * - readiness (`spec.dependsOn[].readyExpr`): `self` (the Kustomization) and `dep` (the dependency), declared
 *   as maps (Flux: `google.protobuf.Struct`, so numbers are doubles) and type-checked to return `bool`.
 *
 * Compilation runs on the main thread and is bounded by the expression's length and cel-js' structural limits.
 * Evaluation is not bounded by either library (no cost budget), and a nested comprehension over a large list
 * or a backtracking `matches` can run for minutes, so it runs on the worker pool under a deadline
 * (`health/cel-evaluation.ts`); this module is what both threads share.
 *
 * @module
 */
import { Environment } from "@marcbachmann/cel-js"

export type CelKind = "health" | "ready"

/** Longer expressions are refused before parsing (Flux's are a line or two). */
export const maxExpressionLength = 4096

const limits = {
  maxAstNodes: 2000,
  maxDepth: 48,
  maxListElements: 256,
  maxMapEntries: 256,
  maxCallArguments: 16,
}

const withExtensions = (env: Environment): Environment =>
  env
    .registerFunction("string.charAt(int): string", (s: string, i: bigint) => {
      const at = Number(i)
      if (at < 0 || at > s.length) throw new Error(`index out of range: ${at}`)
      return s.charAt(at)
    })
    .registerFunction("string.replace(string, string): string", (s: string, a: string, b: string) =>
      s.replaceAll(a, b),
    )
    .registerFunction(
      "string.replace(string, string, int): string",
      (s: string, a: string, b: string, n: bigint) => {
        let out = s
        let from = 0
        for (let left = Number(n); left !== 0 && a !== ""; left--) {
          const at = out.indexOf(a, from)
          if (at === -1) break
          out = out.slice(0, at) + b + out.slice(at + a.length)
          from = at + b.length
        }
        return n < 0n && a !== "" ? s.replaceAll(a, b) : out
      },
    )
    .registerFunction("string.reverse(): string", (s: string) => [...s].reverse().join(""))

/** CEL equality as `ext.Sets` uses it: numbers compare across int and double; lists, maps and bytes by value. */
const celEquals = (a: unknown, b: unknown): boolean => {
  if ((typeof a === "bigint" || typeof a === "number") && (typeof b === "bigint" || typeof b === "number"))
    // biome-ignore lint/suspicious/noDoubleEquals: loose equality is what compares a bigint with a number
    return a == b
  if (a instanceof Uint8Array && b instanceof Uint8Array)
    return a.length === b.length && a.every((x, i) => x === b[i])
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => celEquals(x, b[i]))
  if (a instanceof Map && b instanceof Map)
    return a.size === b.size && [...a].every(([k, v]) => b.has(k) && celEquals(v, b.get(k)))
  if (typeof a === "object" && a !== null && typeof b === "object" && b !== null) {
    const ka = Object.keys(a)
    return (
      ka.length === Object.keys(b).length &&
      ka.every(
        (k) =>
          Object.hasOwn(b, k) &&
          celEquals((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
      )
    )
  }
  return a === b
}

const containsAll = (list: ReadonlyArray<unknown>, items: ReadonlyArray<unknown>) =>
  items.every((x) => list.some((y) => celEquals(x, y)))

/** The receivers of the namespaced functions (`sets.…`, `base64.…`). */
class SetsNamespace {}
class Base64Namespace {}

const base64Alphabet = /^[A-Za-z0-9+/]*={0,2}$/

/** `ext.Sets` and `ext.Encoders`, as methods of the constants `sets` and `base64`. */
const withNamespaces = (env: Environment): Environment =>
  env
    .registerType("SetsNamespace", { ctor: SetsNamespace, fields: {} })
    .registerConstant("sets", "SetsNamespace", new SetsNamespace())
    .registerFunction(
      "SetsNamespace.contains(list, list): bool",
      (_: SetsNamespace, a: unknown[], b: unknown[]) => containsAll(a, b),
    )
    .registerFunction(
      "SetsNamespace.equivalent(list, list): bool",
      (_: SetsNamespace, a: unknown[], b: unknown[]) => containsAll(a, b) && containsAll(b, a),
    )
    .registerFunction(
      "SetsNamespace.intersects(list, list): bool",
      (_: SetsNamespace, a: unknown[], b: unknown[]) => a.some((x) => b.some((y) => celEquals(x, y))),
    )
    .registerType("Base64Namespace", { ctor: Base64Namespace, fields: {} })
    .registerConstant("base64", "Base64Namespace", new Base64Namespace())
    .registerFunction("Base64Namespace.encode(bytes): string", (_: Base64Namespace, b: Uint8Array) =>
      Buffer.from(b).toString("base64"),
    )
    .registerFunction("Base64Namespace.decode(string): bytes", (_: Base64Namespace, text: string) => {
      // Go's StdEncoding, falling back to the unpadded form as ext.Encoders does; anything else is an error.
      if (!base64Alphabet.test(text) || text.replace(/=+$/, "").length % 4 === 1)
        throw new Error("illegal base64 data")
      return new Uint8Array(Buffer.from(text, "base64"))
    })

const newEnvironment = (kind: CelKind): Environment => {
  const env = new Environment({
    unlistedVariablesAreDyn: kind === "health",
    enableOptionalTypes: true,
    homogeneousAggregateLiterals: true,
    limits,
  })
  if (kind === "ready") env.registerVariable("self", "map").registerVariable("dep", "map")
  return withNamespaces(withExtensions(env))
}

const environments: Partial<Record<CelKind, Environment>> = {}
const environment = (kind: CelKind): Environment => {
  environments[kind] ??= newEnvironment(kind)
  return environments[kind]
}

/** cel-js' messages carry a caret diagram over several lines; a condition wants one line. */
const oneLine = (message: string) =>
  message
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .join(" ")

export type Compiled = (variables: Record<string, unknown>) => unknown

/**
 * Parses and type-checks `expression`; the error is Flux's wording (`failed to parse the CEL expression …`).
 * Readiness expressions must return `bool`, as Flux's `WithOutputType(BoolType)`.
 */
export const compile = (
  kind: CelKind,
  expression: string,
): { readonly ok: true; readonly run: Compiled } | { readonly ok: false; readonly error: string } => {
  if (expression.length > maxExpressionLength)
    return { ok: false, error: `the CEL expression is longer than ${maxExpressionLength} characters` }
  try {
    const parsed = environment(kind).parse(expression)
    const checked = parsed.check()
    if (!checked.valid)
      return {
        ok: false,
        error: `failed to parse the CEL expression '${expression}': ${oneLine(String(checked.error?.message ?? checked.error))}`,
      }
    if (kind === "ready" && checked.type !== "bool")
      return { ok: false, error: `CEL expression output type mismatch: expected bool, got ${checked.type}` }
    return { ok: true, run: (variables) => parsed(variables) }
  } catch (e) {
    return {
      ok: false,
      error: `failed to parse the CEL expression '${expression}': ${oneLine((e as Error).message)}`,
    }
  }
}

/** JSON integers as CEL ints (Go's unstructured int64); other values as they are. */
const withIntegers = (value: unknown): unknown => {
  if (typeof value === "number") return Number.isSafeInteger(value) ? BigInt(value) : value
  if (Array.isArray(value)) return value.map(withIntegers)
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = withIntegers(v)
    return out
  }
  return value
}

/** Compiled programs of the worker, by kind and text (a Kustomization's few expressions, every poll). */
const programs = new Map<string, Compiled>()
const maxPrograms = 512

const program = (kind: CelKind, expression: string): Compiled => {
  const key = `${kind}\u0000${expression}`
  const cached = programs.get(key)
  if (cached !== undefined) return cached
  const compiled = compile(kind, expression)
  if (!compiled.ok) throw new Error(compiled.error)
  if (programs.size >= maxPrograms) programs.delete(programs.keys().next().value as string)
  programs.set(key, compiled.run)
  return compiled.run
}

/** Shorter values are too common to mask inside a sentence (the redactor's rule too). */
const minMaskedLength = 4

/**
 * `message` with every string value of `variables` masked, except the objects' identities (kind, apiVersion,
 * name, namespace) and text the expression itself spells. cel-js quotes values in its errors (`No such key:
 * <value>`, `Invalid duration string: <value>`, an invalid regular expression built from a value), and the
 * objects are a live object of the build — a Secret's data among them — or a dependency's status; the message
 * becomes a condition, an Event and a log line. Runs only on an error, so walking the values costs nothing
 * on the path that succeeds.
 */
const maskValues = (message: string, variables: Record<string, unknown>, expression: string): string => {
  const values = new Set<string>()
  const identities = new Set<string>()
  const walk = (v: unknown, depth: number): void => {
    if (typeof v === "string") {
      if (v.length >= minMaskedLength && v.length <= message.length) values.add(v)
    } else if (Array.isArray(v)) {
      if (depth < 64) for (const x of v) walk(x, depth + 1)
    } else if (typeof v === "object" && v !== null) {
      const o = v as Record<string, unknown>
      const meta = o.metadata as Record<string, unknown> | undefined
      for (const id of [o.kind, o.apiVersion, meta?.name, meta?.namespace])
        if (typeof id === "string") identities.add(id)
      if (depth < 64) for (const x of Object.values(o)) walk(x, depth + 1)
    }
  }
  walk(variables, 0)
  let out = message
  for (const value of [...values].sort((a, b) => b.length - a.length))
    if (!identities.has(value) && !expression.includes(value) && out.includes(value))
      out = out.split(value).join("***")
  return out
}

/**
 * Evaluates the expressions in order and returns the index of the first that is `true` (-1: none). A result
 * that is not a boolean is an error, as Flux's `EvaluateBoolean`. Synchronous and unbounded: the worker's.
 */
export const firstTrue = (
  kind: CelKind,
  expressions: ReadonlyArray<string>,
  variables: Record<string, unknown>,
): number => {
  const vars = kind === "health" ? (withIntegers(variables) as Record<string, unknown>) : variables
  for (const [i, expression] of expressions.entries()) {
    let result: unknown
    try {
      result = program(kind, expression)(vars)
    } catch (e) {
      throw new Error(
        `failed to evaluate the CEL expression '${expression}': ${oneLine(maskValues((e as Error).message, vars, expression))}`,
      )
    }
    if (typeof result !== "boolean")
      throw new Error(`failed to evaluate CEL expression as boolean: '${expression}'`)
    if (result) return i
  }
  return -1
}
