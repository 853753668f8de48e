/**
 * What happens to the applied objects when their Kustomization is deleted (`spec.deletionPolicy`).
 * The runtime's finalizer calls `cleanupOnDeletion` and removes the finalizer when it succeeds.
 */
import { type Duration, Effect, Option } from "effect"
import type { PruneError } from "../cluster/errors.ts"
import { controllerIdentity, type Identity, KubeAccess } from "../cluster/impersonation.ts"
import type { Inventory } from "../cluster/inventory.ts"
import type { Owner } from "../cluster/owner.ts"
import { type PruneResult, Pruner } from "./prune.ts"

/**
 * - `MirrorPrune` (default): delete the objects iff `spec.prune` is true,
 * - `Delete`: always delete them,
 * - `WaitForTermination`: delete them and wait until they are gone (within the timeout),
 * - `Orphan`: leave them.
 */
export type DeletionPolicy = "MirrorPrune" | "Delete" | "WaitForTermination" | "Orphan"

export interface DeletionRequest {
  readonly owner: Owner
  readonly inventory: Inventory | undefined
  readonly deletionPolicy?: DeletionPolicy | undefined
  readonly prune: boolean
  /** A suspended Kustomization's objects are left alone, as Flux does. */
  readonly suspended?: boolean | undefined
  readonly identity?: Identity | undefined
  readonly timeout?: Duration.Input | undefined
}

/** Does this policy delete the applied objects? */
export const deletesObjects = (policy: DeletionPolicy | undefined, prune: boolean): boolean => {
  switch (policy ?? "MirrorPrune") {
    case "MirrorPrune":
      return prune
    case "Delete":
    case "WaitForTermination":
      return true
    case "Orphan":
      return false
  }
}

export interface CleanupResult extends PruneResult {
  /** Set when cleanup was skipped for a reason the user should see (a Warning event). */
  readonly skipped?: string | undefined
}

const serviceAccounts = {
  group: "",
  version: "v1",
  plural: "serviceaccounts",
  kind: "ServiceAccount",
  namespaced: true,
}

/** Applies the deletion policy to the inventory. Empty change set when nothing is to be deleted. */
export const cleanupOnDeletion = Effect.fn("Pruner.cleanupOnDeletion")(function* (request: DeletionRequest) {
  const entries = request.inventory?.entries ?? []
  if (request.suspended || entries.length === 0 || !deletesObjects(request.deletionPolicy, request.prune))
    return { changeSet: [] } satisfies CleanupResult as CleanupResult
  // Without its ServiceAccount the objects cannot be deleted as it; Flux then leaves them and lets go.
  if (request.identity?._tag === "ServiceAccount") {
    const access = yield* KubeAccess
    const client = yield* access.client(controllerIdentity)
    const sa = yield* client
      .getOption(serviceAccounts, request.identity.name, request.identity.namespace)
      .pipe(Effect.orElseSucceed(() => Option.some({ metadata: { name: "" } })))
    if (Option.isNone(sa))
      return {
        changeSet: [],
        skipped: `ServiceAccount ${request.identity.namespace}/${request.identity.name} not found: skipping pruning of ${entries.length} objects`,
      }
  }
  const pruner = yield* Pruner
  return yield* pruner.prune({
    entries,
    owner: request.owner,
    identity: request.identity,
    waitForTermination: request.deletionPolicy === "WaitForTermination",
    timeout: request.timeout,
  })
}) as (request: DeletionRequest) => Effect.Effect<CleanupResult, PruneError, Pruner | KubeAccess>
