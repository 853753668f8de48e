/**
 * An applied object's signature: its uid and the set of fields our field manager owns, hashed. Server-side
 * apply moves a field's ownership to whoever changes its value (an `Update` by `kubectl edit`, a forced apply by
 * another manager), so while the signature is the one recorded right after our apply, nobody has changed any
 * field we set: the object has not drifted. A deleted or re-created object has another uid (or none).
 *
 * This lets a reconcile whose inputs are unchanged check drift with one GET per object and no dry run, and it
 * keeps only a digest per object between reconciles: field paths and map keys, never a value.
 *
 * @module
 */
import { createHash } from "node:crypto"
import type { KubeObject } from "../cluster/object.ts"

/** The signature of `obj` for `fieldManager` (sha256 hex). */
export const applySignature = (obj: KubeObject, fieldManager: string): string => {
  const owned = (obj.metadata.managedFields ?? [])
    .filter((e) => e.manager === fieldManager && e.operation === "Apply" && !e.subresource)
    .map((e) => JSON.stringify(e.fieldsV1 ?? null))
    .sort()
  return createHash("sha256")
    .update(obj.metadata.uid ?? "")
    .update("\n")
    .update(owned.join("\n"))
    .digest("hex")
}
