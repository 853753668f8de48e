import { Clock, Effect, Option } from "effect"
import { KubeClient } from "../kube/client.ts"
import type { KubeError } from "../kube/errors.ts"
import type { KubeObject } from "../kube/object.ts"
import { CoreResources } from "../kube/resource.ts"
import { leaderGauge, record } from "../metrics/metrics.ts"

export interface LeaderElectionOptions {
  readonly namespace: string
  readonly name: string
  /** This process's identity (pod name + random suffix). */
  readonly identity: string
  /** How long a lease is valid without renewal; a standby takes over after this. Default 15 s. */
  readonly leaseDurationMs?: number | undefined
  /** The leader gives up if it could not renew for this long. Default 10 s. */
  readonly renewDeadlineMs?: number | undefined
  /** How often to try to acquire / renew. Default 2 s. */
  readonly retryPeriodMs?: number | undefined
}

interface LeaseSpec {
  holderIdentity?: string | null
  leaseDurationSeconds?: number
  acquireTime?: string | null
  renewTime?: string | null
  leaseTransitions?: number
}

interface Lease extends KubeObject {
  readonly spec?: LeaseSpec
}

const microTime = (ms: number) => `${new Date(ms).toISOString().slice(0, 23)}000Z`

/**
 * client-go's leader election over a coordination.k8s.io/v1 Lease. Expiry is judged by the local clock
 * from when this process last saw the lease change (not the holder's renewTime), so clock skew between
 * nodes does not matter. Writes use the lease's resourceVersion, so two candidates never both win.
 */
export const makeLeaderElector = (options: LeaderElectionOptions) =>
  Effect.gen(function* () {
    const client = yield* KubeClient
    const leaseDurationMs = options.leaseDurationMs ?? 15_000
    const renewDeadlineMs = options.renewDeadlineMs ?? 10_000
    const retryPeriodMs = options.retryPeriodMs ?? 2_000
    const ref = CoreResources.lease
    let observed: { resourceVersion: string | undefined; holder: string; atMs: number } | undefined
    let lastRenewMs = 0
    let leading = false
    /** The last look at the lease found another holder (this process may not know yet that it lost). */
    let heldByOther = false
    // A standby reports 0, so every replica has the series and a dashboard can tell them apart.
    yield* record(leaderGauge, { name: options.name }, 0)

    const body = (current: Lease | undefined, now: number, transitions: number): Lease => ({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: {
        name: options.name,
        namespace: options.namespace,
        ...(current?.metadata.resourceVersion ? { resourceVersion: current.metadata.resourceVersion } : {}),
      },
      spec: {
        holderIdentity: options.identity,
        leaseDurationSeconds: Math.max(1, Math.ceil(leaseDurationMs / 1000)),
        acquireTime:
          current?.spec?.holderIdentity === options.identity
            ? (current.spec.acquireTime ?? microTime(now))
            : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: transitions,
      },
    })

    /** One attempt to acquire or renew; true when this process holds the lease afterwards. */
    const tryAcquireOrRenew: Effect.Effect<boolean, KubeError> = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const existing = yield* client.getOption<Lease>(ref, options.name, options.namespace)
      if (Option.isNone(existing)) {
        const created = yield* client.create<Lease>(ref, body(undefined, now, 0)).pipe(
          Effect.map(() => true),
          Effect.catchTag("KubeApiError", (e) => (e.code === 409 ? Effect.succeed(false) : Effect.fail(e))),
        )
        if (created) lastRenewMs = now
        return created
      }
      const lease = existing.value
      const holder = lease.spec?.holderIdentity ?? ""
      if (observed === undefined || observed.resourceVersion !== lease.metadata.resourceVersion) {
        observed = { resourceVersion: lease.metadata.resourceVersion, holder, atMs: now }
      }
      const durationMs = (lease.spec?.leaseDurationSeconds ?? leaseDurationMs / 1000) * 1000
      const held = holder !== "" && holder !== options.identity && now < observed.atMs + durationMs
      heldByOther = holder !== "" && holder !== options.identity
      if (held) return false
      const transitions = (lease.spec?.leaseTransitions ?? 0) + (holder === options.identity ? 0 : 1)
      const updated = yield* client.replace<Lease>(ref, body(lease, now, transitions)).pipe(
        Effect.map(() => true),
        Effect.catchTag("KubeApiError", (e) => (e.isConflict ? Effect.succeed(false) : Effect.fail(e))),
      )
      if (updated) {
        lastRenewMs = now
        heldByOther = false
      }
      return updated
    })

    const attempt = tryAcquireOrRenew.pipe(
      Effect.catch((error) =>
        Effect.logWarning("leader election request failed").pipe(
          Effect.annotateLogs({ error: error.message }),
          Effect.as(false),
        ),
      ),
    )

    /** Waits until this process holds the lease. */
    const acquire = Effect.gen(function* () {
      while (!(yield* attempt)) yield* Effect.sleep(retryPeriodMs)
      leading = true
      yield* record(leaderGauge, { name: options.name }, 1)
      yield* Effect.logInfo("became leader").pipe(
        Effect.annotateLogs({ lease: `${options.namespace}/${options.name}`, identity: options.identity }),
      )
    })

    /** Renews until it cannot for `renewDeadlineMs`; returns when leadership is lost. */
    const holdUntilLost = Effect.gen(function* () {
      while (true) {
        yield* Effect.sleep(retryPeriodMs)
        const ok = yield* attempt
        const now = yield* Clock.currentTimeMillis
        if (!ok && now - lastRenewMs > renewDeadlineMs) {
          leading = false
          yield* record(leaderGauge, { name: options.name }, 0)
          yield* Effect.logError("lost leadership")
          return
        }
      }
    })

    /**
     * Gives the lease up so a standby takes it at once: holder cleared, duration 1 s (client-go
     * `ReleaseOnCancel`). Only if this process still holds it.
     */
    const release = Effect.gen(function* () {
      if (!leading) return
      leading = false
      yield* record(leaderGauge, { name: options.name }, 0)
      const existing = yield* client.getOption<Lease>(ref, options.name, options.namespace)
      if (Option.isNone(existing) || existing.value.spec?.holderIdentity !== options.identity) return
      const now = yield* Clock.currentTimeMillis
      const lease = existing.value
      yield* client.replace(ref, {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: "",
          leaseDurationSeconds: 1,
          renewTime: microTime(now),
          acquireTime: null,
        },
      })
      yield* Effect.logInfo("released leadership")
    }).pipe(
      Effect.catch((error) =>
        Effect.logWarning("could not release the lease").pipe(Effect.annotateLogs({ error: error.message })),
      ),
    )

    return {
      acquire,
      holdUntilLost,
      release,
      isLeader: () => leading,
      /**
       * Whether this process may write what only the leader writes (journals): it leads and the last look at
       * the lease found it the holder. Stricter than `isLeader`, which holds until the renew deadline passes.
       */
      holdsLease: () => leading && !heldByOther,
      renewHealthy: (nowMs: number) => !leading || nowMs - lastRenewMs <= renewDeadlineMs + retryPeriodMs,
    }
  })

export type LeaderElector = Effect.Success<ReturnType<typeof makeLeaderElector>>
