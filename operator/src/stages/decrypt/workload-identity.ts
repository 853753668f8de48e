/**
 * What every provider's object-level workload identity starts with, as Flux's auth package does it: the decryption
 * ServiceAccount is read on every request (its annotations name the cloud identity, so a changed annotation takes
 * effect at once), and a TokenRequest issues a token for it with the provider's audience, which the provider's
 * STS exchanges. Errors carry Flux's messages and never a token.
 *
 * @module
 */
import { Data, Effect } from "effect"
import type { KubeClient } from "../../kube/client.ts"

/** Getting provider credentials for a ServiceAccount failed; the message is Flux's and holds no token. */
export class WorkloadIdentityError extends Data.TaggedError("WorkloadIdentityError")<{
  readonly message: string
}> {}

export interface ServiceAccountRef {
  readonly namespace: string
  readonly name: string
}

export const serviceAccountName = (sa: ServiceAccountRef) => `${sa.namespace}/${sa.name}`

const serviceAccounts = {
  group: "",
  version: "v1",
  plural: "serviceaccounts",
  kind: "ServiceAccount",
  namespaced: true,
} as const

const kubeMessage = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** The ServiceAccount's annotations (none: an empty record). */
export const serviceAccountAnnotations = Effect.fn("serviceAccountAnnotations")(function* (
  kube: KubeClient["Service"],
  sa: ServiceAccountRef,
) {
  const object = yield* kube.get(serviceAccounts, sa.name, sa.namespace).pipe(
    Effect.mapError(
      (e) =>
        new WorkloadIdentityError({
          message: `failed to get service account '${serviceAccountName(sa)}': ${kubeMessage(e)}`,
        }),
    ),
  )
  return object.metadata.annotations ?? {}
})

/** A token for the ServiceAccount with `audience` (TokenRequest, the API server's default lifetime). */
export const serviceAccountToken = Effect.fn("serviceAccountToken")(function* (
  kube: KubeClient["Service"],
  sa: ServiceAccountRef,
  audience: string,
) {
  const failed = (reason: string) =>
    new WorkloadIdentityError({
      message: `failed to create kubernetes token for service account '${serviceAccountName(sa)}': ${reason}`,
    })
  const answer = (yield* kube
    .request({
      method: "POST",
      verb: "create",
      path: `/api/v1/namespaces/${encodeURIComponent(sa.namespace)}/serviceaccounts/${encodeURIComponent(sa.name)}/token`,
      body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { audiences: [audience] } },
    })
    .pipe(Effect.mapError((e) => failed(kubeMessage(e))))) as { status?: { token?: unknown } }
  const token = answer.status?.token
  if (typeof token !== "string" || token === "") return yield* failed("no token in the answer")
  return token
})
