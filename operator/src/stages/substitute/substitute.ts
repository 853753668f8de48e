/**
 * Post-build substitution over built objects, as Flux does it: each object is written as YAML, the
 * variables are substituted into the text, and the text is read back (so `replicas: ${REPLICAS}` becomes a
 * number). Objects labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled` are left alone.
 *
 * @module
 */
import { Effect } from "effect"
import * as YAML from "yaml"
import { formatRef, type KubeObject, refOf } from "../../kube/object.ts"
import { defaultLimits } from "../../limits.ts"
import { BuildFailed } from "../build/errors.ts"
import type { PostBuild } from "../build/spec.ts"
import { envsubst } from "./envsubst.ts"
import { loadVariables } from "./variables.ts"

export const substituteOptOut = "kustomize.toolkit.fluxcd.io/substitute"

const optedOut = (o: KubeObject) =>
  o.metadata.annotations?.[substituteOptOut]?.toLowerCase() === "disabled" ||
  o.metadata.labels?.[substituteOptOut]?.toLowerCase() === "disabled"

/** Substitutes into one object. */
export const substituteObject = (
  o: KubeObject,
  vars: ReadonlyMap<string, string>,
  strict: boolean,
  maxSubstitutedSize: number = defaultLimits.maxSubstitutedSize,
) =>
  Effect.gen(function* () {
    if (optedOut(o)) return o
    const text = YAML.stringify(o, { lineWidth: 0, minContentWidth: 0 })
    // Not only `${`: Flux also turns every `$$` into `$`, so any `$` makes the object worth a pass.
    if (!text.includes("$")) return o
    const what = formatRef(refOf(o))
    // Messages name the object and the variable, never text or values (values may come from Secrets).
    const out = yield* envsubst(text, vars, strict, maxSubstitutedSize).pipe(
      Effect.mapError(
        (e) =>
          new BuildFailed({
            message: `var substitution failed for '${what}': ${e.message}`,
            object: what,
            terminal: true,
          }),
      ),
    )
    return yield* Effect.try({
      try: () => YAML.parse(out) as KubeObject,
      // The YAML parser quotes the offending line, which may hold a substituted secret: say where only.
      catch: () =>
        new BuildFailed({
          message: `var substitution failed for '${what}': the result is not valid YAML`,
          object: what,
          terminal: true,
        }),
    })
  })

export interface Substituted {
  readonly objects: ReadonlyArray<KubeObject>
  /** The values read from `substituteFrom` objects, for redaction (see `Variables.fromObjects`). */
  readonly sensitive: ReadonlyArray<string>
}

/**
 * Applies `postBuild` to `objects` (in the Kustomization's `namespace`). With the default strategy nothing
 * is substituted when no variable is defined; `Always` substitutes anyway, so defaults apply.
 */
export const substitute = Effect.fn("substitute")(function* (
  objects: ReadonlyArray<KubeObject>,
  namespace: string,
  postBuild: PostBuild | undefined,
  options: {
    readonly strict: boolean
    /** `--max-substituted-size` (default: the limit table's). */
    readonly maxSubstitutedSize?: number
  },
) {
  if (postBuild === undefined) return { objects, sensitive: [] } satisfies Substituted
  const { vars, fromObjects } = yield* loadVariables(namespace, postBuild)
  if (vars.size === 0 && postBuild.substituteStrategy !== "Always")
    return { objects, sensitive: fromObjects } satisfies Substituted
  const out = yield* Effect.forEach(objects, (o) =>
    substituteObject(o, vars, options.strict, options.maxSubstitutedSize),
  )
  return { objects: out, sensitive: fromObjects } satisfies Substituted
})
