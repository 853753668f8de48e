/**
 * `spec.provider: github`: GitHub App installation tokens, as Flux's `githubapp` client gets them. The Secret
 * holds `githubAppID`, `githubAppInstallationID` (or `githubAppInstallationOwner`), `githubAppPrivateKey` and
 * optionally `githubAppBaseURL` (default `https://api.github.com`, used as given) and `ca.crt` for its TLS. A
 * JWT signed with the app's RSA key (RS256, issued 30 s in the past against clock drift, valid 2 minutes) buys
 * an installation token from `POST {base}/app/installations/{id}/access_tokens`; git then sends it as basic
 * auth for `x-access-token`. Tokens are cached per app, installation and key until 80 % of their lifetime has
 * passed, so a fleet of GitRepositories of one installation asks once an hour, not once a reconcile. With
 * `spec.proxySecretRef` the token request goes through the same (http) proxy as git.
 *
 * @module
 */
import { createHash, createPrivateKey, type KeyObject, sign } from "node:crypto"
import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http"
import { request as httpsRequest } from "node:https"
import { isIP } from "node:net"
import { type TLSSocket, connect as tlsConnect } from "node:tls"
import { Effect } from "effect"
import { AuthSecretError, GitAuthError } from "./errors.ts"
import type { AuthSecret, SecretData } from "./git-auth.ts"

export const githubAppKeys = {
  appID: "githubAppID",
  installationOwner: "githubAppInstallationOwner",
  installationID: "githubAppInstallationID",
  privateKey: "githubAppPrivateKey",
  baseURL: "githubAppBaseURL",
} as const

/** The username GitHub expects with an installation token. */
export const accessTokenUsername = "x-access-token"

const defaultBaseURL = "https://api.github.com"
const maxResponseBytes = 64 * 1024
const requestTimeoutMs = 30_000
const maxCachedTokens = 1024

const text = (data: SecretData, key: string): string | undefined => {
  const v = data[key]
  return v === undefined ? undefined : Buffer.from(v).toString("utf8").trim()
}

/**
 * A top-level field of a JSON answer, undefined when the answer is not a JSON object. Never the parser's
 * message: V8 quotes the start of the text, and `githubAppBaseURL` may name any server.
 */
const jsonField = (body: string, field: string): unknown => {
  try {
    const parsed = JSON.parse(body) as unknown
    return typeof parsed === "object" && parsed !== null
      ? (parsed as Record<string, unknown>)[field]
      : undefined
  } catch {
    return undefined
  }
}

/** True when the Secret carries GitHub App data (Flux refuses it under another provider). */
export const hasGitHubAppData = (data: SecretData): boolean => data[githubAppKeys.appID] !== undefined

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url")

/** An RS256 JWT for the app: what the token endpoint authenticates. */
export const appJwt = (appID: string, key: KeyObject, nowMs = Date.now()): string => {
  const iat = Math.floor(nowMs / 1000) - 30
  const header = b64url(JSON.stringify({ alg: "RS256", typ: "JWT" }))
  const claims = b64url(JSON.stringify({ iat, exp: iat + 120, iss: appID }))
  const signature = sign("RSA-SHA256", Buffer.from(`${header}.${claims}`), key)
  return `${header}.${claims}.${b64url(signature)}`
}

interface HttpAnswer {
  readonly status: number
  readonly body: string
}

/** `Proxy-Authorization` for a proxy URL with userinfo. */
const proxyAuthorization = (proxy: URL): Record<string, string> =>
  proxy.username === ""
    ? {}
    : {
        "Proxy-Authorization": `Basic ${Buffer.from(
          `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`,
        ).toString("base64")}`,
      }

