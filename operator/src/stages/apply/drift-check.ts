/**
 * The drift check of a reconcile whose inputs are unchanged: one GET per applied object, compared with the
 * signature recorded when it was applied (`signature.ts`). No dry run, no write. Any object whose signature moved
 * (a field we own changed hands, the object was deleted or re-created) sends the reconcile down the full path,
 * which re-applies it.
 *
 * @module
 */
import { Effect } from "effect"
import { RESTMapper } from "../../kube/restmapper.ts"
import { type Identity, KubeAccess } from "../cluster/impersonation.ts"
import type { KubeObject, ObjectRef } from "../cluster/object.ts"
import { applySignature } from "./signature.ts"

/** One applied object as the drift check remembers it. */
export interface AppliedSignature {
  readonly ref: ObjectRef
  readonly signature: string
}

const apiVersionOf = (ref: ObjectRef) => (ref.group === "" ? ref.version : `${ref.group}/${ref.version}`)

/**
 * The first object of `applied` that drifted, or `undefined` when none did. Stops at the first drift: the
 * reconcile re-applies the whole set anyway. Errors (discovery, RBAC, network) count as drift, so the full
 * path reports them as it always does.
 */
export const firstDrifted = Effect.fn("firstDrifted")(function* (
  applied: ReadonlyArray<AppliedSignature>,
  identity: Identity,
  fieldManager: string,
) {
  const access = yield* KubeAccess
  const mapper = yield* RESTMapper
  const client = yield* access.client(identity)
  for (const { ref, signature } of applied) {
    const live = yield* mapper.resolve(apiVersionOf(ref), ref.kind).pipe(
      Effect.flatMap((resource) =>
        client.getOption<KubeObject>(resource, ref.name, ref.namespace || undefined),
      ),
      Effect.option,
    )
    if (live._tag === "None" || live.value._tag === "None") return ref
    if (applySignature(live.value.value, fieldManager) !== signature) return ref
  }
  return undefined
})
