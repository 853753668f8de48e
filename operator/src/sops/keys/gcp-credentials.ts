/**
 * Google OAuth2 access tokens for GCP KMS, from the credential files sops and Flux accept:
 *
 * - `service_account` keys: an RS256 JWT assertion exchanged at the token endpoint (the JWT-bearer grant, RFC
 *   7523), as `golang.org/x/oauth2/google` does for Flux's `sops.gcp-kms`;
 * - `authorized_user` (gcloud's application-default credentials): the refresh-token grant;
 * - `external_account` (workload identity federation): the subject token exchanged at STS (RFC 8693), then, with
 *   `service_account_impersonation_url`, IAM Credentials' generateAccessToken;
 * - a static token (`GOOGLE_OAUTH_ACCESS_TOKEN`) and, last in ADC's chain, the metadata server.
 *
 * Where a file comes from decides how far it is trusted ({@link CredentialPolicy}): a user's own file (the CLI)
 * is followed as written, like Google's libraries do; a tenant's (a decryption Secret) must not make the
 * controller send requests to hosts of the tenant's choosing or read the controller's files, so its
 * `token_uri`/`token_url`/impersonation URL must be Google's (or the controller's configured override) and
 * file, URL, executable and AWS credential sources are refused, naming the field.
 *
 * Tokens are cached until a minute before they expire; concurrent requests share one fetch. Every request is
 * bounded (10 s, 1 MiB answers) and retried with backoff on network errors, 429 and 5xx. Error messages name
 * the endpoint and Google's error code, never a key, assertion, token or secret.
 *
 * @module
 */
