/**
 * The Kustomization that owns applied objects. Its name and namespace go on every object as labels; prune
 * and cleanup only ever touch objects that still carry both.
 */

import type { KubeObject } from "../../kube/object.ts"
import { ownerGroup } from "./policy.ts"

export interface Owner {
  readonly name: string
  readonly namespace: string
}

export const ownerNameLabel = `${ownerGroup}/name`
export const ownerNamespaceLabel = `${ownerGroup}/namespace`

export const ownerLabels = (owner: Owner): Readonly<Record<string, string>> => ({
  [ownerNameLabel]: owner.name,
  [ownerNamespaceLabel]: owner.namespace,
})

/** Adds the owner labels, overriding what the manifest set for those two keys. */
export const withOwnerLabels = (obj: KubeObject, owner: Owner): KubeObject => ({
  ...obj,
  metadata: { ...obj.metadata, labels: { ...obj.metadata.labels, ...ownerLabels(owner) } },
})

/** Does the live object still belong to this owner? Objects someone relabelled are not ours to delete. */
export const isOwnedBy = (obj: KubeObject, owner: Owner): boolean =>
  obj.metadata.labels?.[ownerNameLabel] === owner.name &&
  obj.metadata.labels?.[ownerNamespaceLabel] === owner.namespace
