/**
 * `spec.healthCheckExprs`: kstatus-compatible statuses from CEL, for the groups and kinds they name, as Flux's
 * custom status reader (fluxcd/pkg runtime/cel): an entry with a kind matches that kind of its group, one
 * without a kind every kind of the group, the kind-specific entry first. They replace the built-in rules for
 * those kinds, for `wait` and `healthChecks` alike.
 *
 * Per object: a `status.observedGeneration` behind `metadata.generation` is InProgress; then `inProgress`,
 * `failed` and `current` are evaluated in that order (RFC 0009) and the first that is true decides; none true is
 * InProgress. An evaluation error is Unknown, which the health check keeps waiting on until its timeout.
 *
 * @module
 */
import { Effect } from "effect"
import { type KubeObject, splitApiVersion } from "../../kube/object.ts"
import type { StatusResult } from "../cluster/kstatus.ts"
import type { StatusReader } from "../cluster/poll.ts"
import { compile } from "./cel.ts"
import { evaluateFirstTrue } from "./cel-evaluation.ts"

/** One entry of `spec.healthCheckExprs` (fluxcd/pkg apis/kustomize CustomHealthCheck). */
export interface CustomHealthCheck {
  readonly apiVersion: string
  readonly kind?: string | undefined
  readonly current: string
  readonly inProgress?: string | undefined
  readonly failed?: string | undefined
}

/** Why the expressions cannot be used: the field (`spec.healthCheckExprs[1].failed`) and what is wrong. */
export interface HealthExpressionError {
  readonly field: string
  readonly error: string
}

interface Evaluator {
  readonly index: number
  /**
   * An evaluation of these expressions ran on a worker past its deadline. The pool's one or two workers are
   * shared by every tenant's builds, decryptions and CEL, so the same expressions are not run again for this
   * spec generation: a hundred objects of the kind would otherwise hold a worker for 200 s on each poll.
   */
  exhausted: boolean
  /** In evaluation order, with the status each one yields. */
  readonly expressions: ReadonlyArray<{
    readonly text: string
    readonly status: StatusResult["status"]
    readonly name: string
  }>
}

const groupKind = (group: string, kind: string) => `${group}/${kind}`

/** Compiles every expression once (the caller keeps the result for the spec's generation). */
export const compileHealthExpressions = (
  checks: ReadonlyArray<CustomHealthCheck>,
):
  | { readonly ok: true; readonly reader: StatusReader | undefined }
  | ({ readonly ok: false } & HealthExpressionError) => {
  if (checks.length === 0) return { ok: true, reader: undefined }
  const evaluators = new Map<string, Evaluator>()
  for (const [index, check] of checks.entries()) {
    const field = `spec.healthCheckExprs[${index}]`
    const key = groupKind(splitApiVersion(check.apiVersion).group, check.kind ?? "")
    if (evaluators.has(key))
      return {
        ok: false,
        field,
        error: `duplicate custom health check for ${check.kind ? `kind ${check.kind}` : "every kind"} of ${check.apiVersion}`,
      }
    if (check.current === "")
      return { ok: false, field: `${field}.current`, error: "expression current not specified" }
    const expressions: Array<Evaluator["expressions"][number]> = []
    for (const [name, status] of [
      ["inProgress", "InProgress"],
      ["failed", "Failed"],
      ["current", "Current"],
    ] as const) {
      const text = check[name]
      if (text === undefined || text === "") continue
      const compiled = compile("health", text)
      if (!compiled.ok) return { ok: false, field: `${field}.${name}`, error: compiled.error }
      expressions.push({ text, status, name })
    }
    evaluators.set(key, { index, expressions, exhausted: false })
  }
  const evaluatorFor = (group: string, kind: string) =>
    evaluators.get(groupKind(group, kind)) ?? evaluators.get(groupKind(group, ""))
  const read = (obj: KubeObject): Effect.Effect<StatusResult> => {
    const { group } = splitApiVersion(obj.apiVersion)
    const evaluator = evaluatorFor(group, obj.kind)
    if (evaluator === undefined)
      return Effect.succeed({ status: "Unknown", message: "no custom health check" })
    const observed = (obj.status as { observedGeneration?: unknown } | undefined)?.observedGeneration
    const generation = obj.metadata.generation
    if (Number.isInteger(observed) && Number.isInteger(generation) && observed !== generation)
      return Effect.succeed({
        status: "InProgress",
        message: `Generation ${generation} not yet observed (at ${observed})`,
      })
    const field = `spec.healthCheckExprs[${evaluator.index}]`
    if (evaluator.exhausted)
      return Effect.succeed({
        status: "Unknown",
        message: `${field}: an evaluation ran past its deadline; not evaluated again until the spec changes`,
      })
    return evaluateFirstTrue(
      "health",
      evaluator.expressions.map((e) => e.text),
      obj as unknown as Record<string, unknown>,
    ).pipe(
      Effect.map((first): StatusResult => {
        const hit = evaluator.expressions[first]
        return hit === undefined
          ? { status: "InProgress", message: `no expression of ${field} is true` }
          : { status: hit.status, message: `${field}.${hit.name} is true` }
      }),
      Effect.catch((e) =>
        Effect.sync((): StatusResult => {
          if (e.ranPastDeadline) evaluator.exhausted = true
          return { status: "Unknown", message: `${field}: ${e.message}` }
        }),
      ),
    )
  }
  return {
    ok: true,
    reader: { supports: (group, kind) => evaluatorFor(group, kind) !== undefined, read },
  }
}