import { createSign } from "node:crypto"
import { readFileSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { request as httpsRequest } from "node:https"
import { rootCertificates } from "node:tls"
import { Data } from "effect"

/** An access token and when it expires (ms since the epoch; Infinity when unknown). */
export interface GoogleToken {
  readonly accessToken: string
  readonly expiresAt: number
}

/** Produces a valid token; called before every KMS request (cached inside). */
export type TokenSource = () => Promise<GoogleToken>

/** Getting a token failed; the message names the endpoint and Google's code, never a credential. */
export class GoogleCredentialError extends Data.TaggedError("GoogleCredentialError")<{
  readonly message: string
}> {}

/** Google's endpoints, overridable by the controller's (not a tenant's) environment. */
export interface GoogleEndpoints {
  readonly tokenUrl: string
  readonly stsUrl: string
  /** Base URL of IAM Credentials (`…/v1/projects/-/serviceAccounts/{email}:generateAccessToken`). */
  readonly iamCredentialsUrl: string
  /** Base URL of the metadata server. */
  readonly metadataUrl: string
  /** Extra CA certificate (PEM) trusted for these endpoints, beside the system's (tests). */
  readonly ca?: string | undefined
}

export const googleTokenUrl = "https://oauth2.googleapis.com/token"
export const googleStsUrl = "https://sts.googleapis.com/v1/token"
export const googleIamCredentialsUrl = "https://iamcredentials.googleapis.com"

/**
 * The endpoints from `KUSTODIAN_GCP_TOKEN_URL`, `KUSTODIAN_GCP_STS_URL`, `KUSTODIAN_GCP_IAM_CREDENTIALS_URL` and
 * `GCE_METADATA_HOST` (Google's libraries' variable), else Google's; `SSL_CERT_FILE` (what sops, a Go program,
 * reads as its CA bundle) is trusted beside the system's roots.
 */
export const googleEndpoints = (env: Readonly<Record<string, string | undefined>>): GoogleEndpoints => ({
  ca: extraCa(env),
  tokenUrl: env.KUSTODIAN_GCP_TOKEN_URL || googleTokenUrl,
  stsUrl: env.KUSTODIAN_GCP_STS_URL || googleStsUrl,
  iamCredentialsUrl: (env.KUSTODIAN_GCP_IAM_CREDENTIALS_URL || googleIamCredentialsUrl).replace(/\/+$/, ""),
  metadataUrl: `http://${env.GCE_METADATA_HOST || "metadata.google.internal"}`,
})

/** The PEM of `SSL_CERT_FILE`, when it names a readable file of at most 1 MiB. */
export const extraCa = (env: Readonly<Record<string, string | undefined>>): string | undefined => {
  if (!env.SSL_CERT_FILE) return undefined
  try {
    const text = readFileSync(env.SSL_CERT_FILE, "utf8")
    return text.length <= 1 << 20 && text.includes("-----BEGIN CERTIFICATE-----") ? text : undefined
  } catch {
    return undefined
  }
}

/** The scopes Cloud KMS clients ask for (Go's `kms.DefaultAuthScopes()`). */
export const kmsScopes = [
  "https://www.googleapis.com/auth/cloud-platform",
  "https://www.googleapis.com/auth/cloudkms",
]

/**
 * `user`: the CLI's own files, followed as written (file and URL credential sources too). `tenant`: a
 * decryption Secret's, with Google's (or the overridden) endpoints only and no credential sources.
 */
export type CredentialPolicy = "user" | "tenant"

const maxAnswer = 1 << 20
const requestTimeoutMs = 10_000
const attempts = 3

const mask = (text: string, secrets: ReadonlyArray<string>) => {
  let out = text
  for (const s of secrets) if (s.length >= 6) out = out.split(s).join("<redacted>")
  return out
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, "<redacted>")
    .replace(/ya29\.[\w.-]+/g, "<redacted>")
    .replace(/-----BEGIN [A-Z ]+-----[\s\S]*?(-----END [A-Z ]+-----|$)/g, "<redacted>")
    .slice(0, 512)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** One HTTP(S) exchange with a bounded answer. */
const exchange = (
  url: string,
  init: { method?: string; headers: Record<string, string>; body?: string },
  ca: string | undefined,
): Promise<{ status: number; text: string }> =>
  new Promise((resolve, reject) => {
    const u = new URL(url)
    const send = u.protocol === "https:" ? httpsRequest : u.protocol === "http:" ? httpRequest : undefined
    if (send === undefined)
      return reject(new GoogleCredentialError({ message: `${url}: not an http(s) URL` }))
    const req = send(
      u,
      {
        method: init.method ?? "POST",
        headers: init.headers,
        timeout: requestTimeoutMs,
        ...(ca !== undefined && u.protocol === "https:" ? { ca: [...rootCertificates, ca] } : {}),
      },
      (res) => {
        const chunks: Array<Buffer> = []
        let size = 0
        res.on("data", (c: Buffer) => {
          size += c.length
          if (size > maxAnswer) {
            req.destroy()
            reject(new GoogleCredentialError({ message: `${url}: the answer exceeds ${maxAnswer} bytes` }))
          } else chunks.push(c)
        })
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        )
        res.on("error", reject)
      },
    )
    req.setTimeout(requestTimeoutMs, () =>
      req.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })),
    )
    req.on("error", reject)
    req.end(init.body)
  })

