/**
 * Apply → prune → health for one Kustomization, in Flux's order and with its failure semantics: an apply
 * failure ends the reconcile with the old inventory; a prune or health failure still yields the new
 * inventory (plus what prune could not delete) so the status records what is in the cluster.
 */
import { type Duration, Effect } from "effect"
import {
  HealthChecker,
  type HealthCheckRef,
  type HealthResult,
  healthCheckTargets,
} from "../health/health-check.ts"
import { type Inventory, mergeInventories, staleEntries } from "../prune/inventory.ts"
import { type PruneEntry, Pruner } from "../prune/prune.ts"
import { type ChangeSet, summarize } from "./change-set.ts"
import type { ApplyError, HealthCheckError, PruneError } from "./errors.ts"
import type { Identity } from "./impersonation.ts"
import type { KubeObject } from "./object.ts"
import type { Owner } from "./owner.ts"
import { Applier, type CommonMetadata } from "./staged-apply.ts"

export interface SyncRequest {
  readonly objects: ReadonlyArray<KubeObject>
  readonly owner: Owner
  readonly identity?: Identity | undefined
  /** The inventory of the last successful reconcile (`status.inventory`). */
  readonly previousInventory?: Inventory | undefined
  /** `spec.prune`. */
  readonly prune: boolean
  readonly force?: boolean | undefined
  readonly wait?: boolean | undefined
  readonly healthChecks?: ReadonlyArray<HealthCheckRef> | undefined
  readonly commonMetadata?: CommonMetadata | undefined
  /** `spec.timeout` (effective); bounds apply, prune and the health wait each. */
  readonly timeout: Duration.Input
  /** Health poll interval; default 5s as Flux. */
  readonly healthInterval?: Duration.Input | undefined
}

export interface SyncResult {
  /** Apply entries followed by prune entries. */
  readonly changeSet: ChangeSet
  /** The new `status.inventory`: the applied set plus objects prune could not delete. */
  readonly inventory: Inventory
  /** The change-set Event text (`Kind/ns/name created|configured|deleted` lines); "" if nothing changed. */
  readonly summary: string
  /** Set when prune failed (Ready=False, PruneFailed). */
  readonly pruneError?: PruneError | undefined
  /** `undefined` when no health checks are configured (the Healthy condition is removed). */
  readonly health?:
    | { readonly _tag: "Healthy"; readonly result: HealthResult }
    | { readonly _tag: "Unhealthy"; readonly error: HealthCheckError }
    | undefined
}

/** Runs the three stages; fails only when apply fails (then nothing of the new set may be assumed). */
export const syncObjects = Effect.fn("Sync.objects")(function* (request: SyncRequest) {
  const applier = yield* Applier
  const pruner = yield* Pruner
  const health = yield* HealthChecker
  const applied = yield* applier.apply({
    objects: request.objects,
    owner: request.owner,
    identity: request.identity,
    force: request.force,
    commonMetadata: request.commonMetadata,
    timeout: request.timeout,
  })
  let inventory = applied.inventory
  let pruned: ReadonlyArray<PruneEntry> = []
  let pruneError: PruneError | undefined
  if (request.prune) {
    const stale = staleEntries(request.previousInventory, applied.inventory)
    const result = yield* pruner
      .prune({ entries: stale, owner: request.owner, identity: request.identity, timeout: request.timeout })
      .pipe(Effect.result)
    if (result._tag === "Success") pruned = result.success.changeSet
    else {
      pruneError = result.failure
      pruned = result.failure.changeSet
      inventory = mergeInventories(inventory, result.failure.remaining)
    }
  }
  const changeSet: ChangeSet = [...applied.changeSet, ...pruned]
  const refs = healthCheckTargets(
    { wait: request.wait, healthChecks: request.healthChecks },
    request.owner,
    applied.changeSet,
  )
  let healthOutcome: SyncResult["health"]
  if (request.wait || (request.healthChecks?.length ?? 0) > 0) {
    const checked = yield* health
      .check({ refs, identity: request.identity, timeout: request.timeout, interval: request.healthInterval })
      .pipe(Effect.result)
    healthOutcome =
      checked._tag === "Success"
        ? { _tag: "Healthy", result: checked.success }
        : { _tag: "Unhealthy", error: checked.failure }
  }
  return {
    changeSet,
    inventory,
    summary: summarize(changeSet),
    pruneError,
    health: healthOutcome,
  } satisfies SyncResult as SyncResult
}) as (request: SyncRequest) => Effect.Effect<SyncResult, ApplyError, Applier | Pruner | HealthChecker>
