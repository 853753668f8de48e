/**
 * Object-level workload identity for GCP KMS, as Flux does it outside GKE (fluxcd/pkg/auth/gcp): the decryption
 * ServiceAccount's `gcp.auth.fluxcd.io/workload-identity-provider` annotation names the pool provider
 * (`projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`); a TokenRequest issues
 * a token for the ServiceAccount with the audience `//iam.googleapis.com/<provider>`; Google's STS exchanges it
 * (RFC 8693) for a federated access token with Flux's scopes, and when `iam.gke.io/gcp-service-account` names a
 * Google service account, IAM Credentials' generateAccessToken impersonates it. The result is cached in the
 * {@link TokenCache} per (provider, audience, service account email, ServiceAccount). The ServiceAccount is
 * read on every request, so a changed annotation takes effect at once.
 *
 * GKE's own workload identity (the audience from the node's metadata server, no annotation) is not available:
 * a ServiceAccount without the provider annotation is refused, naming it.
 *
 * @module
 */
import { Effect } from "effect"
import type { KubeClient } from "../../kube/client.ts"
import {
  federatedToken,
  type GoogleEndpoints,
  type GoogleToken,
  impersonationUrlFor,
} from "../../sops/keys/gcp-credentials.ts"
import type { InvolvedObject, TokenCache } from "./token-cache.ts"
import {
  type ServiceAccountRef,
  serviceAccountAnnotations,
  serviceAccountName,
  serviceAccountToken,
  WorkloadIdentityError,
} from "./workload-identity.ts"

export const workloadIdentityProviderAnnotation = "gcp.auth.fluxcd.io/workload-identity-provider"
export const gcpServiceAccountAnnotation = "iam.gke.io/gcp-service-account"
const providerPattern =
  /^projects\/\d{1,30}\/locations\/global\/workloadIdentityPools\/[^/]{1,100}\/providers\/[^/]{1,100}$/
const emailPattern = /^[a-zA-Z0-9-]{1,100}@[a-zA-Z0-9-]{1,100}\.iam\.gserviceaccount\.com$/
/** Flux's scopes for GCP tokens. */
const fluxScopes = [
  "https://www.googleapis.com/auth/cloud-platform",
  "https://www.googleapis.com/auth/userinfo.email",
]

export interface GcpWorkloadIdentityOptions {
  readonly kube: KubeClient["Service"]
  readonly cache: TokenCache<GoogleToken>
  readonly endpoints: GoogleEndpoints
}

/** A token for `namespace/name`, from the cache or a fresh TokenRequest + STS exchange (+ impersonation). */
export const gcpWorkloadIdentityToken = Effect.fn("gcpWorkloadIdentityToken")(function* (
  opts: GcpWorkloadIdentityOptions,
  serviceAccount: ServiceAccountRef,
  involved: InvolvedObject,
) {
  const { namespace, name } = serviceAccount
  const ref = serviceAccountName(serviceAccount)
  const annotations = yield* serviceAccountAnnotations(opts.kube, serviceAccount)
  const provider = annotations[workloadIdentityProviderAnnotation] ?? ""
  if (provider === "")
    return yield* new WorkloadIdentityError({
      message: `failed to get provider audience from service account '${ref}' annotations: the ${workloadIdentityProviderAnnotation} annotation is required (GKE's metadata-server audience is not available to Kustodian)`,
    })
  if (!providerPattern.test(provider))
    return yield* new WorkloadIdentityError({
      message: `failed to get provider audience from service account '${ref}' annotations: invalid ${workloadIdentityProviderAnnotation} annotation: '${provider}'. must match ${providerPattern.source}`,
    })
  const email = annotations[gcpServiceAccountAnnotation] ?? ""
  if (email !== "" && !emailPattern.test(email))
    return yield* new WorkloadIdentityError({
      message: `failed to get provider identity from service account '${ref}' annotations: invalid ${gcpServiceAccountAnnotation} annotation: '${email}'. must match ${emailPattern.source}`,
    })
  const audience = `//iam.googleapis.com/${provider}`
  const key = [
    "provider=gcp",
    `audiences=${audience}`,
    `providerIdentity=${email}`,
    `serviceAccountName=${name}`,
    `serviceAccountNamespace=${namespace}`,
    `stsEndpoint=${opts.endpoints.stsUrl}`,
  ].join(",")

  const fetch = Effect.gen(function* () {
    const token = yield* serviceAccountToken(opts.kube, serviceAccount, audience)
    const google = yield* Effect.tryPromise({
      try: () =>
        federatedToken(
          {
            audience,
            subjectTokenType: "urn:ietf:params:oauth:token-type:jwt",
            stsUrl: opts.endpoints.stsUrl,
            impersonationUrl:
              email === "" ? undefined : impersonationUrlFor(opts.endpoints.iamCredentialsUrl, email),
            scopes: fluxScopes,
            ca: opts.endpoints.ca,
          },
          token,
        ),
      catch: (e) =>
        new WorkloadIdentityError({
          message: `failed to create provider access token for service account '${ref}': ${(e as Error)?.message ?? String(e)}`,
        }),
    })
    return { token: google, lifetimeMs: Math.max(0, google.expiresAt - Date.now()) }
  })
  return yield* opts.cache.getOrSet(key, fetch, involved)
})
