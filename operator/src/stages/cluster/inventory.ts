/**
 * The Kustomization's inventory: which objects the last successful apply owns, in Flux's format
 * (`status.inventory.entries[] = {id: "<namespace>_<name>_<group>_<kind>", v: "<version>"}`, sorted by id),
 * so status written by Flux is read back unchanged and prune knows what left the set.
 */
import { type InventoryEntry, objectId, parseObjectId } from "../../../../model/inventory.ts"
import type { ObjectRef } from "../../kube/object.ts"
import type { ChangeSet } from "./change-set.ts"

export type { InventoryEntry }

export interface Inventory {
  readonly entries: ReadonlyArray<InventoryEntry>
}

/** The entry id (the model's `objectId`): RBAC names may contain `:`, which Flux writes as `__`. */
export const inventoryId = (ref: Pick<ObjectRef, "namespace" | "name" | "group" | "kind">): string =>
  objectId(ref)

/** Parses an entry back to the object it names; `undefined` when the id is not in Flux's format. */
export const parseEntry = (entry: InventoryEntry): ObjectRef | undefined => {
  const key = parseObjectId(entry.id)
  return key === undefined ? undefined : { ...key, version: entry.v }
}

/** The inventory of everything a change set names (unchanged and skipped included), sorted by id. */
export const inventoryOf = (changeSet: ChangeSet): Inventory =>
  fromRefs(changeSet.filter((e) => e.action !== "deleted").map((e) => e.ref))

export const fromRefs = (refs: ReadonlyArray<ObjectRef>): Inventory => {
  const byId = new Map<string, InventoryEntry>()
  for (const ref of refs) byId.set(inventoryId(ref), { id: inventoryId(ref), v: ref.version })
  return { entries: [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) }
}

/** Entries of `previous` that `next` no longer has: the prune candidates. Version changes are not removals. */
export const staleEntries = (
  previous: Inventory | undefined,
  next: Inventory,
): ReadonlyArray<InventoryEntry> => {
  const keep = new Set(next.entries.map((e) => e.id))
  return (previous?.entries ?? []).filter((e) => !keep.has(e.id))
}

/** `base` plus `extra` (by id; `extra` wins on version), sorted — for objects prune could not delete. */
export const mergeInventories = (base: Inventory, extra: ReadonlyArray<InventoryEntry>): Inventory => {
  const byId = new Map(base.entries.map((e) => [e.id, e]))
  for (const e of extra) byId.set(e.id, e)
  return { entries: [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) }
}
