/**
 * Azure Key Vault master keys (`azure_kv` entries) through `@azure/keyvault-keys`, as sops 3.13's azkv
 * keysource uses them: the data key (or its Shamir share) is encrypted by the vault's `encrypt` operation with
 * RSA-OAEP-256 and stored as unpadded base64url in `enc`; `vault_url`, `name` and `version` name the key, and an
 * empty version is resolved to the key's current one (GetKey) before encrypting, so the file records it.
 *
 * Credentials are the caller's: an `@azure/core-auth` TokenCredential (a decryption Secret's `sops.azure-kv`,
 * workload identity for a ServiceAccount, or `DefaultAzureCredential` on the CLI and for the controller). The
 * SDK's challenge policy asks the vault first and takes the token's scope and tenant from its 401
 * `WWW-Authenticate`, refusing a resource that is not a parent domain of the vault's host.
 *
 * Transport ({@link azureHttpClient}): every request is bounded (10 s), retried by the SDK's exponential
 * strategy on 408/429/5xx and network errors (Retry-After honoured, 3 retries), aborted with the caller's
 * fiber; names under `localhost` resolve to loopback (RFC 6761). Trust is the process's (Node's roots plus
 * `NODE_EXTRA_CA_CERTS`) plus `ca` ({@link caFromEnv}: `SSL_CERT_FILE` of the CLI's or the controller's
 * environment, never anything a repository or a tenant's Secret says).
 *
 * @module
 */

import { lookup as dnsLookup, type LookupAddress, type LookupOneOptions } from "node:dns"
import { readFileSync, statSync } from "node:fs"
import { Agent as HttpsAgent } from "node:https"
import { getCACertificates } from "node:tls"
import type { TokenCredential } from "@azure/core-auth"
import { createDefaultHttpClient, type HttpClient, type PipelineRequest } from "@azure/core-rest-pipeline"
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys"
import { Effect } from "effect"
import { KeyFailure } from "../errors.ts"
import { nowSeconds } from "../goformat.ts"
import type { AzureKvKey, KeyRecipient, MasterKey, MasterKeyService } from "./masterkey.ts"

export interface AzureTransportOptions {
  /** Extra trusted CA certificates (PEM), in addition to the process's. */
  readonly ca?: string | undefined
  /** Bound of one HTTP attempt in ms (default 10 s). */
  readonly requestTimeoutMs?: number | undefined
}

const loopbackLookup = (
  hostname: string,
  options: LookupOneOptions | number | ((...a: never[]) => void),
  callback?: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
) => {
  const opts = typeof options === "object" ? (options as { all?: boolean }) : {}
  const cb = (typeof options === "function" ? options : callback) as (
    err: NodeJS.ErrnoException | null,
    address: string | LookupAddress[],
    family?: number,
  ) => void
  if (hostname === "localhost" || hostname.endsWith(".localhost")) {
    if (opts.all === true) cb(null, [{ address: "127.0.0.1", family: 4 }])
    else cb(null, "127.0.0.1", 4)
    return
  }
  dnsLookup(hostname, (typeof options === "object" ? options : {}) as LookupOneOptions, cb as never)
}

/**
 * Extra trusted CAs from `SSL_CERT_FILE` of `env` (the variable sops' Go TLS reads; here added to the
 * process's roots rather than replacing them), at most 1 MiB; undefined when unset or unreadable.
 */
export const caFromEnv = (env: Readonly<Record<string, string | undefined>>): string | undefined => {
  const file = env.SSL_CERT_FILE
  if (!file) return undefined
  try {
    if (statSync(file).size > 1 << 20) return undefined
    return readFileSync(file, "utf8")
  } catch {
    return undefined
  }
}

/** The HTTP client every Azure SDK client here uses: bounded, keep-alive, `*.localhost` on loopback. */
export const azureHttpClient = (opts: AzureTransportOptions = {}): HttpClient => {
  const base = createDefaultHttpClient()
  const agent = new HttpsAgent({
    keepAlive: true,
    maxSockets: 16,
    lookup: loopbackLookup as never,
    ...(opts.ca ? { ca: [...getCACertificates("default"), opts.ca] } : {}),
  })
  const timeout = opts.requestTimeoutMs ?? 10_000
  return {
    sendRequest: (request: PipelineRequest) => {
      if (request.url.startsWith("https:") && request.agent === undefined) request.agent = agent
      if (!request.timeout || request.timeout > timeout) request.timeout = timeout
      return base.sendRequest(request)
    },
  }
}

/** Options of the SDK clients: our transport and the retry policy. */
export const azureClientOptions = (httpClient: HttpClient) => ({
  httpClient,
  retryOptions: { maxRetries: 3, retryDelayInMs: 400, maxRetryDelayInMs: 8_000 },
  userAgentOptions: { userAgentPrefix: "kustodian" },
})

/** An SDK or identity error as "Code (HTTP n): message", with every known secret and token-shaped text masked. */
export const describeAzureError = (e: unknown, secrets: ReadonlyArray<string> = []): string => {
  const err = e as {
    name?: unknown
    code?: unknown
    statusCode?: unknown
    message?: unknown
    errorResponse?: { error?: unknown; errorDescription?: unknown }
  }
  let message = typeof err?.message === "string" ? err.message : String(e)
  // identity errors carry Entra's answer: its code and the first line of its description
  if (typeof err?.errorResponse?.error === "string") {
    const desc =
      typeof err.errorResponse.errorDescription === "string"
        ? err.errorResponse.errorDescription.split(/ Trace ID:|\r?\n/)[0]
        : ""
    message = `${err.errorResponse.error}: ${desc}`
  }
  for (const s of secrets) if (s.length >= 4) message = message.split(s).join("<redacted>")
  message = message
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, "<redacted>")
    .replace(/-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g, "<redacted>")
  // the SDK's RestError repeats the whole answer; keep Key Vault's own message
  const kv = /"error"\s*:\s*\{\s*"code"\s*:\s*"([^"]+)"\s*,\s*"message"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(
    message,
  )
  if (kv !== null) message = JSON.parse(`"${kv[2]}"`) as string
  if (message.length > 600) message = `${message.slice(0, 600)}…`
  const code = typeof err?.code === "string" ? err.code : kv?.[1]
  const status = typeof err?.statusCode === "number" ? ` (HTTP ${err.statusCode})` : ""
  return code !== undefined ? `${code}${status}: ${message}` : status ? `HTTP${status}: ${message}` : message
}

