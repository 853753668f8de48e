/**
 * Routes provider credentials to the SOPS engine's key providers, as Flux's decryptor does: credentials from
 * the decryption Secret win (`sops.aws-kms`, `sops.azure-kv`, `sops.gcp-kms`); otherwise the decryption
 * ServiceAccount (the Kustomization's `spec.decryption.serviceAccountName`, else
 * `--default-decryption-service-account`) authenticates through
 * workload identity; otherwise the controller's own environment (the SDK's default chain, e.g. IRSA on the
 * controller's pod). Each provider is one module behind {@link MasterKeyService} (Azure Key Vault's choice of
 * credentials is in azure-identity.ts, GCP KMS' workload identity in gcp-workload-identity.ts); Vault transit
 * takes the Secret's `sops.vault-token` and nothing else. A key type without a provider here (HuaweiCloud KMS)
 * fails with an error naming it.
 *
 * @module
 */
import { createHash } from "node:crypto"
import { Context, Effect, Layer } from "effect"
import { KubeClient } from "../../kube/client.ts"
import { KeyFailure } from "../../sops/errors.ts"
import type { MasterKeyService } from "../../sops/index.ts"
import { type AwsCredentials, awsKmsService } from "../../sops/keys/aws-kms.ts"
import {
  adcTokenSource,
  credentialsFromJson,
  type GoogleToken,
  googleEndpoints,
  type TokenSource,
} from "../../sops/keys/gcp-credentials.ts"
import { gcpKmsService } from "../../sops/keys/gcp-kms.ts"
import { vaultTransitService } from "../../sops/keys/hc-vault.ts"
import { webIdentityCredentials } from "./aws-workload-identity.ts"
import { makeAzureKeyProvider } from "./azure-identity.ts"
import { gcpWorkloadIdentityToken } from "./gcp-workload-identity.ts"
import type { ProviderCredentials, ProviderType } from "./keys.ts"
import { makeTokenCache, type TokenCache } from "./token-cache.ts"

/** Human names of the provider key types, as errors show them. */
export const providerNames: Record<string, string> = {
  hc_vault: "HashiCorp Vault / OpenBao transit",
  kms: "AWS KMS",
  azure_kv: "Azure Key Vault",
  gcp_kms: "GCP KMS",
  hckms: "HuaweiCloud KMS",
}

/** What one build's key services are made for. */
export interface ProviderRequest {
  /** Parsed provider entries of the decryption Secret (none without one). */
  readonly credentials: ReadonlyArray<ProviderCredentials>
  /** The Kustomization (its namespace holds the ServiceAccount; names label the token-cache metrics). */
  readonly namespace: string
  readonly name: string
  /** `spec.decryption.serviceAccountName`. */
  readonly serviceAccountName?: string | undefined
}

/** The identity a build's provider credentials come from: part of its data-key cache scope. */
export type ProviderIdentity = "secret" | `serviceaccount:${string}` | "controller"

/** The identity of a build whose providers authenticate differently: the ServiceAccount, else the controller. */
const strongest = (a: ProviderIdentity, b: ProviderIdentity): ProviderIdentity =>
  a.startsWith("serviceaccount:") ? a : b.startsWith("serviceaccount:") ? b : a === "controller" ? a : b

/** `--feature-gates=ObjectLevelWorkloadIdentity=true` and `--default-decryption-service-account`. */
export interface KeyProviderOptions {
  readonly objectLevelWorkloadIdentity: boolean
  readonly defaultDecryptionServiceAccount?: string | undefined
  /** Where `AWS_ENDPOINT_URL[_KMS|_STS]` are read; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** `--token-cache-max-size` (default 100, 0 = no cache) and `--token-cache-max-duration` (default 1 h). */
  readonly tokenCache?: { readonly maxSize: number; readonly maxDurationMs: number }
}

/** Builds key services from credentials. */
export class KeyProviders extends Context.Service<
  KeyProviders,
  {
    /** The key types this build can open (with or without credentials from the Secret). */
    readonly available: ReadonlyArray<ProviderType>
    /** Whether `spec.decryption.serviceAccountName` may be used (the ObjectLevelWorkloadIdentity gate). */
    readonly objectLevelWorkloadIdentity: boolean
    /** The ServiceAccount a request authenticates as, when workload identity applies. */
    readonly serviceAccountFor: (request: ProviderRequest) => string | undefined
    /** Services for a build, and the identity their credentials come from. */
    readonly services: (request: ProviderRequest) => {
      readonly services: ReadonlyArray<MasterKeyService>
      readonly identity: ProviderIdentity
    }
  }
