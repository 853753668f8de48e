/**
 * An applied object's signature: its uid and the set of fields our field manager owns, hashed. Server-side
 * apply moves a field's ownership to whoever changes its value (an `Update` by `kubectl edit`, a forced apply by
 * another manager), so while the signature is the one recorded right after our apply, nobody has changed any
 * field we set: the object has not drifted. A deleted or re-created object has another uid (or none).
 *
 * Fields of `spec.ignore` rules are left out: an HPA that takes `spec.replicas` from us is not drift, and must
 * not send a reconcile whose inputs are unchanged down the full path.
 *
 * This lets a reconcile whose inputs are unchanged check drift with one GET per object and no dry run, and it
 * keeps only a digest per object between reconciles: field paths and map keys, never a value.
 *
 * @module
 */
import { createHash } from "node:crypto"
import type { KubeObject } from "../../kube/object.ts"
import { fieldPathOf, isUnder, leafPaths } from "./fields-v1.ts"
import type { JsonPointer } from "./json-pointer.ts"

/** The signature of `obj` for `fieldManager` (sha256 hex), without the fields at `ignored`. */
export const applySignature = (
  obj: KubeObject,
  fieldManager: string,
  ignored: ReadonlyArray<JsonPointer> = [],
): string => {
  const own = (obj.metadata.managedFields ?? []).filter(
    (e) => e.manager === fieldManager && e.operation === "Apply" && !e.subresource,
  )
  const sets = own.map((e) => e.fieldsV1 ?? null)
  const excluded = ignored.flatMap((p) => {
    const path = fieldPathOf(obj, p, sets)
    return path === undefined ? [] : [path]
  })
  // Without ignored fields the whole set is hashed as the server wrote it; with them, its leaves that are not
  // at or below an ignored field, so a set that lost only ignored fields hashes as before.
  const owned = (
    excluded.length === 0
      ? sets.map((s) => JSON.stringify(s))
      : sets.map((s) =>
          JSON.stringify(
            leafPaths(s)
              .filter((leaf) => !excluded.some((x) => isUnder(leaf, x)))
              .map((leaf) => leaf.join("\u0000"))
              .sort(),
          ),
        )
  ).sort()
  return createHash("sha256")
    .update(obj.metadata.uid ?? "")
    .update("\n")
    .update(owned.join("\n"))
    .digest("hex")
}
