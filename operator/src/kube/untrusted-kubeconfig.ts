/**
 * A kubeconfig written by a tenant (a Kustomization's `spec.kubeConfig.secretRef`), read under Flux's rules
 * (fluxcd/pkg runtime/client KubeConfig): only the current context's server, TLS data (CA, client certificate and
 * key, server name) and static credentials (token, username/password) are used. Flux drops the rest silently; here
 * it is refused, naming the field, because a dropped field changes what the kubeconfig means:
 *
 * - file references (`certificate-authority`, `client-certificate`, `client-key`, `tokenFile`) would read the
 *   controller's own filesystem — its ServiceAccount token among it — on a tenant's behalf;
 * - `exec` runs a program in the controller: only with `--insecure-kubeconfig-exec`, as in Flux;
 * - `insecure-skip-tls-verify`: only with `--insecure-kubeconfig-tls`, as in Flux (which otherwise verifies anyway);
 * - `auth-provider` (never supported by Flux), `proxy-url`, and the kubeconfig's own impersonation (`as`,
 *   `as-groups`, `as-uid`, `as-user-extra`: the identity is `spec.serviceAccountName`'s, set by the controller).
 *
 * The kubeconfig is a secret: its size is bounded, and no error here quotes any of its content (a YAML error
 * gives the line only, never the parser's code frame).
 *
 * @module
 */
import * as http from "node:http"
import * as https from "node:https"
import { Data, Effect } from "effect"
import * as YAML from "yaml"
import { type Connection, fromKubeConfig } from "./connection.ts"

/** The controller flags that widen what a tenant's kubeconfig may use (Flux's names). */
export interface KubeConfigPolicy {
  /** `--insecure-kubeconfig-exec`: allow `users[].user.exec` credential plugins. */
  readonly allowExec?: boolean | undefined
  /** `--insecure-kubeconfig-tls`: allow `clusters[].cluster.insecure-skip-tls-verify: true`. */
  readonly allowInsecureTls?: boolean | undefined
}

/**
 * Far above any real kubeconfig (a CA, a client certificate and key: a few KiB) and below the API server's 1 MiB
 * Secret limit, so a parse never sees a megabyte of hostile YAML.
 */
export const maxKubeConfigBytes = 256 * 1024

/**
 * What one request to a tenant's server may take and answer. Its server is whatever the kubeconfig names — a
 * black hole would hold a reconcile worker for ever (the controller's own requests have no deadline), an endless
 * answer would fill the heap. 30 s is far above any API server's answer to one apply or get; 32 MiB far above
 * any discovery document or object. A pool's sockets are closed after a minute idle (Go's transport: 90 s), so
 * each Kustomization with a kubeconfig holds connections while it reconciles, not between its runs: a tenant
 * with a thousand of them, or a server that never closes a connection, does not take a thousand descriptors.
 */
export interface RemoteLimits {
  readonly requestTimeoutMs: number
  readonly maxResponseBytes: number
  readonly idleSocketMs: number
}
export const defaultRemoteLimits: RemoteLimits = {
  requestTimeoutMs: 30_000,
  maxResponseBytes: 32 * 1024 * 1024,
  idleSocketMs: 60_000,
}

/** The kubeconfig is not usable; `message` names the field, never a value. */
export class UntrustedKubeConfigError extends Data.TaggedError("UntrustedKubeConfigError")<{
  readonly message: string
}> {}

/** What the sanitised kubeconfig says: where the cluster is and how to authenticate to it. */
export interface RemoteEndpoint {
  readonly server: URL
  readonly tls: {
    readonly ca?: Buffer | undefined
    readonly cert?: Buffer | undefined
    readonly key?: Buffer | undefined
    readonly serverName?: string | undefined
    readonly insecure: boolean
  }
  readonly headers: Readonly<Record<string, string>>
  /** The kubeconfig uses an exec plugin (allowed by the policy): client-node runs it per request. */
  readonly exec: boolean
}

type Doc = Record<string, unknown>

const refuse = (message: string) => new UntrustedKubeConfigError({ message })

const isRecord = (v: unknown): v is Doc => typeof v === "object" && v !== null && !Array.isArray(v)