>()("kustodian/stages/decrypt/KeyProviders") {
  /** No provider beyond age and OpenPGP (tests of the engine without a cloud). */
  static readonly none = Layer.succeed(
    KeyProviders,
    KeyProviders.of({
      available: [],
      objectLevelWorkloadIdentity: false,
      serviceAccountFor: () => undefined,
      services: () => ({ services: [], identity: "controller" }),
    }),
  )

  /** AWS KMS, GCP KMS, Azure Key Vault and Vault transit, with workload identity through the API server's TokenRequest. */
  static layer(options: KeyProviderOptions) {
    return Layer.effect(
      KeyProviders,
      Effect.gen(function* () {
        const kube = yield* KubeClient
        // Credential lookups run inside the SDK's promise-based resolution: with this fiber's services, so
        // metrics and tracing land where the rest of the operator's do.
        const services = yield* Effect.context<never>()
        const run = Effect.runPromiseWith(services)
        const env = options.env ?? process.env
        const stsEndpoint = env.AWS_ENDPOINT_URL_STS || env.AWS_ENDPOINT_URL || undefined
        // one cache for every provider, as Flux's: keys start with the provider's name, so values never mix
        const cache = makeTokenCache<AwsCredentials | GoogleToken>(
          options.tokenCache?.maxSize ?? 100,
          options.tokenCache?.maxDurationMs,
        )
        // Services for static keys are shared between builds with the same keys: their SDK clients keep
        // connections (and assumed-role credentials) instead of opening new ones per reconcile. Bounded.
        const controllerKms = awsKmsService({ env })
        const shared = new Map<string, MasterKeyService>()
        const reuse = (key: string, make: () => MasterKeyService) => {
          let service = shared.get(key)
          if (service === undefined) {
            service = make()
            shared.set(key, service)
            if (shared.size > 256) shared.delete(shared.keys().next().value!)
          }
          return service
        }

        const serviceAccountFor = (r: ProviderRequest) =>
          r.serviceAccountName || options.defaultDecryptionServiceAccount || undefined
        const azure = makeAzureKeyProvider({
          kube,
          run,
          env,
          cache: makeTokenCache(options.tokenCache?.maxSize ?? 100, options.tokenCache?.maxDurationMs),
        })
        /** Adds the Azure Key Vault service; the build's identity is the most specific of the two. */
        const withAzure = (
          r: ProviderRequest,
          aws: { readonly services: ReadonlyArray<MasterKeyService>; readonly identity: ProviderIdentity },
        ) => {
          const sa = serviceAccountFor(r)
          const az = azure(
            r.credentials,
            sa === undefined ? undefined : { namespace: r.namespace, name: sa },
            {
              kind: "Kustomization",
              name: r.name,
              namespace: r.namespace,
            },
          )
          const identity: ProviderIdentity =
            aws.identity.startsWith("serviceaccount:") || az.identity === "serviceaccount"
              ? `serviceaccount:${r.namespace}/${sa}`
              : aws.identity === "secret" || az.identity === "secret"
                ? "secret"
                : "controller"
          return { services: [...aws.services, az.service], identity }
        }

        /** AWS KMS: keys from the Secret, else the ServiceAccount's web identity, else the controller's chain. */
        const aws = (
          r: ProviderRequest,
        ): { services: ReadonlyArray<MasterKeyService>; identity: ProviderIdentity } => {
          const fromSecret = r.credentials.find((c) => c.type === "kms")
          if (fromSecret !== undefined && fromSecret.type === "kms") {
            const creds: AwsCredentials = {
              accessKeyId: fromSecret.accessKeyId,
              secretAccessKey: fromSecret.secretAccessKey,
              ...(fromSecret.sessionToken ? { sessionToken: fromSecret.sessionToken } : {}),
            }
            // keyed by a digest of the credentials, so rotated keys get a service of their own
            const id = createHash("sha256")
              .update(`${creds.accessKeyId}\u0000${creds.secretAccessKey}\u0000${creds.sessionToken ?? ""}`)
              .digest("hex")
            return {
              services: [
                reuse(`secret:${id}`, () =>
                  awsKmsService({
                    env,
                    credentials: () => async () => creds,
                    secrets: [fromSecret.secretAccessKey, fromSecret.sessionToken ?? ""],
                  }),
                ),
              ],
              identity: "secret",
            }
          }
          const sa = serviceAccountFor(r)
          if (sa === undefined) return { services: [controllerKms], identity: "controller" }
          const involved = {
            kind: "Kustomization",
            name: r.name,
            namespace: r.namespace,
            operation: "decrypt_with_aws",
          }
          return {
            services: [
              // One per build: the ServiceAccount is read and the token cache consulted on every build (as
              // in Flux), where a shared client would keep its credentials until they expire.
              awsKmsService({
                env,
                credentials: (region) => () =>
                  run(
                    webIdentityCredentials(
                      { kube, cache: cache as TokenCache<AwsCredentials>, stsEndpoint },
                      { namespace: r.namespace, name: sa },
                      region,
                      involved,
                    ),
                  ),
              }),
            ],
            identity: `serviceaccount:${r.namespace}/${sa}`,
          }
        }

        // GCP KMS: the Secret's credentials, else the ServiceAccount through workload identity federation, else
        // the controller's application-default credentials. Endpoints come from the controller's environment only.
        const gcpEndpoints = googleEndpoints(env)
        const gcpCa = gcpEndpoints.ca
        const gcpService = (tokenSource: TokenSource, secrets: ReadonlyArray<string> = []) =>
          gcpKmsService({ env, tokenSource, ...(gcpCa === undefined ? {} : { ca: gcpCa }), secrets })
        const controllerGcp = gcpService(adcTokenSource(env))
        const refused = (reason: string): MasterKeyService => {
          const fail = Effect.fail(new KeyFailure({ reason }))
          return { type: "gcp_kms", decrypt: () => fail, encrypt: () => fail }
        }
        const gcp = (
          r: ProviderRequest,
        ): { services: ReadonlyArray<MasterKeyService>; identity: ProviderIdentity } => {
          const fromSecret = r.credentials.find((c) => c.type === "gcp_kms")
          if (fromSecret !== undefined && fromSecret.type === "gcp_kms") {
            const json = JSON.stringify(fromSecret.serviceAccount)
            const id = createHash("sha256").update(json).digest("hex")
            return {
              services: [
                reuse(`gcp-secret:${id}`, () => {
                  try {
                    const m = fromSecret.serviceAccount
                    const secrets = [m.private_key, m.client_secret, m.refresh_token].filter(
                      (v): v is string => typeof v === "string",
                    )
                    return gcpService(
                      credentialsFromJson(json, {
                        where: "decryption Secret entry 'sops.gcp-kms'",
                        policy: "tenant",
                        endpoints: gcpEndpoints,
                      }),
                      secrets,
                    )
                  } catch (e) {
                    return refused((e as Error).message)
                  }
                }),
              ],
              identity: "secret",
            }
          }
          const sa = serviceAccountFor(r)
          if (sa === undefined) return { services: [controllerGcp], identity: "controller" }
          const involved = {
            kind: "Kustomization",
            name: r.name,
            namespace: r.namespace,
            operation: "decrypt_with_gcp",
          }
          return {
            services: [
              gcpService(() =>
                run(
                  gcpWorkloadIdentityToken(
                    { kube, cache: cache as TokenCache<GoogleToken>, endpoints: gcpEndpoints },
                    { namespace: r.namespace, name: sa },
                    involved,
                  ),
                ),
              ),
            ],
            identity: `serviceaccount:${r.namespace}/${sa}`,
          }
        }

        return KeyProviders.of({
          available: ["kms", "gcp_kms", "azure_kv", "hc_vault"],
          objectLevelWorkloadIdentity: options.objectLevelWorkloadIdentity,
          serviceAccountFor,
          services: (r) => {
            const a = withAzure(r, aws(r))
            const g = gcp(r)
            return {
              services: [...a.services, ...g.services, vaultFromSecret(r, env)],
              identity: strongest(a.identity, g.identity),
            }
          },
        })
      }),
    )
  }
}

/**
 * Vault transit with the tenant's own `sops.vault-token`, as Flux sends it: the address comes from the tenant's
 * file, so it receives that token and nothing else — without the entry no request is made (where Flux would fall
 * back to the controller's own VAULT_TOKEN). `SOPS_HC_VAULT_ALLOWLIST` in the controller's environment limits the
 * addresses, as in sops. No workload identity (see the README).
 */
const vaultFromSecret = (r: ProviderRequest, env: Readonly<Record<string, string | undefined>>) => {
  const entry = r.credentials.find((c) => c.type === "hc_vault")
  return vaultTransitService({
    token: entry?.type === "hc_vault" ? entry.token : undefined,
    missingToken: "no Vault token: the decryption Secret has no 'sops.vault-token' entry",
    allowlist: env.SOPS_HC_VAULT_ALLOWLIST,
  })
}