/** POSTs (or GETs) and reads a bounded JSON answer, retrying transient failures with backoff. */
const requestJson = async (
  what: string,
  url: string,
  init: { method?: string; headers: Record<string, string>; body?: string },
  secrets: ReadonlyArray<string>,
  ca?: string,
): Promise<Record<string, unknown>> => {
  let last = ""
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) await sleep(200 * 2 ** (attempt - 2) * (0.5 + Math.random()))
    let status: number
    let text: string
    try {
      ;({ status, text } = await exchange(url, init, ca))
    } catch (e) {
      if (e instanceof GoogleCredentialError) throw e
      const code = (e as { code?: unknown })?.code
      last = `${what} at ${url} failed: ${code === "ETIMEDOUT" ? `no answer within ${requestTimeoutMs / 1000}s` : typeof code === "string" ? code : "network error"}`
      continue
    }
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    const body =
      typeof json === "object" && json !== null && !Array.isArray(json)
        ? (json as Record<string, unknown>)
        : undefined
    if (status >= 200 && status < 300) {
      if (body === undefined)
        throw new GoogleCredentialError({ message: `${what} at ${url}: the answer is not a JSON object` })
      return body
    }
    // OAuth's {"error","error_description"} or Google's {"error":{"code","message","status"}}
    const err = body?.error
    const code =
      typeof err === "string"
        ? err
        : typeof err === "object" && err !== null && typeof (err as { status?: unknown }).status === "string"
          ? String((err as { status: string }).status)
          : ""
    const description =
      typeof body?.error_description === "string"
        ? body.error_description
        : typeof err === "object" &&
            err !== null &&
            typeof (err as { message?: unknown }).message === "string"
          ? String((err as { message: string }).message)
          : ""
    last = `${what} at ${url} failed: HTTP ${status}${code ? ` ${code}` : ""}${description ? `: ${mask(description, secrets)}` : ""}`
    if (status !== 429 && status < 500) break
  }
  throw new GoogleCredentialError({ message: last })
}

const tokenFrom = (
  what: string,
  url: string,
  body: Record<string, unknown>,
  accessField = "access_token",
  expiry?: string,
): GoogleToken => {
  const accessToken = body[accessField]
  if (typeof accessToken !== "string" || accessToken === "")
    throw new GoogleCredentialError({ message: `${what} at ${url}: the answer holds no ${accessField}` })
  if (expiry !== undefined) {
    const at = Date.parse(String(body[expiry] ?? ""))
    return { accessToken, expiresAt: Number.isNaN(at) ? Date.now() + 300_000 : at }
  }
  const expiresIn = Number(body.expires_in)
  return {
    accessToken,
    expiresAt: Number.isFinite(expiresIn) && expiresIn > 0 ? Date.now() + expiresIn * 1000 : Infinity,
  }
}

/** A source that reuses its token until a minute before it expires; one fetch at a time. */
export const cachedSource = (fetchToken: TokenSource, skewMs = 60_000): TokenSource => {
  let current: GoogleToken | undefined
  let inflight: Promise<GoogleToken> | undefined
  return () => {
    if (current !== undefined && current.expiresAt - Date.now() > skewMs) return Promise.resolve(current)
    inflight ??= fetchToken()
      .then((t) => {
        current = t
        return t
      })
      .finally(() => {
        inflight = undefined
      })
    return inflight
  }
}

export const staticSource = (accessToken: string): TokenSource => {
  const t = { accessToken, expiresAt: Infinity }
  return () => Promise.resolve(t)
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url")

/** The JWT-bearer grant with a service account's key. */
const serviceAccountSource = (
  email: string,
  privateKey: string,
  keyId: string,
  tokenUrl: string,
  scopes: ReadonlyArray<string>,
  ca: string | undefined,
): TokenSource =>
  cachedSource(async () => {
    const now = Math.floor(Date.now() / 1000)
    const head = b64url({ alg: "RS256", typ: "JWT", ...(keyId ? { kid: keyId } : {}) })
    const claims = b64url({ iss: email, scope: scopes.join(" "), aud: tokenUrl, iat: now, exp: now + 3600 })
    let signature: string
    try {
      signature = createSign("RSA-SHA256").update(`${head}.${claims}`).sign(privateKey, "base64url")
    } catch {
      throw new GoogleCredentialError({
        message: `service account ${email}: private_key is not a usable RSA private key`,
      })
    }
    const assertion = `${head}.${claims}.${signature}`
    const body = await requestJson(
      `token request for service account ${email}`,
      tokenUrl,
      {
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
          assertion,
        }).toString(),
      },
      [assertion, privateKey],
      ca,
    )
    return tokenFrom(`token request for service account ${email}`, tokenUrl, body)
  })

