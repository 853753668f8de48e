/**
 * Azure credentials for Key Vault: Flux's `sops.azure-kv` formats (kustomize-controller internal/sops/azkv),
 * and the default chain of the CLI and the controller.
 *
 * `sops.azure-kv` is a YAML or JSON mapping, UTF-16 with a BOM accepted (as Flux decodes it); in Flux's order:
 * `tenantId` + `clientId` + `clientSecret` → a client secret; `tenantId` + `clientId` + `clientCertificate`
 * (PEM certificate and private key, `clientCertificatePassword`, `clientCertificateSendChain`) → a client
 * certificate assertion; `tenant` + `appId` + `password` (what `az ad sp create-for-rbac` prints) → a client
 * secret; `clientId` alone → the managed identity with that client id. `authorityHost` picks the cloud
 * (default: the controller's `AZURE_AUTHORITY_HOST`, else Azure public, `https://login.microsoftonline.com`;
 * Flux takes the public cloud there).
 *
 * @module
 */
import type { TokenCredential } from "@azure/core-auth"
import type { HttpClient } from "@azure/core-rest-pipeline"
import {
  ClientCertificateCredential,
  ClientSecretCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
} from "@azure/identity"
import { parseAzureConfig } from "./azure-config.ts"
import { azureClientOptions } from "./azure-kv.ts"

/** Entra's public-cloud hosts, where MSAL's instance discovery applies; elsewhere it is turned off. */
const knownAuthorityHosts = new Set([
  "login.microsoftonline.com",
  "login.chinacloudapi.cn",
  "login.microsoftonline.us",
  "login.microsoft.com",
  "login.windows.net",
])

/** Azure public cloud's Entra authority. */
export const publicAuthorityHost = "https://login.microsoftonline.com"

/** Identity options for an authority host (undefined = public cloud, or the environment's AZURE_AUTHORITY_HOST). */
export const identityOptions = (httpClient: HttpClient, authorityHost?: string | undefined) => {
  const host = authorityHost || undefined
  let custom = false
  if (host !== undefined) {
    try {
      custom = !knownAuthorityHosts.has(new URL(host).hostname)
    } catch {
      custom = true
    }
  }
  return {
    ...azureClientOptions(httpClient),
    ...(host !== undefined ? { authorityHost: host } : {}),
    // a private authority (Azure Stack, a sovereign cloud's own host, a local server) is not in Microsoft's
    // instance-discovery list: MSAL is told to trust it as configured
    ...(custom ? { disableInstanceDiscovery: true } : {}),
  }
}

/** A credential and the values it holds that must never appear in an error. */
export interface AzureCredential {
  readonly credential: TokenCredential
  readonly secrets: ReadonlyArray<string>
  /** Which of Flux's formats it is (for messages and tests). */
  readonly kind: "client-secret" | "client-certificate" | "az-service-principal" | "managed-identity"
}

/**
 * The credential a `sops.azure-kv` mapping describes ({@link parseAzureConfig}), or why none.
 */
export const credentialFromAzureConfig = (
  c: Readonly<Record<string, unknown>>,
  httpClient: HttpClient,
  /** The authority when the mapping names none (the controller's AZURE_AUTHORITY_HOST); default public cloud. */
  defaultAuthorityHost?: string | undefined,
): AzureCredential | { readonly error: string } => {
  const parsed = parseAzureConfig(c)
  if ("error" in parsed) return parsed
  if (parsed.kind === "managed-identity")
    return {
      credential: new ManagedIdentityCredential({
        clientId: parsed.clientId,
        ...azureClientOptions(httpClient),
      }),
      secrets: [],
      kind: parsed.kind,
    }
  const options = identityOptions(
    httpClient,
    parsed.authorityHost || defaultAuthorityHost || publicAuthorityHost,
  )
  if (parsed.kind === "client-certificate")
    return {
      credential: new ClientCertificateCredential(
        parsed.tenantId,
        parsed.clientId,
        {
          certificate: parsed.certificate,
          ...(parsed.password !== "" ? { certificatePassword: parsed.password } : {}),
        },
        { ...options, sendCertificateChain: parsed.sendChain },
      ),
      secrets: [parsed.certificate, parsed.password],
      kind: parsed.kind,
    }
  return {
    credential: new ClientSecretCredential(parsed.tenantId, parsed.clientId, parsed.secret, options),
    secrets: [parsed.secret],
    kind: parsed.kind,
  }
}

/**
 * The default chain (environment: `AZURE_TENANT_ID`/`AZURE_CLIENT_ID` with `AZURE_CLIENT_SECRET` or
 * `AZURE_CLIENT_CERTIFICATE_PATH`; workload identity: `AZURE_FEDERATED_TOKEN_FILE`; managed identity; the
 * Azure CLI), with `AZURE_AUTHORITY_HOST` of `env`.
 */
export const defaultAzureCredential = (
  env: Readonly<Record<string, string | undefined>>,
  httpClient: HttpClient,
): TokenCredential => {
  const options = identityOptions(httpClient, env.AZURE_AUTHORITY_HOST)
  const { AZURE_TENANT_ID: tenant, AZURE_CLIENT_ID: client } = env
  // the chain's first link, EnvironmentCredential, read from `env` (the invocation's, which need not be the
  // process's); the SDK's chain reads process.env for the rest
  if (tenant && client && env.AZURE_CLIENT_SECRET)
    return new ClientSecretCredential(tenant, client, env.AZURE_CLIENT_SECRET, options)
  if (tenant && client && env.AZURE_CLIENT_CERTIFICATE_PATH)
    return new ClientCertificateCredential(
      tenant,
      client,
      {
        certificatePath: env.AZURE_CLIENT_CERTIFICATE_PATH,
        ...(env.AZURE_CLIENT_CERTIFICATE_PASSWORD
          ? { certificatePassword: env.AZURE_CLIENT_CERTIFICATE_PASSWORD }
          : {}),
      },
      { ...options, sendCertificateChain: env.AZURE_CLIENT_SEND_CERTIFICATE_CHAIN === "true" },
    )
  return new DefaultAzureCredential({ ...options, ...(client ? { managedIdentityClientId: client } : {}) })
}