export interface AzureKvOptions {
  /** Where tokens come from. */
  readonly credential: TokenCredential
  /** The transport ({@link azureHttpClient}); one is made when unset. */
  readonly httpClient?: HttpClient
  /** Values that must never appear in an error (the credentials the caller handed in). */
  readonly secrets?: ReadonlyArray<string>
}

/** sops' encoding of `enc`: unpadded base64url. */
const b64url = /^[A-Za-z0-9_-]*$/

/** The Azure Key Vault key service. */
export const azureKvService = (opts: AzureKvOptions): MasterKeyService => {
  const httpClient = opts.httpClient ?? azureHttpClient()
  const clientOptions = azureClientOptions(httpClient)
  const secrets = opts.secrets ?? []
  // one client per vault and per key id: they keep their connections, the challenge's scope and the key
  const keyClients = new Map<string, KeyClient>()
  const cryptoClients = new Map<string, CryptographyClient>()
  const keyClient = (vaultUrl: string) => {
    let c = keyClients.get(vaultUrl)
    if (c === undefined) {
      c = new KeyClient(vaultUrl, opts.credential, clientOptions)
      keyClients.set(vaultUrl, c)
      if (keyClients.size > 64) keyClients.delete(keyClients.keys().next().value!)
    }
    return c
  }
  const cryptoClient = (kid: string) => {
    let c = cryptoClients.get(kid)
    if (c === undefined) {
      c = new CryptographyClient(kid, opts.credential, clientOptions)
      cryptoClients.set(kid, c)
      if (cryptoClients.size > 256) cryptoClients.delete(cryptoClients.keys().next().value!)
    }
    return c
  }
  const call = <A>(what: string, run: (abortSignal: AbortSignal) => Promise<A>) =>
    Effect.tryPromise({
      try: run,
      catch: (e) => new KeyFailure({ reason: `failed to ${what}: ${describeAzureError(e, secrets)}` }),
    })
  const checkUrl = (vaultUrl: string) =>
    /^https:\/\/[^/?#]+\/?$/.test(vaultUrl)
      ? Effect.succeed(vaultUrl.replace(/\/$/, ""))
      : Effect.fail(new KeyFailure({ reason: `vault_url '${vaultUrl}' is not an https URL of a vault` }))
  const checkName = (name: string, field: string) =>
    /^[0-9a-zA-Z-]{1,127}$/.test(name)
      ? Effect.void
      : Effect.fail(
          new KeyFailure({ reason: `${field} '${name.slice(0, 140)}' is not a Key Vault key ${field}` }),
        )

  return {
    type: "azure_kv",
    decrypt: (key: MasterKey) =>
      Effect.gen(function* () {
        if (key.type !== "azure_kv") return yield* new KeyFailure({ reason: "not an Azure Key Vault key" })
        const vault = yield* checkUrl(key.vaultUrl)
        yield* checkName(key.name, "name")
        if (key.version !== "") yield* checkName(key.version, "version")
        if (!b64url.test(key.enc) || key.enc === "")
          return yield* new KeyFailure({ reason: "failed to base64 decode Azure Key Vault encrypted key" })
        const kid = `${vault}/keys/${key.name}${key.version ? `/${key.version}` : ""}`
        const out = yield* call("decrypt sops data key with Azure Key Vault", (abortSignal) =>
          cryptoClient(kid).decrypt(
            { algorithm: "RSA-OAEP-256", ciphertext: Buffer.from(key.enc, "base64url") },
            { abortSignal },
          ),
        )
        return new Uint8Array(out.result)
      }),
    encrypt: (recipient: KeyRecipient, part: Uint8Array) =>
      Effect.gen(function* () {
        if (recipient.type !== "azure_kv")
          return yield* new KeyFailure({ reason: "not an Azure Key Vault recipient" })
        const vault = yield* checkUrl(recipient.vaultUrl)
        yield* checkName(recipient.name, "name")
        let version = recipient.version
        if (version === "") {
          const k = yield* call("fetch Azure Key to retrieve key version", (abortSignal) =>
            keyClient(vault).getKey(recipient.name, { abortSignal }),
          )
          version = k.properties.version ?? ""
          if (version === "")
            return yield* new KeyFailure({ reason: "Azure Key Vault returned a key without a version" })
        } else yield* checkName(version, "version")
        const kid = `${vault}/keys/${recipient.name}/${version}`
        const out = yield* call("encrypt sops data key with Azure Key Vault", (abortSignal) =>
          cryptoClient(kid).encrypt({ algorithm: "RSA-OAEP-256", plaintext: part }, { abortSignal }),
        )
        return {
          type: "azure_kv",
          vaultUrl: recipient.vaultUrl,
          name: recipient.name,
          version,
          createdAt: nowSeconds(),
          enc: Buffer.from(out.result).toString("base64url"),
        } satisfies AzureKvKey
      }),
  }
}
