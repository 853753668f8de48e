/**
 * The cluster a Kustomization applies to. Without `spec.kubeConfig` it is the controller's own; with
 * `spec.kubeConfig.secretRef` it is the cluster of the kubeconfig in that Secret (Kustomization's namespace; key
 * `key`, else `value`, else `value.yaml` — Flux's precedence), read under Flux's rules (`untrusted-kubeconfig.ts`).
 * Apply, the drift checks, prune, health checks and the finalizer's prune all run against it, impersonating
 * `spec.serviceAccountName` there; status, Events, sources and the build's Secrets stay on the management cluster.
 *
 * One connection pool per Kustomization, kept while the Secret's uid and resourceVersion stay the same: a changed
 * Secret closes the old pool and opens a new one, as does {@link RemoteClusters.release} (the Kustomization was
 * deleted or no longer names a kubeconfig). A new pool is probed once (`GET /api`, as the controller's identity),
 * so an unreachable cluster or rejected credentials fail naming the Secret and key, never its content.
 *
 * @module
 */
import { Context, Data, Effect, Exit, Layer, Option, Scope } from "effect"
import { KubeClient } from "../../kube/client.ts"
import type { KubeError } from "../../kube/errors.ts"
import type { ObjectKey } from "../../kube/resource.ts"
import { RESTMapper } from "../../kube/restmapper.ts"
import {
  connectUntrusted,
  type KubeConfigPolicy,
  parseUntrustedKubeConfig,
  type RemoteLimits,
} from "../../kube/untrusted-kubeconfig.ts"
import type { SecretData } from "../build/config-lookup.ts"
import { KubeAccess } from "./impersonation.ts"

/** What the cluster-side stages need of a cluster: clients per identity and discovery. */
export interface TargetCluster {
  readonly access: KubeAccess["Service"]
  readonly mapper: RESTMapper["Service"]
  /**
   * For a remote cluster, the kubeconfig Secret's `uid@resourceVersion`: part of the inputs the no-change path
   * compares, so a changed kubeconfig takes the full reconcile path. Undefined for the controller's cluster.
   */
  readonly version?: string | undefined
}

/** The kubeconfig Secret is missing, lacks the key, holds an unusable kubeconfig, or its cluster is unreachable. */
export class RemoteClusterError extends Data.TaggedError("RemoteClusterError")<{
  readonly message: string
}> {
  /** Flux's reason when the remote client cannot be built; retried (the Secret may be fixed). */
  readonly reason = "ReconciliationFailed"
}

export interface KubeConfigSecretRef {
  readonly name: string
  readonly key?: string | undefined
}

interface Entry {
  readonly version: string
  readonly scope: Scope.Closeable
  readonly cluster: TargetCluster
}

/** Flux's key precedence: the given key, else `value`, else `value.yaml`. */
const selectKey = (
  secret: SecretData,
  ref: KubeConfigSecretRef,
  subject: string,
): Effect.Effect<{ readonly key: string; readonly bytes: Buffer }, RemoteClusterError> => {
  const key =
    ref.key !== undefined && ref.key !== ""
      ? ref.key
      : secret.data.value !== undefined
        ? "value"
        : secret.data["value.yaml"] !== undefined
          ? "value.yaml"
          : undefined
  const value = key === undefined ? undefined : secret.data[key]
  if (key === undefined || value === undefined)
    return Effect.fail(
      new RemoteClusterError({
        message: `${subject} does not contain a '${key ?? "value"}' key with a kubeconfig`,
      }),
    )
  return Effect.succeed({ key, bytes: Buffer.from(value, "base64") })
}

/**
 * The remote clusters of one controller, keyed by Kustomization. `readSecret` reads from the management cluster
 * (the Secret is in the Kustomization's namespace there).
 */