const authorizedUserSource = (
  clientId: string,
  clientSecret: string,
  refreshToken: string,
  tokenUrl: string,
  ca: string | undefined,
): TokenSource =>
  cachedSource(async () => {
    const what = `token refresh for OAuth client ${clientId}`
    const body = await requestJson(
      what,
      tokenUrl,
      {
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "refresh_token",
          client_id: clientId,
          client_secret: clientSecret,
          refresh_token: refreshToken,
        }).toString(),
      },
      [clientSecret, refreshToken],
      ca,
    )
    return tokenFrom(what, tokenUrl, body)
  })

export interface FederationConfig {
  /** `//iam.googleapis.com/projects/<n>/locations/global/workloadIdentityPools/<pool>/providers/<provider>` */
  readonly audience: string
  readonly subjectTokenType: string
  readonly stsUrl: string
  /** IAM Credentials' generateAccessToken URL, when a service account is impersonated. */
  readonly impersonationUrl?: string | undefined
  readonly scopes: ReadonlyArray<string>
  readonly ca?: string | undefined
}

/**
 * Workload identity federation: STS exchange of a subject token (and impersonation). Not cached: callers cache
 * (the operator's token cache, or {@link cachedSource}).
 */
export const federatedToken = async (
  config: FederationConfig,
  subjectToken: string,
): Promise<GoogleToken> => {
  const secrets = [subjectToken]
  const what = `token exchange for audience ${config.audience}`
  const body = await requestJson(
    what,
    config.stsUrl,
    {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        audience: config.audience,
        scope:
          config.impersonationUrl === undefined
            ? config.scopes.join(" ")
            : "https://www.googleapis.com/auth/cloud-platform",
        requested_token_type: "urn:ietf:params:oauth:token-type:access_token",
        subject_token: subjectToken,
        subject_token_type: config.subjectTokenType,
      }).toString(),
    },
    secrets,
    config.ca,
  )
  const federated = tokenFrom(what, config.stsUrl, body)
  if (config.impersonationUrl === undefined) return federated
  const email = /serviceAccounts\/([^/:]+):generateAccessToken$/.exec(config.impersonationUrl)?.[1] ?? "?"
  const imp = `impersonation of service account ${decodeURIComponent(email)}`
  const answer = await requestJson(
    imp,
    config.impersonationUrl,
    {
      headers: { "content-type": "application/json", authorization: `Bearer ${federated.accessToken}` },
      body: JSON.stringify({ scope: config.scopes, lifetime: "3600s" }),
    },
    [...secrets, federated.accessToken],
    config.ca,
  )
  return tokenFrom(imp, config.impersonationUrl, answer, "accessToken", "expireTime")
}

const str = (m: Record<string, unknown>, k: string) => (typeof m[k] === "string" ? (m[k] as string) : "")

const refuse = (where: string, message: string) =>
  new GoogleCredentialError({ message: `${where}: ${message}` })

/** The generateAccessToken URL for `email` under `base`. */
export const impersonationUrlFor = (base: string, email: string) =>
  `${base}/v1/projects/-/serviceAccounts/${encodeURIComponent(email)}:generateAccessToken`

/**
 * A token source for a credentials file's JSON. `where` names it in errors (`GOOGLE_CREDENTIALS`, the Secret's
 * entry). Throws {@link GoogleCredentialError} for what cannot be used, naming the field.
 */
