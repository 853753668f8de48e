/**
 * `spec.ignore`: drift-ignore rules, compiled once per reconcile. A rule names JSON pointers (RFC 6901) and,
 * optionally, the objects it applies to with Flux's selector: `group`, `version`, `kind`, `name` and
 * `namespace` are RE2 regular expressions matched against the whole value (Flux anchors them as
 * `^(?:…)$`), `labelSelector` and `annotationSelector` are label-selector expressions; an unset field
 * matches everything, an unset `target` every object of the Kustomization.
 *
 * The rules are bounded (rules, paths per rule, all paths, pointer and pattern length) and checked before
 * anything is built: a malformed pointer, regex or selector stalls the Kustomization naming
 * `spec.ignore[i]…`. What the rules do is in `drift.ts` (comparison), `ignored-fields.ts` (the apply
 * payload) and `signature.ts` (the no-change drift check).
 *
 * @module
 */
import { Data } from "effect"
import { RE2JS } from "re2js"
import type { IgnoreRule } from "../../../../model/kustomization.ts"
import type { KubeObject } from "../../kube/object.ts"
import { type JsonPointer, parsePointer } from "./json-pointer.ts"
import { type LabelSelectorMatcher, parseLabelSelector } from "./label-selector.ts"

/** Bounds on `spec.ignore`: a Kustomization's spec is tenant input, and every rule costs work per object. */
export const ignoreLimits = {
  rules: 64,
  pathsPerRule: 64,
  paths: 256,
  pointerLength: 1024,
  patternLength: 1024,
} as const

export class IgnoreRuleError extends Data.TaggedError("IgnoreRuleError")<{
  /** The offending field, e.g. `spec.ignore[1].paths[0]`. */
  readonly field: string
  readonly message: string
}> {}

/** One compiled rule: which objects it applies to, and its pointers. */
export interface CompiledIgnoreRule {
  readonly matches: (obj: KubeObject) => boolean
  readonly paths: ReadonlyArray<JsonPointer>
}

export type CompiledIgnoreRules = ReadonlyArray<CompiledIgnoreRule>

const groupVersion = (apiVersion: string): { group: string; version: string } => {
  const slash = apiVersion.indexOf("/")
  return slash === -1
    ? { group: "", version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) }
}

type Target = NonNullable<IgnoreRule["target"]>

const compileTarget = (
  target: Target | undefined,
  at: string,
): ((obj: KubeObject) => boolean) | IgnoreRuleError => {
  if (target === undefined) return () => true
  const regexes: Array<{ pick: (obj: KubeObject) => string; re: RE2JS }> = []
  const fields = {
    group: (o: KubeObject) => groupVersion(o.apiVersion).group,
    version: (o: KubeObject) => groupVersion(o.apiVersion).version,
    kind: (o: KubeObject) => o.kind,
    name: (o: KubeObject) => o.metadata.name ?? "",
    namespace: (o: KubeObject) => o.metadata.namespace ?? "",
  } as const
  for (const [field, pick] of Object.entries(fields)) {
    const pattern = target[field as keyof typeof fields]
    if (pattern === undefined || pattern === "") continue
    if (pattern.length > ignoreLimits.patternLength)
      return new IgnoreRuleError({
        field: `${at}.target.${field}`,
        message: `longer than ${ignoreLimits.patternLength} characters`,
      })
    try {
      regexes.push({ pick, re: RE2JS.compile(`^(?:${pattern})$`) })
    } catch (e) {
      return new IgnoreRuleError({
        field: `${at}.target.${field}`,
        message: `invalid regular expression: ${e instanceof Error ? e.message : String(e)}`,
      })
    }
  }
  const selectors: Array<{
    pick: (obj: KubeObject) => Record<string, string> | undefined
    match: LabelSelectorMatcher
  }> = []
  for (const field of ["labelSelector", "annotationSelector"] as const) {
    const text = target[field]
    if (text === undefined || text === "") continue
    if (text.length > ignoreLimits.patternLength)
      return new IgnoreRuleError({
        field: `${at}.target.${field}`,
        message: `longer than ${ignoreLimits.patternLength} characters`,
      })
    const parsed = parseLabelSelector(text)
    if (!parsed.ok)
      return new IgnoreRuleError({
        field: `${at}.target.${field}`,
        message: `invalid selector: ${parsed.reason}`,
      })
    selectors.push({
      pick: field === "labelSelector" ? (o) => o.metadata.labels : (o) => o.metadata.annotations,
      match: parsed.match,
    })
  }
  return (obj) =>
    regexes.every(({ pick, re }) => re.matches(pick(obj))) &&
    selectors.every(({ pick, match }) => match(pick(obj)))
}

/** Compiles `spec.ignore`, or names the first field that is malformed or over a limit. */
export const compileIgnoreRules = (
  rules: ReadonlyArray<IgnoreRule> | undefined,
): CompiledIgnoreRules | IgnoreRuleError => {
  if (rules === undefined || rules.length === 0) return []
  if (rules.length > ignoreLimits.rules)
    return new IgnoreRuleError({
      field: "spec.ignore",
      message: `${rules.length} rules, more than the limit of ${ignoreLimits.rules}`,
    })
  const total = rules.reduce((n, r) => n + r.paths.length, 0)
  if (total > ignoreLimits.paths)
    return new IgnoreRuleError({
      field: "spec.ignore",
      message: `${total} paths in all, more than the limit of ${ignoreLimits.paths}`,
    })
  const out: Array<CompiledIgnoreRule> = []
  for (const [i, rule] of rules.entries()) {
    const at = `spec.ignore[${i}]`
    if (rule.paths.length === 0)
      return new IgnoreRuleError({ field: `${at}.paths`, message: "at least one path is required" })
    if (rule.paths.length > ignoreLimits.pathsPerRule)
      return new IgnoreRuleError({
        field: `${at}.paths`,
        message: `${rule.paths.length} paths, more than the limit of ${ignoreLimits.pathsPerRule}`,
      })
    const paths: Array<JsonPointer> = []
    for (const [j, text] of rule.paths.entries()) {
      const field = `${at}.paths[${j}]`
      if (text.length > ignoreLimits.pointerLength)
        return new IgnoreRuleError({
          field,
          message: `longer than ${ignoreLimits.pointerLength} characters`,
        })
      const parsed = parsePointer(text)
      if (!parsed.ok)
        return new IgnoreRuleError({ field, message: `invalid JSON pointer "${text}": ${parsed.reason}` })
      // The empty pointer is the whole object: an object that never drifts is what the
      // `kustomize.toolkit.fluxcd.io/ssa: IfNotPresent` annotation says, so refuse it rather than guess.
      if (parsed.pointer.length === 0)
        return new IgnoreRuleError({
          field,
          message:
            'the empty pointer would ignore the whole object; use the annotation "kustomize.toolkit.fluxcd.io/ssa: IfNotPresent" instead',
        })
      paths.push(parsed.pointer)
    }
    const matches = compileTarget(rule.target, at)
    if (matches instanceof IgnoreRuleError) return matches
    out.push({ matches, paths })
  }
  return out
}

/** The pointers of every rule that applies to `obj` (rule order, then path order; duplicates kept). */
export const ignoredPaths = (
  rules: CompiledIgnoreRules | undefined,
  obj: KubeObject,
): ReadonlyArray<JsonPointer> => (rules ?? []).flatMap((r) => (r.matches(obj) ? r.paths : []))
