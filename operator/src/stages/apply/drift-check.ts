/**
 * The drift check of a reconcile whose inputs are unchanged: one GET per applied object, compared with the
 * signature recorded when it was applied (`signature.ts`). No dry run, no write. Any object whose signature moved
 * (a field we own changed hands, the object was deleted or re-created) sends the reconcile down the full path,
 * which re-applies it.
 *
 * @module
 */
import { Effect } from "effect"
import { apiVersionOf, type KubeObject, type ObjectRef } from "../../kube/object.ts"
import { RESTMapper } from "../../kube/restmapper.ts"
import { type Identity, KubeAccess } from "../cluster/impersonation.ts"
import { type CompiledIgnoreRules, ignoredPaths } from "./ignore-rules.ts"
import { applySignature } from "./signature.ts"

/** One applied object as the drift check remembers it. */
export interface AppliedSignature {
  readonly ref: ObjectRef
  readonly signature: string
}

/**
 * The first object of `applied` that drifted, or `undefined` when none did. Stops at the first drift: the
 * reconcile re-applies the whole set anyway. Errors (discovery, RBAC, network) count as drift, so the full
 * path reports them as it always does. `ignore` (the `spec.ignore` the signatures were recorded with) leaves the
 * same fields out of the live object's signature.
 */
export const firstDrifted = Effect.fn("firstDrifted")(function* (
  applied: ReadonlyArray<AppliedSignature>,
  identity: Identity,
  fieldManager: string,
  ignore?: CompiledIgnoreRules,
) {
  const access = yield* KubeAccess
  const mapper = yield* RESTMapper
  const client = yield* access.client(identity)
  const drifted = (ref: ObjectRef, signature: string) =>
    mapper.resolve(apiVersionOf(ref), ref.kind).pipe(
      Effect.flatMap((resource) =>
        client.getOption<KubeObject>(resource, ref.name, ref.namespace || undefined),
      ),
      Effect.option,
      Effect.map((live) =>
        live._tag === "None" || live.value._tag === "None"
          ? true
          : applySignature(live.value.value, fieldManager, ignoredPaths(ignore, live.value.value)) !==
            signature,
      ),
    )
  // A few GETs at a time (one round trip for a small set, not one per object); the first drift in `applied`
  // order is reported, and no further batch is started once one is found.
  const batch = 4
  for (let i = 0; i < applied.length; i += batch) {
    const part = applied.slice(i, i + batch)
    const results = yield* Effect.forEach(part, ({ ref, signature }) => drifted(ref, signature), {
      concurrency: batch,
    })
    const at = results.indexOf(true)
    if (at !== -1) return part[at]!.ref
  }
  return undefined
})
