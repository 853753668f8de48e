/**
 * Garbage collection: deletes the objects that left the set since the last apply. An object is only
 * deleted while it still carries both owner labels of this Kustomization and no opt-out
 * (`prune: disabled`, `reconcile: disabled`, `ssa: Ignore`); what could not be deleted stays in the
 * inventory so the next reconcile tries again.
 */
import { Context, Duration, Effect, Layer, Schedule } from "effect"
import type { KubeClient } from "../../kube/client.ts"
import type { KubeError } from "../../kube/errors.ts"
import { apiVersionOf, formatRef, type KubeObject, type ObjectRef } from "../../kube/object.ts"
import type { ResourceRef } from "../../kube/resource.ts"
import { RESTMapper } from "../../kube/restmapper.ts"
import { type Redactor, serverValuesOnly } from "../../redaction/redactor.ts"
import { compareApplyOrder } from "../cluster/apply-order.ts"
import { PruneError } from "../cluster/errors.ts"
import { controllerIdentity, describeIdentity, type Identity, KubeAccess } from "../cluster/impersonation.ts"
import { type InventoryEntry, parseEntry } from "../cluster/inventory.ts"
import { isOwnedBy, type Owner } from "../cluster/owner.ts"
import { pruneDisabled } from "../cluster/policy.ts"

export interface PruneRequest {
  /** Inventory entries to delete (usually `staleEntries(previous, next)`). */
  readonly entries: ReadonlyArray<InventoryEntry>
  readonly owner: Owner
  readonly identity?: Identity | undefined
  /** Wait until deleted objects are gone (deletionPolicy WaitForTermination). */
  readonly waitForTermination?: boolean | undefined
  /** Deadline for deletes and the termination wait; default 5 minutes. */
  readonly timeout?: Duration.Input | undefined
  /** Masks what delete errors echo (a webhook may quote the object); default: the server's quoted values. */
  readonly redactor?: Redactor | undefined
}

export interface PruneEntry {
  readonly ref: ObjectRef
  readonly action: "deleted" | "skipped"
}

export interface PruneResult {
  /** Deleted objects, and objects left in place because they opted out or changed owner. */
  readonly changeSet: ReadonlyArray<PruneEntry>
}

type Outcome =
  | { readonly _tag: "Done"; readonly entry?: PruneEntry }
  | {
      readonly _tag: "Failed"
      readonly inventory: InventoryEntry
      readonly ref: ObjectRef
      readonly message: string
      /** The live object the failure is about, when it was read. */
      readonly live?: KubeObject | undefined
    }

const isTransient = (e: KubeError): boolean =>
  e._tag === "KubeTransportError" || e.code === 429 || e.code >= 500

const retryTransient = <A>(eff: Effect.Effect<A, KubeError>) =>
  Effect.retry(eff, {
    schedule: Schedule.exponential("200 millis").pipe(Schedule.jittered),
    times: 4,
    while: isTransient,
  })

/** Deletes stale objects. Use after a successful apply with the difference of old and new inventory. */
export class Pruner extends Context.Service<
  Pruner,
  { readonly prune: (request: PruneRequest) => Effect.Effect<PruneResult, PruneError> }
>()("kustodian/stages/prune/Pruner") {
  static readonly layer = Layer.effect(
    Pruner,
    Effect.gen(function* () {
      const access = yield* KubeAccess
      const mapper = yield* RESTMapper
      const prune = Effect.fn("Pruner.prune")(function* (request: PruneRequest) {
        const identity = request.identity ?? controllerIdentity
        const client = yield* access.client(identity)
        const timeout = Duration.fromInputUnsafe(request.timeout ?? "5 minutes")
        const parsed = request.entries.flatMap((e) => {
          const ref = parseEntry(e)
          return ref === undefined ? [] : [{ entry: e, ref }]
        })
        // Reverse apply order: dependents (and webhooks) first, CRDs and Namespaces last.
        parsed.sort((a, b) => compareApplyOrder(b.ref, a.ref))
        const outcomes: Array<Outcome> = []
        for (const { entry, ref } of parsed)
          outcomes.push(yield* pruneOne(client, mapper, identity, request.owner, entry, ref))
        const deleted = outcomes.flatMap((o) =>
          o._tag === "Done" && o.entry?.action === "deleted" ? [o.entry.ref] : [],
        )
        if (request.waitForTermination && deleted.length > 0) {
          const gone = yield* waitGone(client, mapper, deleted, timeout)
          if (gone.length > 0)
            return yield* new PruneError({
              reason: "PruneFailed",
              message: `failed to wait for resources termination: ${gone.map(formatRef).join(", ")}`,
              objects: gone.map(formatRef),
              remaining: [],
              changeSet: changeSetOf(outcomes),
              retryable: true,
            })
        }
        const failures = outcomes.flatMap((o) => (o._tag === "Failed" ? [o] : []))
        const redactor = request.redactor ?? serverValuesOnly
        if (failures.length > 0)
          return yield* new PruneError({
            reason: "PruneFailed",
            message: `prune failed: ${failures
              .map((f) => redactor.redact(f.message, f.live === undefined ? [f.ref] : [f.ref, f.live]))
              .join("; ")}`,
            objects: failures.map((f) => formatRef(f.ref)),
            remaining: failures.map((f) => f.inventory),
            changeSet: changeSetOf(outcomes),
            retryable: true,
          })
        return { changeSet: changeSetOf(outcomes) }
      })
      return Pruner.of({ prune })
    }),
  )
}