/** The entry of a named list (`clusters`, `users`, `contexts`) with this name, and its inner object. */
const named = (doc: Doc, list: string, inner: string, name: string): Doc | undefined => {
  const items = doc[list]
  if (!Array.isArray(items)) return undefined
  const hit = items.find((i) => isRecord(i) && i.name === name) as Doc | undefined
  return hit === undefined ? undefined : isRecord(hit[inner]) ? (hit[inner] as Doc) : {}
}

const present = (v: unknown) => v !== undefined && v !== null && v !== ""

const base64Field = (obj: Doc, field: string, where: string): Buffer | undefined => {
  const v = obj[field]
  if (!present(v)) return undefined
  if (typeof v !== "string" || !/^[A-Za-z0-9+/=\s]*$/u.test(v))
    throw refuse(`${where}.${field} is not base64`)
  return Buffer.from(v, "base64")
}

const stringField = (obj: Doc, field: string, where: string): string | undefined => {
  const v = obj[field]
  if (!present(v)) return undefined
  if (typeof v !== "string") throw refuse(`${where}.${field} must be a string`)
  return v
}

/** Fields Flux does not carry over, and why they are refused here rather than dropped. */
const refusedClusterFields: ReadonlyArray<readonly [string, string]> = [
  ["certificate-authority", "a file on the controller; use certificate-authority-data"],
  ["proxy-url", "proxies are not supported"],
]
const refusedUserFields: ReadonlyArray<readonly [string, string]> = [
  ["client-certificate", "a file on the controller; use client-certificate-data"],
  ["client-key", "a file on the controller; use client-key-data"],
  ["tokenFile", "a file on the controller; use token"],
  ["auth-provider", "auth-provider plugins are not supported (as in Flux)"],
  ["as", "impersonation comes from spec.serviceAccountName"],
  ["as-groups", "impersonation comes from spec.serviceAccountName"],
  ["as-uid", "impersonation comes from spec.serviceAccountName"],
  ["as-user-extra", "impersonation comes from spec.serviceAccountName"],
]

/** Parses and sanitises a kubeconfig; fails naming the offending field. */
export const parseUntrustedKubeConfig = (
  bytes: Uint8Array,
  policy: KubeConfigPolicy = {},
): Effect.Effect<RemoteEndpoint, UntrustedKubeConfigError> =>
  Effect.try({
    try: () => sanitise(bytes, policy),
    catch: (e) =>
      e instanceof UntrustedKubeConfigError
        ? e
        : refuse("could not be read (no detail: it holds credentials)"),
  })

