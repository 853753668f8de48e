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
import { Data, Effect } from "effect"
import type { KubeClient } from "../../kube/client.ts"
import { type AwsCredentials, describeAwsError } from "../../sops/keys/aws-kms.ts"
import type { InvolvedObject, TokenCache } from "./token-cache.ts"

const serviceAccounts = {
  group: "",
  version: "v1",
  plural: "serviceaccounts",
  kind: "ServiceAccount",
  namespaced: true,
} as const

export const awsAudience = "sts.amazonaws.com"
export const roleArnAnnotation = "eks.amazonaws.com/role-arn"
const roleArnPattern = /^arn:aws[\w-]*:iam::[0-9]{1,30}:role\/.{1,200}$/

/** Getting credentials for a ServiceAccount failed; the message is Flux's and holds no token. */
export class WorkloadIdentityError extends Data.TaggedError("WorkloadIdentityError")<{
  readonly message: string
}> {}

export interface WebIdentityOptions {
  readonly kube: KubeClient["Service"]
  readonly cache: TokenCache<AwsCredentials>
  /** `AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL`. */
  readonly stsEndpoint?: string | undefined
}

const kubeMessage = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** Credentials for `namespace/name` in `region`, from the cache or a fresh TokenRequest + STS exchange. */
export const webIdentityCredentials = Effect.fn("webIdentityCredentials")(function* (
  opts: WebIdentityOptions,
  serviceAccount: { readonly namespace: string; readonly name: string },
  region: string,
  involved: InvolvedObject,
) {
  const { namespace, name } = serviceAccount
  const ref = `${namespace}/${name}`
  const sa = yield* opts.kube
    .get(serviceAccounts, name, namespace)
    .pipe(
      Effect.mapError(
        (e) =>
          new WorkloadIdentityError({ message: `failed to get service account '${ref}': ${kubeMessage(e)}` }),
      ),
    )
  const role = sa.metadata.annotations?.[roleArnAnnotation] ?? ""
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
    const answer = (yield* opts.kube
      .request({
        method: "POST",
        verb: "create",
        path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}/token`,
        body: {
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenRequest",
          spec: { audiences: [awsAudience] },
        },
      })
      .pipe(
        Effect.mapError(
          (e) =>
            new WorkloadIdentityError({
              message: `failed to create kubernetes token for service account '${ref}': ${kubeMessage(e)}`,
            }),
        ),
      )) as { status?: { token?: unknown } }
    const token = answer.status?.token
    if (typeof token !== "string" || token === "")
      return yield* new WorkloadIdentityError({
        message: `failed to create kubernetes token for service account '${ref}': no token in the answer`,
      })
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
