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

const str = (v: unknown) => (typeof v === "string" ? v : "")

/** Decodes `sops.azure-kv` bytes as Flux does: a UTF-8/UTF-16 BOM is honoured and skipped. */
export const decodeAzureConfig = (bytes: Buffer): string => {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString("utf16le")
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    const swapped = Buffer.from(bytes.subarray(2))
    swapped.swap16()
    return swapped.toString("utf16le")
  }
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return bytes.subarray(3).toString("utf8")
  return bytes.toString("utf8")
}

const fields = [
  "tenantId",
  "clientId",
  "clientSecret",
  "clientCertificate",
  "clientCertificatePassword",
  "clientCertificateSendChain",
  "authorityHost",
  "appId",
  "tenant",
  "password",
] as const

/**
 * The credential a `sops.azure-kv` mapping describes, or why none (Flux's message). Fields Flux does not read
 * are refused by name rather than ignored.
 */
export const credentialFromAzureConfig = (
  c: Readonly<Record<string, unknown>>,
  httpClient: HttpClient,
  /** The authority when the mapping names none (the controller's AZURE_AUTHORITY_HOST); default public cloud. */
  defaultAuthorityHost?: string | undefined,
): AzureCredential | { readonly error: string } => {
  const unknown = Object.keys(c).filter((k) => !(fields as ReadonlyArray<string>).includes(k))
  if (unknown.length > 0)
    return {
      error: `unknown field(s) ${unknown.map((k) => `'${k}'`).join(", ")}; known: ${fields.join(", ")}`,
    }
  const authorityHost = str(c.authorityHost)
  if (authorityHost !== "" && !/^https:\/\/[^/?#]+\/?$/.test(authorityHost))
    return {
      error:
        "authorityHost must be an https URL of an Entra authority (e.g. https://login.microsoftonline.com)",
    }
  const options = identityOptions(httpClient, authorityHost || defaultAuthorityHost || publicAuthorityHost)
  const tenantId = str(c.tenantId)
  const clientId = str(c.clientId)
  if (tenantId !== "" && clientId !== "") {
    const secret = str(c.clientSecret)
    if (secret !== "")
      return {
        credential: new ClientSecretCredential(tenantId, clientId, secret, options),
        secrets: [secret],
        kind: "client-secret",
      }
    const certificate = str(c.clientCertificate)
    if (certificate !== "") {
      if (!certificate.includes("-----BEGIN") || !/PRIVATE KEY-----/.test(certificate))
        return {
          error:
            "clientCertificate must hold the PEM certificate and its PEM private key (PKCS#12 is not supported)",
        }
      const password = str(c.clientCertificatePassword)
      return {
        credential: new ClientCertificateCredential(
          tenantId,
          clientId,
          { certificate, ...(password !== "" ? { certificatePassword: password } : {}) },
          { ...options, sendCertificateChain: c.clientCertificateSendChain === true },
        ),
        secrets: [certificate, password],
        kind: "client-certificate",
      }
    }
  }
  const tenant = str(c.tenant)
  const appId = str(c.appId)
  const password = str(c.password)
  if (tenant !== "" && appId !== "" && password !== "")
    return {
      credential: new ClientSecretCredential(tenant, appId, password, options),
      secrets: [password],
      kind: "az-service-principal",
    }
  if (clientId !== "")
    return {
      credential: new ManagedIdentityCredential({ clientId, ...azureClientOptions(httpClient) }),
      secrets: [],
      kind: "managed-identity",
    }
  return {
    error:
      "invalid data: requires a 'clientId' field, a combination of 'tenantId', 'clientId' and 'clientSecret', or 'tenantId', 'clientId' and 'clientCertificate'",
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
