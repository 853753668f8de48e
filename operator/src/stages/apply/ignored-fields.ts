/**
 * What an apply sends for the fields of `spec.ignore` rules, when an object is applied because something
 * else drifted (Flux's rule, fluxcd/pkg ssa): for each ignored field whose live value differs from what the
 * dry run would store —
 *
 * - **strip**: another `Apply` field manager owns it (an HPA, a controller applying server-side): the field is
 *   left out of the payload, so we give up our claim and the other manager keeps it;
 * - **adopt**: nobody else applies it (we are its only `Apply` owner; `Update` writers such as `kubectl edit`,
 *   a webhook or the scale subresource do not count): the live value goes into the payload, so the field stays
 *   as it is in the cluster and stays ours.
 *
 * Ignored fields that match are left as they are. A newly created object gets the manifests' values: there is
 * nothing live to keep.
 *
 * @module
 */

import type { KubeObject } from "../../kube/object.ts"
import { jsonEqual } from "./drift.ts"
import { containsPath, fieldPathOf } from "./fields-v1.ts"
import { formatPointer, getAt, type JsonPointer, removeAt, setAt } from "./json-pointer.ts"
import { isTakenOver } from "./managed-fields.ts"

/** Does an `Apply` manager other than ours own the field at `pointer` of `live`? */
const ownedByOtherApplier = (
  live: KubeObject,
  pointer: JsonPointer,
  fieldManager: string,
  takeover: boolean,
): boolean => {
  const appliers = (live.metadata.managedFields ?? []).filter(
    (e) =>
      e.operation === "Apply" &&
      !e.subresource &&
      // A manager whose fields the takeover hands to us (kubectl's server-side apply) is us by apply time.
      !(takeover && isTakenOver(e)),
  )
  const path = fieldPathOf(
    live,
    pointer,
    appliers.map((e) => e.fieldsV1),
  )
  // A path that cannot be resolved in the field sets is nobody else's: adopt (Flux does the same).
  if (path === undefined) return false
  return appliers.some((e) => e.manager !== fieldManager && containsPath(e.fieldsV1, path))
}

/**
 * The payload to apply instead of `desired`, with ignored fields stripped or adopted; or the pointer whose
 * live value cannot be placed in the payload (its parent there is a list element the manifests lack).
 */
export const resolveIgnored = (
  desired: KubeObject,
  live: KubeObject,
  dryRun: KubeObject,
  ignored: ReadonlyArray<JsonPointer>,
  options: { readonly fieldManager: string; readonly takeover: boolean },
): { readonly ok: true; readonly payload: KubeObject } | { readonly ok: false; readonly pointer: string } => {
  const strip: Array<JsonPointer> = []
  const adopt: Array<{ pointer: JsonPointer; found: boolean; value: unknown }> = []
  for (const pointer of ignored) {
    const was = getAt(live, pointer)
    const would = getAt(dryRun, pointer)
    if (was.found === would.found && (!was.found || jsonEqual(was.value, would.value))) continue
    if (ownedByOtherApplier(live, pointer, options.fieldManager, options.takeover)) strip.push(pointer)
    else adopt.push({ pointer, found: was.found, value: was.value })
  }
  // Removals first, then the adopted values, in rule order (as Flux's two patches).
  let payload = strip.reduce((o, p) => removeAt(o, p), desired)
  for (const { pointer, found, value } of adopt) {
    // Absent in the cluster: the payload does not declare it either, so it stays absent.
    if (!found) {
      payload = removeAt(payload, pointer)
      continue
    }
    const next = setAt(payload, pointer, value)
    if (next === undefined) return { ok: false, pointer: formatPointer(pointer) }
    payload = next
  }
  return { ok: true, payload }
}