export const credentialsFromJson = (
  text: string,
  opts: {
    readonly where: string
    readonly policy: CredentialPolicy
    readonly endpoints: GoogleEndpoints
    readonly scopes?: ReadonlyArray<string>
  },
): TokenSource => {
  const { where, policy, endpoints } = opts
  const scopes = opts.scopes ?? kmsScopes
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw refuse(where, "not a JSON credentials file")
  }
  if (typeof json !== "object" || json === null || Array.isArray(json))
    throw refuse(where, "not a JSON credentials file")
  const m = json as Record<string, unknown>
  const type = str(m, "type")
  /** A tenant's URL must be Google's or the controller's override; the override is what is used. */
  const url = (field: string, given: string, google: string, override: string) => {
    if (policy === "user") return given || override
    if (given === "" || given === google || given === override) return override
    throw refuse(
      where,
      `${field} '${given}' is not allowed: a decryption Secret's credentials may only use ${google}`,
    )
  }
  if (type === "service_account") {
    const email = str(m, "client_email")
    const key = str(m, "private_key")
    if (email === "" || key === "")
      throw refuse(where, "client_email and private_key are required for a service_account")
    const tokenUri = url("token_uri", str(m, "token_uri"), googleTokenUrl, endpoints.tokenUrl)
    return serviceAccountSource(email, key, str(m, "private_key_id"), tokenUri, scopes, endpoints.ca)
  }
  if (type === "authorized_user") {
    const id = str(m, "client_id")
    const secret = str(m, "client_secret")
    const refresh = str(m, "refresh_token")
    if (id === "" || secret === "" || refresh === "")
      throw refuse(where, "client_id, client_secret and refresh_token are required for authorized_user")
    return authorizedUserSource(
      id,
      secret,
      refresh,
      url("token_uri", str(m, "token_uri"), googleTokenUrl, endpoints.tokenUrl),
      endpoints.ca,
    )
  }
  if (type === "external_account") {
    const audience = str(m, "audience")
    if (audience === "") throw refuse(where, "audience is required for an external_account")
    const stsUrl = url("token_url", str(m, "token_url"), googleStsUrl, endpoints.stsUrl)
    const givenImp = str(m, "service_account_impersonation_url")
    let impersonationUrl: string | undefined
    if (givenImp !== "") {
      const email =
        /^https:\/\/iamcredentials\.googleapis\.com\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(
          givenImp,
        )?.[1]
      if (policy === "user") impersonationUrl = givenImp
      else if (email !== undefined)
        impersonationUrl = impersonationUrlFor(endpoints.iamCredentialsUrl, decodeURIComponent(email))
      else if (givenImp.startsWith(`${endpoints.iamCredentialsUrl}/`)) impersonationUrl = givenImp
      else
        throw refuse(
          where,
          `service_account_impersonation_url '${givenImp}' is not allowed: it must be ${googleIamCredentialsUrl}/v1/projects/-/serviceAccounts/<email>:generateAccessToken`,
        )
    }
    const source =
      typeof m.credential_source === "object" && m.credential_source !== null
        ? (m.credential_source as Record<string, unknown>)
        : {}
    for (const f of ["executable", "environment_id", "regional_cred_verification_url", "certificate"]) {
      if (f in source) throw refuse(where, `credential_source.${f} is not supported`)
    }
    if (policy === "tenant" && ("file" in source || "url" in source))
      throw refuse(
        where,
        `credential_source.${"file" in source ? "file" : "url"} is not allowed in a decryption Secret: it would make the controller read its own files or reach its own network for a tenant; use spec.decryption.serviceAccountName (workload identity federation through a ServiceAccount token) instead`,
      )
    const format =
      typeof source.format === "object" && source.format !== null
        ? (source.format as Record<string, unknown>)
        : {}
    const readSubject = async (): Promise<string> => {
      let raw: string
      if (typeof source.file === "string") {
        try {
          raw = readFileSync(source.file, "utf8").slice(0, maxAnswer)
        } catch (e) {
          throw refuse(
            where,
            `credential_source.file '${source.file}' cannot be read: ${(e as NodeJS.ErrnoException).code ?? "error"}`,
          )
        }
      } else if (typeof source.url === "string") {
        const headers =
          typeof source.headers === "object" && source.headers !== null
            ? (source.headers as Record<string, string>)
            : {}
        const res = await fetch(source.url, { headers, signal: AbortSignal.timeout(requestTimeoutMs) }).catch(
          () => undefined,
        )
        if (res === undefined || !res.ok)
          throw refuse(where, `credential_source.url '${source.url}' did not answer a token`)
        raw = (await res.text()).slice(0, maxAnswer)
      } else throw refuse(where, "credential_source needs file or url")
      if (format.type === "json") {
        const field = String(format.subject_token_field_name ?? "")
        try {
          const v = (JSON.parse(raw) as Record<string, unknown>)[field]
          if (typeof v === "string" && v !== "") return v
        } catch {
          // reported below
        }
        throw refuse(
          where,
          `the subject token has no field '${field}' (credential_source.format.subject_token_field_name)`,
        )
      }
      return raw.trim()
    }
    const config: FederationConfig = {
      audience,
      subjectTokenType: str(m, "subject_token_type") || "urn:ietf:params:oauth:token-type:jwt",
      stsUrl,
      impersonationUrl,
      scopes,
      ca: endpoints.ca,
    }
    return cachedSource(async () => federatedToken(config, await readSubject()))
  }
  throw refuse(
    where,
    `credentials of type '${type}' are not supported (service_account, authorized_user or external_account)`,
  )
}

