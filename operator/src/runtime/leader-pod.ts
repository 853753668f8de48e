/**
 * The leader's mark on its own Pod: while this process leads (and its controllers run), its Pod carries
 * `kustodian.io/leader: "true"` and the annotation `kustodian.io/leader-lease: <Lease name>`; a standby's Pod
 * carries neither. The artifact Service selects the label, so it routes only to the replica that has the
 * artifacts (a standby's storage is empty), and Kubernetes' own EndpointSlice controller keeps its endpoints:
 * a leader that dies without unmarking drops out as its Pod stops being Ready or is deleted.
 *
 * A leader unmarks its Pod when it steps down (SIGTERM, or the lease lost) before releasing the lease. One that
 * could not (cut off from the API server) is unmarked by the next leader: on taking over it removes the mark
 * from every other Pod of its namespace marked for the same Lease (shards in one namespace have their own).
 * Failed requests are retried every `retryPeriodMs` until the Pod's mark matches; they never stop the
 * controllers. RBAC: get, list and patch on pods in the controller's own namespace.
 *
 * @module
 */
import { Data, Effect } from "effect"
import { KubeClient } from "../kube/client.ts"
import type { KubeObject } from "../kube/object.ts"
import type { ResourceRef } from "../kube/resource.ts"

export const leaderLabel = "kustodian.io/leader"
export const leaderLeaseAnnotation = "kustodian.io/leader-lease"

export const podResource = {
  group: "",
  version: "v1",
  plural: "pods",
  kind: "Pod",
  namespaced: true,
} as const satisfies ResourceRef

export interface LeaderPodOptions {
  /** The Pod's namespace (`RUNTIME_NAMESPACE`, where the Lease lives too). */
  readonly namespace: string
  /** The Pod's name (`POD_NAME`, from the downward API). */
  readonly name: string
  /** The Lease this process competes for: marks of other Leases (other shards) are left alone. */
  readonly lease: string
  /** How often a failed mark or unmark is tried again. Default 2 s. */
  readonly retryPeriodMs?: number | undefined
}

/** A mark or unmark that the API server refused or could not be sent; retried, never fatal. */
export class LeaderPodError extends Data.TaggedError("LeaderPodError")<{
  readonly pod: string
  readonly message: string
}> {}

/** The JSON merge patch that marks (or unmarks) a Pod as the leader of `lease`. */
export const leaderPatch = (leading: boolean, lease: string) => ({
  metadata: {
    labels: { [leaderLabel]: leading ? "true" : null },
    annotations: { [leaderLeaseAnnotation]: leading ? lease : null },
  },
})

/** Whether a Pod carries the leader mark of `lease`. */
export const isMarked = (pod: KubeObject, lease: string): boolean =>
  pod.metadata.labels?.[leaderLabel] === "true" && pod.metadata.annotations?.[leaderLeaseAnnotation] === lease

/**
 * Pods marked as leader of `lease` that are not `self`: what a new leader unmarks. A marked Pod with another
 * Lease's annotation (another shard's leader), or with none (someone else's label), is not ours to touch.
 */
export const staleLeaders = (
  pods: ReadonlyArray<KubeObject>,
  self: string,
  lease: string,
): ReadonlyArray<string> =>
  pods.filter((p) => p.metadata.name !== self && isMarked(p, lease)).map((p) => p.metadata.name)

/**
 * The mark as state: `set(leading)` records what the Pod should say and tries once; `keepInSync` (forked for the
 * process's life) retries until it does.
 */
export const makeLeaderPodMarker = (options: LeaderPodOptions) =>
  Effect.gen(function* () {
    const client = yield* KubeClient
    const retryPeriodMs = options.retryPeriodMs ?? 2_000
    let desired = false
    /** What the Pod was last patched to; undefined until the first patch (the Pod may hold a stale mark). */
    let applied: boolean | undefined
    let sweepPending = false
    const pod = `${options.namespace}/${options.name}`
    const failed = (e: { readonly message: string }) => new LeaderPodError({ pod, message: e.message })

    const patch = (name: string, leading: boolean) =>
      client.patch(
        podResource,
        { name, namespace: options.namespace },
        leaderPatch(leading, options.lease),
        "merge",
      )

    const sweep = Effect.fn("LeaderPod.sweep")(function* () {
      const pods = yield* client.list(podResource, {
        namespace: options.namespace,
        labelSelector: `${leaderLabel}=true`,
      })
      for (const name of staleLeaders(pods.items, options.name, options.lease)) {
        // Gone since the list: nothing to unmark.
        yield* patch(name, false).pipe(
          Effect.catchTag("KubeApiError", (e) => (e.isNotFound ? Effect.void : Effect.fail(e))),
        )
        yield* Effect.logInfo("unmarked the previous leader's pod").pipe(
          Effect.annotateLogs({ pod: `${options.namespace}/${name}` }),
        )
      }
    })

    /** One attempt to make the Pod say `desired` (and, when leading, to clear other Pods' marks). */
    const sync = Effect.gen(function* () {
      const want = desired
      if (applied !== want) {
        yield* patch(options.name, want)
        applied = want
        yield* Effect.logInfo(want ? "marked this pod as the leader" : "unmarked this pod").pipe(
          Effect.annotateLogs({ pod, label: leaderLabel }),
        )
      }
      if (want && sweepPending) {
        yield* sweep()
        sweepPending = false
      }
    }).pipe(
      Effect.mapError(failed),
      Effect.catch((e) =>
        Effect.logWarning("could not update the leader mark on this pod; retrying").pipe(
          Effect.annotateLogs({ pod, error: e.message }),
        ),
      ),
    )

    const set = Effect.fn("LeaderPod.set")(function* (leading: boolean) {
      desired = leading
      if (leading) sweepPending = true
      yield* sync
    })

    const keepInSync = Effect.gen(function* () {
      while (true) {
        yield* Effect.sleep(retryPeriodMs)
        if (applied !== desired || (desired && sweepPending)) yield* sync
      }
    })

    return { set, keepInSync, inSync: () => applied === desired && !(desired && sweepPending) }
  })

export type LeaderPodMarker = Effect.Success<ReturnType<typeof makeLeaderPodMarker>>
