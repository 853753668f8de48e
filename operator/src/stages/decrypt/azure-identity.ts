/**
 * Azure Key Vault credentials for a build, as Flux's decryptor picks them: the decryption Secret's
 * `sops.azure-kv` wins; else the decryption ServiceAccount through workload identity (fluxcd/pkg/auth/azure):
 * its `azure.workload.identity/tenant-id` and `azure.workload.identity/client-id` annotations name the app, a
 * TokenRequest issues a token with the audience `api://AzureADTokenExchange`, and Entra exchanges it as a
 * client assertion for an access token of the scope Key Vault's challenge asked for; the access token is cached
 * in the {@link TokenCache} per (provider, audience, identity, ServiceAccount, scopes). Else the controller's own
 * `DefaultAzureCredential`. `AZURE_AUTHORITY_HOST` and the trusted CAs (`SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`) come from the
 * controller's environment only; a tenant's Secret can name its own `authorityHost` (Flux's field), never a CA.
 *
 * @module
 */
import { createHash } from "node:crypto"
import type { AccessToken, TokenCredential } from "@azure/core-auth"
import { ClientAssertionCredential } from "@azure/identity"
import { Effect } from "effect"
import type { KubeClient } from "../../kube/client.ts"
import { KeyFailure } from "../../sops/errors.ts"
import type { MasterKeyService } from "../../sops/index.ts"
import {
  credentialFromAzureConfig,
  defaultAzureCredential,
  identityOptions,
} from "../../sops/keys/azure-credentials.ts"
import { azureHttpClient, azureKvService, caFromEnv, describeAzureError } from "../../sops/keys/azure-kv.ts"
import type { ProviderCredentials } from "./keys.ts"
import type { InvolvedObject, TokenCache } from "./token-cache.ts"
import {
  type ServiceAccountRef,
  serviceAccountAnnotations,
  serviceAccountName,
  serviceAccountToken,
  WorkloadIdentityError,
} from "./workload-identity.ts"

export const azureAudience = "api://AzureADTokenExchange"
export const tenantIdAnnotation = "azure.workload.identity/tenant-id"
export const clientIdAnnotation = "azure.workload.identity/client-id"

export interface AzureIdentityOptions {
  readonly kube: KubeClient["Service"]
  readonly cache: TokenCache<AccessToken>
  /** Runs an effect with the operator's services (metrics, tracing). */
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<A>
  /** The controller's environment (`AZURE_AUTHORITY_HOST`). */
  readonly env: Readonly<Record<string, string | undefined>>
}

/** An access token for `scopes` for `namespace/name`, from the cache or TokenRequest + client assertion. */
export const serviceAccountAccessToken = Effect.fn("serviceAccountAccessToken")(function* (
  opts: AzureIdentityOptions & { readonly httpClient: ReturnType<typeof azureHttpClient> },
  serviceAccount: ServiceAccountRef,
  scopes: ReadonlyArray<string>,
  involved: InvolvedObject,
) {
  const { namespace, name } = serviceAccount
  const ref = serviceAccountName(serviceAccount)
  const annotations = yield* serviceAccountAnnotations(opts.kube, serviceAccount)
  const tenantId = annotations[tenantIdAnnotation]
  const clientId = annotations[clientIdAnnotation]
  const identityProblem =
    tenantId === undefined
      ? `azure tenant ID is not set in the service account annotation ${tenantIdAnnotation}`
      : clientId === undefined
        ? `azure client ID is not set in the service account annotation ${clientIdAnnotation}`
        : undefined
  if (identityProblem !== undefined)
    return yield* new WorkloadIdentityError({
      message: `failed to get provider identity from service account '${ref}' annotations: ${identityProblem}`,
    })
  const key = [
    "provider=azure",
    `audiences=${azureAudience}`,
    `providerIdentity=${tenantId}/${clientId}`,
    `serviceAccountName=${name}`,
    `serviceAccountNamespace=${namespace}`,
    `scopes=${[...scopes].join(",")}`,
  ].join(",")

  const fetch = Effect.gen(function* () {
    const token = yield* serviceAccountToken(opts.kube, serviceAccount, azureAudience)
    const credential = new ClientAssertionCredential(
      tenantId!,
      clientId!,
      async () => token,
      identityOptions(opts.httpClient, opts.env.AZURE_AUTHORITY_HOST),
    )
    const access = yield* Effect.tryPromise({
      try: (abortSignal) => credential.getToken([...scopes], { abortSignal }),
      catch: (e) =>
        new WorkloadIdentityError({
          message: `failed to create provider access token for service account '${ref}': ${describeAzureError(e, [token])}`,
        }),
    })
    return { token: access, lifetimeMs: Math.max(0, access.expiresOnTimestamp - Date.now()) }
  })
  return yield* opts.cache.getOrSet(key, fetch, involved)
})

const failing = (reason: string): MasterKeyService => {
  const fail = Effect.fail(new KeyFailure({ reason }))
  return { type: "azure_kv", decrypt: () => fail, encrypt: () => fail }
}

/** Builds the Azure Key Vault service of each build. */
export const makeAzureKeyProvider = (opts: AzureIdentityOptions) => {
  const httpClient = azureHttpClient({ ca: caFromEnv(opts.env) })
  const controller = azureKvService({ credential: defaultAzureCredential(opts.env, httpClient), httpClient })
  // services for a Secret's credentials are shared by builds with the same credentials (their clients keep
  // connections, tokens and challenge scopes), keyed by a digest; bounded
  const shared = new Map<string, MasterKeyService>()
  return (
    credentials: ReadonlyArray<ProviderCredentials>,
    serviceAccount: ServiceAccountRef | undefined,
    involved: Omit<InvolvedObject, "operation">,
  ): {
    readonly service: MasterKeyService
    readonly identity: "secret" | "serviceaccount" | "controller"
  } => {
    const fromSecret = credentials.find((c) => c.type === "azure_kv")
    if (fromSecret !== undefined && fromSecret.type === "azure_kv") {
      const id = createHash("sha256").update(JSON.stringify(fromSecret.config)).digest("hex")
      let service = shared.get(id)
      if (service === undefined) {
        const made = credentialFromAzureConfig(fromSecret.config, httpClient, opts.env.AZURE_AUTHORITY_HOST)
        // keysFromSecret refuses such a Secret first; this is the same message, should it get here
        if ("error" in made) return { service: failing(made.error), identity: "secret" }
        service = azureKvService({ credential: made.credential, httpClient, secrets: made.secrets })
        shared.set(id, service)
        if (shared.size > 256) shared.delete(shared.keys().next().value!)
      }
      return { service, identity: "secret" }
    }
    if (serviceAccount === undefined) return { service: controller, identity: "controller" }
    const credential: TokenCredential = {
      getToken: (scopes) =>
        opts.run(
          serviceAccountAccessToken({ ...opts, httpClient }, serviceAccount, [scopes].flat(), {
            ...involved,
            operation: "decrypt_with_azure",
          }),
        ),
    }
    // one per build: the ServiceAccount is read and the token cache consulted on every build (as in Flux)
    return { service: azureKvService({ credential, httpClient }), identity: "serviceaccount" }
  }
}
