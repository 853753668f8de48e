/**
 * Who the stages act as. A Kustomization with `serviceAccountName` (or a controller started with
 * `--default-service-account`) applies, prunes and health-checks as that ServiceAccount through
 * Kubernetes impersonation, so its RBAC — not the controller's — bounds what Git can change.
 */
import { Context, Effect, Layer } from "effect"
import { kustomizationResource } from "../../../../model/kustomization.ts"
import { KubeClient } from "../../kube/client.ts"
import { type Connection, connect, type KubeConfigSource } from "../../kube/connection.ts"
import { CrossNamespaceRefsDenied } from "./errors.ts"

/** The controller's own credentials, or an impersonated ServiceAccount. */
export type Identity =
  | { readonly _tag: "Controller" }
  | { readonly _tag: "ServiceAccount"; readonly namespace: string; readonly name: string }

export const controllerIdentity: Identity = { _tag: "Controller" }

/** Controller flags that decide identities and which references are allowed. */
export interface AccessSettings {
  /** `--default-service-account`: used when a Kustomization names none. */
  readonly defaultServiceAccount?: string | undefined
  /** `--no-cross-namespace-refs`: references must stay in the Kustomization's namespace. */
  readonly noCrossNamespaceRefs?: boolean | undefined
}

/** The parts of a Kustomization that decide access. */
export interface AccessSpec {
  readonly namespace: string
  readonly name: string
  readonly serviceAccountName?: string | undefined
  readonly sourceRef?: {
    readonly kind: string
    readonly name: string
    readonly namespace?: string | undefined
  }
  readonly dependsOn?:
    | ReadonlyArray<{ readonly name: string; readonly namespace?: string | undefined }>
    | undefined
}

/** The identity a Kustomization's apply, prune and health checks run as. */
export const identityFor = (spec: AccessSpec, settings: AccessSettings = {}): Identity => {
  const sa = spec.serviceAccountName || settings.defaultServiceAccount
  return sa ? { _tag: "ServiceAccount", namespace: spec.namespace, name: sa } : controllerIdentity
}

export const describeIdentity = (identity: Identity): string =>
  identity._tag === "Controller" ? "the controller" : `ServiceAccount ${identity.namespace}/${identity.name}`

/**
 * The user name Kubernetes gives a ServiceAccount. No `Impersonate-Group`: for a ServiceAccount user the API
 * server adds `system:serviceaccounts` and `system:serviceaccounts:<ns>` itself, and a controller allowed to
 * impersonate groups could also impersonate `system:masters` — so its RBAC grants users only.
 */
export const impersonationHeaders = (identity: Identity): Readonly<Record<string, string>> =>
  identity._tag === "Controller"
    ? {}
    : { "Impersonate-User": `system:serviceaccount:${identity.namespace}:${identity.name}` }

/**
 * With `--no-cross-namespace-refs`, a source or dependency in another namespace is refused: AccessDenied,
 * not retried (only a spec change helps).
 */
export const checkCrossNamespaceRefs = (
  spec: AccessSpec,
  settings: AccessSettings = {},
): Effect.Effect<void, CrossNamespaceRefsDenied> => {
  if (!settings.noCrossNamespaceRefs) return Effect.void
  const refs = [
    ...(spec.sourceRef
      ? [{ what: `${spec.sourceRef.kind} '${spec.sourceRef.name}'`, namespace: spec.sourceRef.namespace }]
      : []),
    ...(spec.dependsOn ?? []).map((d) => ({ what: `dependency '${d.name}'`, namespace: d.namespace })),
  ]
  const offending = refs.flatMap((r) =>
    r.namespace !== undefined && r.namespace !== "" && r.namespace !== spec.namespace
      ? [{ what: r.what, namespace: r.namespace }]
      : [],
  )
  if (offending.length === 0) return Effect.void
  return Effect.fail(
    new CrossNamespaceRefsDenied({
      object: {
        group: kustomizationResource.group,
        version: kustomizationResource.version,
        kind: kustomizationResource.kind,
        namespace: spec.namespace,
        name: spec.name,
      },
      refs: offending,
    }),
  )
}

/** A connection whose requests carry the impersonation headers of `identity`. */
export const impersonating = (conn: Connection, identity: Identity): Connection => {
  if (identity._tag === "Controller") return conn
  const extra = impersonationHeaders(identity)
  return {
    ...conn,
    headers: async () => ({ ...(await conn.headers()), ...extra }),
    close: () => {},
  }
}

/**
 * Hands out API clients per identity. Use it in stages that act on behalf of a Kustomization; the
 * clients share one connection pool and only differ in their impersonation headers.
 */
export class KubeAccess extends Context.Service<
  KubeAccess,
  { readonly client: (identity: Identity) => Effect.Effect<KubeClient["Service"]> }
>()("kustodian/stages/apply/KubeAccess") {
  /** Clients for the cluster of the given connection. */
  static readonly fromConnection = (conn: Connection) =>
    Layer.succeed(KubeAccess, KubeAccess.of({ client: clientsFor(conn) }))

  /** Opens a connection for the kubeconfig; closed with the layer. */
  static readonly layer = (source: KubeConfigSource) =>
    Layer.effect(
      KubeAccess,
      Effect.map(connect(source), (conn) => KubeAccess.of({ client: clientsFor(conn) })),
    )
}

const clientsFor = (conn: Connection) => {
  const cache = new Map<string, KubeClient["Service"]>()
  return (identity: Identity): Effect.Effect<KubeClient["Service"]> =>
    Effect.suspend(() => {
      const key = identity._tag === "Controller" ? "" : `${identity.namespace}/${identity.name}`
      const hit = cache.get(key)
      if (hit !== undefined) return Effect.succeed(hit)
      return Effect.service(KubeClient).pipe(
        Effect.provide(KubeClient.fromConnection(impersonating(conn, identity))),
        Effect.tap((client) => Effect.sync(() => cache.set(key, client))),
      )
    })
}