/** The metadata server's token for the instance's default service account (ADC's last resort). */
export const metadataSource = (endpoints: GoogleEndpoints): TokenSource =>
  cachedSource(async () => {
    const url = `${endpoints.metadataUrl}/computeMetadata/v1/instance/service-accounts/default/token`
    const body = await requestJson(
      "metadata server token request",
      url,
      { method: "GET", headers: { "metadata-flavor": "Google" } },
      [],
    )
    return tokenFrom("metadata server token request", url, body)
  })

/** Resolves a source on first use (a file that cannot be used fails that use, not the start-up). */
const lazySource = (resolve: () => TokenSource): TokenSource => {
  let resolved: TokenSource | undefined
  return () => {
    try {
      resolved ??= resolve()
    } catch (e) {
      return Promise.reject(e)
    }
    return resolved()
  }
}

/**
 * Application-default credentials: `GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's
 * `application_default_credentials.json` (`CLOUDSDK_CONFIG`, else `~/.config/gcloud`), else the metadata server.
 */
export const adcTokenSource = (env: Readonly<Record<string, string | undefined>>): TokenSource =>
  lazySource(() => {
    const endpoints = googleEndpoints(env)
    const adcFile =
      env.GOOGLE_APPLICATION_CREDENTIALS ||
      `${env.CLOUDSDK_CONFIG || `${env.HOME || ""}/.config/gcloud`}/application_default_credentials.json`
    let text: string | undefined
    try {
      text = readFileSync(adcFile, "utf8")
    } catch (e) {
      if (env.GOOGLE_APPLICATION_CREDENTIALS)
        throw new GoogleCredentialError({
          message: `GOOGLE_APPLICATION_CREDENTIALS '${adcFile}' cannot be read: ${(e as NodeJS.ErrnoException).code ?? "error"}`,
        })
    }
    if (text !== undefined) return credentialsFromJson(text, { where: adcFile, policy: "user", endpoints })
    return metadataSource(endpoints)
  })

/**
 * sops' order on the command line: `GOOGLE_CREDENTIALS` (a path, else the JSON itself), then
 * `GOOGLE_OAUTH_ACCESS_TOKEN`, then application-default credentials ({@link adcTokenSource}).
 */
export const cliTokenSource = (env: Readonly<Record<string, string | undefined>>): TokenSource =>
  lazySource(() => {
    const creds = env.GOOGLE_CREDENTIALS
    if (creds) {
      let text = creds
      try {
        text = readFileSync(creds, "utf8")
      } catch {
        // not a path: the JSON itself, as sops reads it
      }
      return credentialsFromJson(text, {
        where: "GOOGLE_CREDENTIALS",
        policy: "user",
        endpoints: googleEndpoints(env),
      })
    }
    if (env.GOOGLE_OAUTH_ACCESS_TOKEN) return staticSource(env.GOOGLE_OAUTH_ACCESS_TOKEN)
    return adcTokenSource(env)
  })