/** A CONNECT tunnel through an http proxy to `url`'s host, then TLS over it (verified against `ca`). */
const tunnel = (proxy: URL, url: URL, ca: Uint8Array | undefined) =>
  new Promise<TLSSocket>((resolve, reject) => {
    const port = url.port === "" ? 443 : Number(url.port)
    const req = httpRequest({
      host: proxy.hostname,
      port: proxy.port === "" ? 80 : Number(proxy.port),
      method: "CONNECT",
      path: `${url.hostname}:${port}`,
      headers: { Host: `${url.hostname}:${port}`, ...proxyAuthorization(proxy) },
      timeout: requestTimeoutMs,
    })
    req.on("connect", (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy()
        reject(new Error(`the proxy refused the tunnel (HTTP ${res.statusCode})`))
        return
      }
      const tls = tlsConnect({
        socket,
        // The certificate is checked against the API host, not the proxy's.
        host: url.hostname,
        servername: isIP(url.hostname) === 0 ? url.hostname : undefined,
        ...(ca === undefined ? {} : { ca: Buffer.from(ca) }),
      })
      tls.once("secureConnect", () => resolve(tls))
      tls.once("error", reject)
    })
    req.on("timeout", () =>
      req.destroy(new Error(`the proxy did not answer within ${requestTimeoutMs / 1000} s`)),
    )
    req.on("error", reject)
    req.end()
  })

/**
 * One bounded request to the GitHub API, through `spec.proxySecretRef`'s http proxy when there is one (Flux
 * sends the token request through it too): an absolute-form request for an http endpoint, a CONNECT tunnel
 * for https.
 */