const changeSetOf = (outcomes: ReadonlyArray<Outcome>): ReadonlyArray<PruneEntry> =>
  outcomes.flatMap((o) => (o._tag === "Done" && o.entry !== undefined ? [o.entry] : []))

const pruneOne = (
  client: KubeClient["Service"],
  mapper: RESTMapper["Service"],
  identity: Identity,
  owner: Owner,
  inventory: InventoryEntry,
  ref: ObjectRef,
): Effect.Effect<Outcome> =>
  Effect.gen(function* () {
    const resource = yield* mapper.resolve(apiVersionOf(ref), ref.kind).pipe(Effect.result)
    // The kind is gone from the API (its CRD was deleted), so its objects are gone too.
    if (resource._tag === "Failure")
      return resource.failure._tag === "UnknownKindError"
        ? ({ _tag: "Done" } as const)
        : failed(inventory, ref, identity, resource.failure)
    const r: ResourceRef = resource.success
    const namespace = ref.namespace || undefined
    const live = yield* retryTransient(client.getOption<KubeObject>(r, ref.name, namespace)).pipe(
      Effect.result,
    )
    if (live._tag === "Failure") return failed(inventory, ref, identity, live.failure)
    if (live.success._tag === "None") return { _tag: "Done" } as const
    const obj = live.success.value
    if (obj.metadata.deletionTimestamp !== undefined)
      return { _tag: "Done", entry: { ref, action: "deleted" } } as const
    if (!isOwnedBy(obj, owner) || pruneDisabled(obj))
      return { _tag: "Done", entry: { ref, action: "skipped" } } as const
    const del = yield* retryTransient(
      client.delete(r, ref.name, namespace, {
        propagationPolicy: "Background",
        ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}),
      }),
    ).pipe(Effect.result)
    if (del._tag === "Failure") {
      // A uid precondition failure: the object was replaced meanwhile; the new one is not ours to delete.
      if (del.failure._tag === "KubeApiError" && del.failure.code === 409)
        return { _tag: "Done", entry: { ref, action: "skipped" } } as const
      return failed(inventory, ref, identity, del.failure, obj)
    }
    return { _tag: "Done", entry: { ref, action: "deleted" } } as const
  })

const failed = (
  inventory: InventoryEntry,
  ref: ObjectRef,
  identity: Identity,
  e: KubeError | { readonly message: string },
  live?: KubeObject,
): Outcome => ({
  _tag: "Failed",
  inventory,
  ref,
  live,
  message:
    "code" in e && e.code === 403 && identity._tag === "ServiceAccount"
      ? `${formatRef(ref)} delete is forbidden for ${describeIdentity(identity)}: ${e.message}`
      : `${formatRef(ref)}: ${e.message}`,
})

/** Polls until the deleted objects are gone; returns those still present at the deadline. */
const waitGone = (
  client: KubeClient["Service"],
  mapper: RESTMapper["Service"],
  refs: ReadonlyArray<ObjectRef>,
  timeout: Duration.Duration,
): Effect.Effect<ReadonlyArray<ObjectRef>> => {
  const present = Effect.forEach(refs, (ref) =>
    mapper.resolve(apiVersionOf(ref), ref.kind).pipe(
      Effect.flatMap((r) => client.getOption(r, ref.name, ref.namespace || undefined)),
      Effect.map((o) => (o._tag === "Some" ? [ref] : [])),
      Effect.catch(() => Effect.succeed([] as Array<ObjectRef>)),
    ),
  ).pipe(Effect.map((xs) => xs.flat()))
  return present.pipe(
    Effect.flatMap((left) => (left.length === 0 ? Effect.succeed(left) : Effect.fail(left))),
    Effect.retry({ schedule: Schedule.spaced("500 millis") }),
    Effect.timeoutOrElse({ duration: timeout, orElse: () => present }),
    Effect.catch((left) => Effect.succeed(left)),
  )
}