export const makeRemoteClusters = (options: {
  readonly readSecret: (
    namespace: string,
    name: string,
  ) => Effect.Effect<Option.Option<SecretData>, KubeError>
  readonly policy: KubeConfigPolicy
  /** Per-request bounds on the remote server (tests shorten them); `defaultRemoteLimits` otherwise. */
  readonly limits?: RemoteLimits | undefined
}) => {
  const entries = new Map<ObjectKey, Entry>()

  const release = Effect.fn("RemoteClusters.release")(function* (owner: ObjectKey) {
    const entry = entries.get(owner)
    if (entry === undefined) return
    entries.delete(owner)
    yield* Scope.close(entry.scope, Exit.void)
  })

  const open = Effect.fn("RemoteClusters.open")(function* (bytes: Buffer, subject: string) {
    const fail = (detail: string) => new RemoteClusterError({ message: `${subject} ${detail}` })
    const endpoint = yield* parseUntrustedKubeConfig(bytes, options.policy).pipe(
      Effect.mapError((e) => fail(e.message)),
    )
    const conn = yield* connectUntrusted(endpoint, bytes, options.limits).pipe(
      Effect.mapError((e) => fail(e.message)),
    )
    const scope = yield* Scope.make()
    yield* Scope.addFinalizer(
      scope,
      Effect.sync(() => conn.close()),
    )
    // Fresh: layers are memoised per process, and the process already built `RESTMapper.layer` for its own cluster.
    const services = yield* Layer.buildWithScope(
      Layer.fresh(
        Layer.mergeAll(
          KubeAccess.fromConnection(conn),
          RESTMapper.layer.pipe(Layer.provideMerge(KubeClient.fromConnection(conn))),
        ),
      ),
      scope,
    )
    // One discovery GET as the kubeconfig's own identity: an unreachable server or refused credentials are
    // reported here, naming the Secret, rather than as some object's apply error.
    const probe = yield* Context.get(services, KubeClient)
      .request({ method: "GET", verb: "discovery", path: "/api" })
      .pipe(Effect.result)
    if (probe._tag === "Failure") {
      yield* Scope.close(scope, Exit.void)
      const e = probe.failure
      return yield* fail(
        e._tag === "KubeApiError"
          ? `has credentials the remote cluster refused (${e.code} ${e.reason})`
          : `points at a cluster that cannot be reached (${e.message})`,
      )
    }
    return { scope, access: Context.get(services, KubeAccess), mapper: Context.get(services, RESTMapper) }
  })

  /** The remote cluster of a Kustomization's `spec.kubeConfig.secretRef`, opened or reused. */
  const resolve = Effect.fn("RemoteClusters.resolve")(function* (
    owner: ObjectKey,
    namespace: string,
    ref: KubeConfigSecretRef,
  ) {
    const secretSubject = `KubeConfig secret '${namespace}/${ref.name}'`
    const found = yield* options
      .readSecret(namespace, ref.name)
      .pipe(
        Effect.mapError(
          (e) => new RemoteClusterError({ message: `unable to read ${secretSubject}: ${e.message}` }),
        ),
      )
    if (Option.isNone(found)) {
      yield* release(owner)
      return yield* new RemoteClusterError({ message: `${secretSubject} not found` })
    }
    const secret = found.value
    const { key, bytes } = yield* selectKey(secret, ref, secretSubject)
    const version = `${secret.uid}@${secret.resourceVersion}#${key}`
    const cached = entries.get(owner)
    if (cached !== undefined && cached.version === version) return cached.cluster
    yield* release(owner)
    const opened = yield* open(bytes, `${secretSubject} key '${key}'`)
    const cluster: TargetCluster = { access: opened.access, mapper: opened.mapper, version }
    entries.set(owner, { version, scope: opened.scope, cluster })
    return cluster
  })

  /** How many remote connection pools are open (for tests and metrics). */
  const size = () => entries.size

  return { resolve, release, size }
}

export type RemoteClusters = ReturnType<typeof makeRemoteClusters>