const sanitise = (bytes: Uint8Array, policy: KubeConfigPolicy): RemoteEndpoint => {
  if (bytes.byteLength > maxKubeConfigBytes)
    throw refuse(`is ${bytes.byteLength} bytes, more than the ${maxKubeConfigBytes} a kubeconfig may have`)
  let doc: unknown
  try {
    doc = YAML.parse(Buffer.from(bytes).toString("utf8"), { maxAliasCount: 0, prettyErrors: false })
  } catch (e) {
    const line = (e as { linePos?: ReadonlyArray<{ line: number }> }).linePos?.[0]?.line
    throw refuse(`is not valid YAML${line === undefined ? "" : ` (line ${line})`}`)
  }
  if (!isRecord(doc))
    throw refuse("is not a kubeconfig (expected a mapping with clusters, users and contexts)")
  const current = doc["current-context"]
  if (typeof current !== "string" || current === "") throw refuse("has no current-context")
  const context = named(doc, "contexts", "context", current)
  if (context === undefined) throw refuse(`has no context named by current-context`)
  const clusterName = context.cluster
  if (typeof clusterName !== "string" || clusterName === "") throw refuse("current context names no cluster")
  const cluster = named(doc, "clusters", "cluster", clusterName)
  if (cluster === undefined) throw refuse("has no cluster named by the current context")
  const userName = context.user
  const user =
    typeof userName === "string" && userName !== "" ? (named(doc, "users", "user", userName) ?? {}) : {}

  for (const [field, why] of refusedClusterFields)
    if (present(cluster[field])) throw refuse(`uses clusters[].cluster.${field}, which is refused: ${why}`)
  for (const [field, why] of refusedUserFields)
    if (present(user[field])) throw refuse(`uses users[].user.${field}, which is refused: ${why}`)
  const exec = present(user.exec)
  if (exec && !policy.allowExec)
    throw refuse(
      "uses users[].user.exec, which runs a program in the controller: refused unless the controller runs with " +
        "--insecure-kubeconfig-exec",
    )
  if (exec && (!isRecord(user.exec) || typeof user.exec.command !== "string" || user.exec.command === ""))
    throw refuse("users[].user.exec has no command")

  const serverText = stringField(cluster, "server", "clusters[].cluster")
  if (serverText === undefined) throw refuse("clusters[].cluster.server is not set")
  let server: URL
  try {
    server = new URL(serverText)
  } catch {
    throw refuse("clusters[].cluster.server is not a URL")
  }
  if (server.protocol !== "https:" && server.protocol !== "http:")
    throw refuse("clusters[].cluster.server must be an https:// or http:// URL")
  if (server.username !== "" || server.password !== "")
    throw refuse("clusters[].cluster.server must not hold credentials")

  const insecureValue = cluster["insecure-skip-tls-verify"]
  const insecure = insecureValue === true || insecureValue === "true"
  if (insecure && !policy.allowInsecureTls)
    throw refuse(
      "sets clusters[].cluster.insecure-skip-tls-verify, which turns off TLS verification: refused unless the " +
        "controller runs with --insecure-kubeconfig-tls",
    )

  const token = stringField(user, "token", "users[].user")
  const username = stringField(user, "username", "users[].user")
  const password = stringField(user, "password", "users[].user")
  const headers: Record<string, string> =
    token !== undefined
      ? { Authorization: `Bearer ${token.trim()}` }
      : username !== undefined || password !== undefined
        ? { Authorization: `Basic ${Buffer.from(`${username ?? ""}:${password ?? ""}`).toString("base64")}` }
        : {}
  const cert = base64Field(user, "client-certificate-data", "users[].user")
  const key = base64Field(user, "client-key-data", "users[].user")
  if ((cert === undefined) !== (key === undefined))
    throw refuse("users[].user needs both client-certificate-data and client-key-data, or neither")
  return {
    server,
    tls: {
      ca: base64Field(cluster, "certificate-authority-data", "clusters[].cluster"),
      cert,
      key,
      serverName: stringField(cluster, "tls-server-name", "clusters[].cluster"),
      insecure,
    },
    headers,
    exec,
  }
}

/**
 * Opens a connection pool for a sanitised kubeconfig. Static credentials need no library; an allowed exec plugin
 * goes through @kubernetes/client-node (which runs it and caches its credential until it expires), fed the
 * kubeconfig that was just checked.
 */
export const connectUntrusted = (
  endpoint: RemoteEndpoint,
  bytes: Uint8Array,
  limits: RemoteLimits = defaultRemoteLimits,
): Effect.Effect<Connection, UntrustedKubeConfigError> =>
  Effect.tryPromise({
    try: async (): Promise<Connection> => {
      if (endpoint.exec) {
        const { KubeConfig } = await import("@kubernetes/client-node")
        const kc = new KubeConfig()
        kc.loadFromString(Buffer.from(bytes).toString("utf8"))
        return { ...(await fromKubeConfig(kc)), limits }
      }
      const { server, tls } = endpoint
      const agent =
        server.protocol === "https:"
          ? new https.Agent({
              keepAlive: true,
              maxSockets: 16,
              // On a socket in use, the timeout only emits an event (requestTimeoutMs bounds a request); an idle one
              // in the pool is destroyed.
              timeout: limits.idleSocketMs,
              ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
              ...(tls.cert !== undefined ? { cert: tls.cert, key: tls.key } : {}),
              ...(tls.serverName !== undefined ? { servername: tls.serverName } : {}),
              ...(tls.insecure ? { rejectUnauthorized: false } : {}),
            })
          : new http.Agent({ keepAlive: true, maxSockets: 16, timeout: limits.idleSocketMs })
      const headers = endpoint.headers
      return { server, agent, headers: async () => headers, close: () => agent.destroy(), limits }
    },
    catch: () => refuse("could not be loaded (no detail: it holds credentials)"),
  })