const call = (
  method: "GET" | "POST",
  url: URL,
  jwt: string,
  ca: Uint8Array | undefined,
  proxy: URL | undefined,
) =>
  Effect.callback<HttpAnswer, string>((resume) => {
    const headers: Record<string, string> = {
      Accept: "application/vnd.github+json",
      Authorization: `Bearer ${jwt}`,
      "User-Agent": "kustodian-source-controller",
      "X-GitHub-Api-Version": "2022-11-28",
    }
    let req: ClientRequest | undefined
    let done = false
    const finish = (e: Effect.Effect<HttpAnswer, string>) => {
      if (done) return
      done = true
      resume(e)
    }
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on("data", (b: Buffer) => {
        size += b.length
        if (size > maxResponseBytes) {
          req?.destroy()
          finish(Effect.fail(`the answer is larger than ${maxResponseBytes} bytes`))
        } else chunks.push(b)
      })
      res.on("end", () =>
        finish(Effect.succeed({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") })),
      )
      res.on("error", (e) => finish(Effect.fail(e.message)))
    }
    const send = (r: ClientRequest) => {
      req = r
      r.on("timeout", () => r.destroy(new Error(`no answer within ${requestTimeoutMs / 1000} s`)))
      r.on("error", (e) => finish(Effect.fail(e.message)))
      r.end()
    }
    const tlsOptions = ca === undefined || url.protocol !== "https:" ? {} : { ca: Buffer.from(ca) }
    if (proxy === undefined) {
      const request = url.protocol === "https:" ? httpsRequest : httpRequest
      send(request(url, { method, headers, timeout: requestTimeoutMs, ...tlsOptions }, onResponse))
    } else if (url.protocol === "http:") {
      send(
        httpRequest(
          {
            host: proxy.hostname,
            port: proxy.port === "" ? 80 : Number(proxy.port),
            method,
            path: url.toString(),
            headers: { ...headers, Host: url.host, ...proxyAuthorization(proxy) },
            timeout: requestTimeoutMs,
          },
          onResponse,
        ),
      )
    } else {
      tunnel(proxy, url, ca).then(
        (socket) => {
          if (done) {
            socket.destroy()
            return
          }
          send(
            httpsRequest(
              url,
              {
                method,
                headers,
                timeout: requestTimeoutMs,
                agent: false,
                createConnection: () => socket,
                ...tlsOptions,
              },
              onResponse,
            ),
          )
        },
        (e: Error) => finish(Effect.fail(`through the proxy: ${e.message}`)),
      )
    }
    return Effect.sync(() => {
      done = true
      req?.destroy()
    })
  })

interface CachedToken {
  readonly token: string
  readonly refreshAt: number
}

/** The installation token source with its cache; one per fetch stage. */
export const makeGitHubAppTokens = () => {
  const cache = new Map<string, CachedToken>()
  let minted = 0

  /** Basic-auth credentials for `secret`'s installation, minted or from the cache. */
  const credentials = Effect.fn("GitHubApp.credentials")(function* (secret: AuthSecret, proxy?: URL) {
    const data = secret.data
    const invalid = (why: string) => new AuthSecretError({ secret: secret.ref, message: why })
    const appID = text(data, githubAppKeys.appID) ?? ""
    const installationID = text(data, githubAppKeys.installationID) ?? ""
    const owner = text(data, githubAppKeys.installationOwner) ?? ""
    const pem = text(data, githubAppKeys.privateKey) ?? ""
    const base = (text(data, githubAppKeys.baseURL) || defaultBaseURL).replace(/\/+$/, "")
    if (!/^[1-9][0-9]{0,18}$/.test(appID))
      return yield* invalid("app ID must be provided to use github app authentication")
    if (installationID === "" && owner === "")
      return yield* invalid("app installation owner or ID must be provided to use github app authentication")
    if (installationID !== "" && owner !== "")
      return yield* invalid(
        "only one of app installation owner or ID must be provided to use github app authentication",
      )
    if (installationID !== "" && !/^[1-9][0-9]{0,18}$/.test(installationID))
      return yield* invalid(`secret '${secret.ref}': '${githubAppKeys.installationID}' is not a number`)
    if (pem === "") return yield* invalid("private key must be provided to use github app authentication")
    let baseURL: URL
    try {
      baseURL = new URL(`${base}/`)
    } catch {
      return yield* invalid(`secret '${secret.ref}': '${githubAppKeys.baseURL}' is not a URL`)
    }
    if (baseURL.protocol !== "https:" && baseURL.protocol !== "http:")
      return yield* invalid(`secret '${secret.ref}': '${githubAppKeys.baseURL}' must be an http(s) URL`)

    const cacheKey = createHash("sha256")
      .update(JSON.stringify([appID, installationID, owner, baseURL.toString(), pem]))
      .digest("hex")
    const hit = cache.get(cacheKey)
    if (hit !== undefined && Date.now() < hit.refreshAt)
      return { username: accessTokenUsername, password: hit.token }

    let key: KeyObject
    try {
      key = createPrivateKey(pem)
      if (key.asymmetricKeyType !== "rsa") throw new Error("not an RSA key")
    } catch (e) {
      return yield* invalid(
        `could not parse private key: ${e instanceof Error && e.message === "not an RSA key" ? e.message : "invalid PEM"}`,
      )
    }
    const ca = data["ca.crt"]
    const failed = (what: string) =>
      new GitAuthError({
        url: baseURL.toString(),
        message: `failed to get GitHub App installation token: ${what}`,
      })
    const api = (method: "GET" | "POST", path: string) =>
      call(method, new URL(path, baseURL), appJwt(appID, key), ca, proxy).pipe(
        Effect.mapError((e) => failed(`${method} ${new URL(path, baseURL).pathname}: ${e}`)),
      )

    let id = installationID
    if (id === "") {
      // By owner: an organisation's installation, else a user's (Flux asks in that order).
      const owned = encodeURIComponent(owner)
      let found = yield* api("GET", `orgs/${owned}/installation`)
      if (found.status === 404) found = yield* api("GET", `users/${owned}/installation`)
      const foundID = found.status === 200 ? jsonField(found.body, "id") : undefined
      if (typeof foundID !== "number")
        return yield* failed(`no installation of the app found for owner '${owner}' (HTTP ${found.status})`)
      id = String(foundID)
    }
    const answer = yield* api("POST", `app/installations/${id}/access_tokens`)
    if (answer.status !== 201 && answer.status !== 200)
      return yield* failed(
        `POST ${new URL(`app/installations/${id}/access_tokens`, baseURL).pathname}: HTTP ${answer.status}`,
      )
    // A JSON `null` or array is no answer either (reading a field of null was a defect).
    const token = jsonField(answer.body, "token")
    const expires = jsonField(answer.body, "expires_at")
    const expiresAt = typeof expires === "string" ? Date.parse(expires) : Number.NaN
    if (typeof token !== "string" || token === "" || Number.isNaN(expiresAt))
      return yield* failed("the token endpoint's answer has no token or expires_at")
    minted++
    const now = Date.now()
    if (cache.size >= maxCachedTokens) cache.delete(cache.keys().next().value as string)
    cache.set(cacheKey, { token, refreshAt: now + Math.max(0, expiresAt - now) * 0.8 })
    return { username: accessTokenUsername, password: token }
  })

  return { credentials, minted: () => minted }
}
