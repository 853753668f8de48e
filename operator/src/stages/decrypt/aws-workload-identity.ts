/**
 * Object-level workload identity for AWS KMS, as Flux does it (fluxcd/pkg/auth/aws): the decryption
 * ServiceAccount's `eks.amazonaws.com/role-arn` annotation names the role; a TokenRequest issues a token for that
 * ServiceAccount with the audience `sts.amazonaws.com`; STS AssumeRoleWithWebIdentity (unsigned, in the key's
 * region, session `<sa>.<namespace>.<region>.fluxcd.io`) exchanges it for temporary credentials, cached in the
 * {@link TokenCache} per (provider, audience, role, ServiceAccount, STS region). The ServiceAccount is read on
 * every request, so a changed annotation takes effect at once.
 *
 * @module
 */
import { AssumeRoleWithWebIdentityCommand, STSClient } from "@aws-sdk/client-sts"
import { Effect } from "effect"
import type { KubeClient } from "../../kube/client.ts"
import { type AwsCredentials, describeAwsError } from "../../sops/keys/aws-kms.ts"
import type { InvolvedObject, TokenCache } from "./token-cache.ts"
import {
  type ServiceAccountRef,
  serviceAccountAnnotations,
  serviceAccountName,
  serviceAccountToken,
  WorkloadIdentityError,
} from "./workload-identity.ts"

export const awsAudience = "sts.amazonaws.com"
export const roleArnAnnotation = "eks.amazonaws.com/role-arn"
const roleArnPattern = /^arn:aws[\w-]*:iam::[0-9]{1,30}:role\/.{1,200}$/

export interface WebIdentityOptions {
  readonly kube: KubeClient["Service"]
  readonly cache: TokenCache<AwsCredentials>
  /** `AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL`. */
  readonly stsEndpoint?: string | undefined
}

/** Credentials for `namespace/name` in `region`, from the cache or a fresh TokenRequest + STS exchange. */
export const webIdentityCredentials = Effect.fn("webIdentityCredentials")(function* (
  opts: WebIdentityOptions,
  serviceAccount: ServiceAccountRef,
  region: string,
  involved: InvolvedObject,
) {
  const { namespace, name } = serviceAccount
  const ref = serviceAccountName(serviceAccount)
  const annotations = yield* serviceAccountAnnotations(opts.kube, serviceAccount)
  const role = annotations[roleArnAnnotation] ?? ""
  if (!roleArnPattern.test(role))
    return yield* new WorkloadIdentityError({
      message: `failed to get provider identity from service account '${ref}' annotations: invalid ${roleArnAnnotation} annotation: '${role}'. must match ${roleArnPattern.source}`,
    })
  const key = [
    "provider=aws",
    `audiences=${awsAudience}`,
    `providerIdentity=${role}`,
    `serviceAccountName=${name}`,
    `serviceAccountNamespace=${namespace}`,
    `stsRegion=${region}`,
    ...(opts.stsEndpoint ? [`stsEndpoint=${opts.stsEndpoint}`] : []),
  ].join(",")

  const fetch = Effect.gen(function* () {
    const token = yield* serviceAccountToken(opts.kube, serviceAccount, awsAudience)
    const sts = new STSClient({
      region,
      maxAttempts: 4,
      requestHandler: { connectionTimeout: 3_000, requestTimeout: 10_000, throwOnRequestTimeout: true },
      ...(opts.stsEndpoint ? { endpoint: opts.stsEndpoint } : {}),
    })
    const out = yield* Effect.tryPromise({
      try: (abortSignal) =>
        sts.send(
          new AssumeRoleWithWebIdentityCommand({
            RoleArn: role,
            RoleSessionName: `${name}.${namespace}.${region}.fluxcd.io`,
            WebIdentityToken: token,
          }),
          { abortSignal },
        ),
      catch: (e) =>
        new WorkloadIdentityError({
          message: `failed to create provider access token for service account '${ref}': ${describeAwsError(e, [token])}`,
        }),
    }).pipe(Effect.ensuring(Effect.sync(() => sts.destroy())))
    const c = out.Credentials
    if (c?.AccessKeyId === undefined || c.SecretAccessKey === undefined)
      return yield* new WorkloadIdentityError({
        message: `failed to create provider access token for service account '${ref}': credentials are nil`,
      })
    const expiration = c.Expiration ?? new Date(0)
    return {
      token: {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
        expiration,
      } satisfies AwsCredentials as AwsCredentials,
      lifetimeMs: Math.max(0, expiration.getTime() - Date.now()),
    }
  })
  return yield* opts.cache.getOrSet(key, fetch, involved)
})
