import { readFile } from "node:fs/promises"
import * as http from "node:http"
import * as https from "node:https"
import type { KubeConfig } from "@kubernetes/client-node"
import { Effect } from "effect"
import { KubeConfigError } from "./errors.ts"

/**
 * Where the API server is and how to authenticate: the result of reading a kubeconfig once.
 * In a pod, from the ServiceAccount's mounted files (the token re-read as the kubelet rotates it). Elsewhere,
 * from @kubernetes/client-node's KubeConfig (so exec plugins, tokens and client certs work as in kubectl),
 * loaded only then: in the cluster, the operator never pays for that library's memory. Requests go through
 * plain node:https — client-node's serializers drop unknown fields.
 */
export interface Connection {
  readonly server: URL
  readonly agent: http.Agent
  /** Headers for the next request; refreshes short-lived credentials (exec plugins, token files). */
  readonly headers: () => Promise<Record<string, string>>
  readonly close: () => void
  /**
   * Bounds for a server that is not trusted (a tenant's kubeconfig names any server it likes): each request's
   * time from sending to its last byte, and the size of one answer. Unset for the controller's own cluster.
   */
  readonly limits?:
    | { readonly requestTimeoutMs: number; readonly maxResponseBytes: number; readonly idleSocketMs: number }
    | undefined
}

/** Where to read the kubeconfig from. */
export type KubeConfigSource =
  | { readonly _tag: "File"; readonly path: string; readonly context?: string | undefined }
  | { readonly _tag: "InCluster" }
  | { readonly _tag: "Default" }

const describe = (source: KubeConfigSource): string =>
  source._tag === "File"
    ? source.path
    : source._tag === "InCluster"
      ? "in-cluster service account"
      : "default kubeconfig"

const load = async (source: Exclude<KubeConfigSource, { _tag: "InCluster" }>): Promise<KubeConfig> => {
  const { KubeConfig } = await import("@kubernetes/client-node")
  const kc = new KubeConfig()
  if (source._tag === "File") {
    kc.loadFromFile(source.path)
    if (source.context !== undefined) kc.setCurrentContext(source.context)
  } else kc.loadFromDefault()
  return kc
}

/** Where the kubelet mounts the ServiceAccount's credentials. */
export const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

/** How long a read token is reused: the kubelet rotates it well before expiry, so a minute is always fresh. */
const tokenReuseMs = 60_000

/** The in-cluster connection: `KUBERNETES_SERVICE_HOST`/`_PORT`, the mounted CA and the rotating token. */
const inCluster = async (dir = serviceAccountDir): Promise<Connection> => {
  const host = process.env.KUBERNETES_SERVICE_HOST
  const port = process.env.KUBERNETES_SERVICE_PORT
  if (!host || !port) throw new Error("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")
  const server = new URL(`https://${host.includes(":") ? `[${host}]` : host}:${port}`)
  const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ca: await readFile(`${dir}/ca.crt`) })
  let token: { value: string; read: number } | undefined
  const headers = async () => {
    if (token === undefined || Date.now() - token.read > tokenReuseMs)
      token = { value: (await readFile(`${dir}/token`, "utf8")).trim(), read: Date.now() }
    return { Authorization: `Bearer ${token.value}` }
  }
  await headers()
  return { server, agent, headers, close: () => agent.destroy() }
}

/**
 * The connection a client-node KubeConfig describes (its current context). Static credentials are read once;
 * exec/auth-provider credentials expire and are re-read per request.
 */
export const fromKubeConfig = async (kc: KubeConfig): Promise<Connection> => {
  const cluster = kc.getCurrentCluster()
  if (cluster === null) throw new Error("no current cluster")
  const server = new URL(cluster.server)
  const opts: https.RequestOptions = {}
  await kc.applyToHTTPSOptions(opts)
  const user = kc.getCurrentUser()
  const dynamic = user !== null && (user.exec !== undefined || user.authProvider !== undefined)
  const staticHeaders = normaliseHeaders(opts.headers, opts.auth)
  const agentOptions = {
    keepAlive: true,
    maxSockets: 64,
    ca: opts.ca,
    cert: opts.cert,
    key: opts.key,
    ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
    ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
  }
  const agent =
    server.protocol === "https:" ? new https.Agent(agentOptions) : new http.Agent({ keepAlive: true })
  return {
    server,
    agent,
    headers: dynamic
      ? async () => {
          const fresh: https.RequestOptions = {}
          await kc.applyToHTTPSOptions(fresh)
          return normaliseHeaders(fresh.headers, fresh.auth)
        }
      : async () => staticHeaders,
    close: () => agent.destroy(),
  }
}

/** Opens a connection pool to the cluster named by the kubeconfig; closed with the scope. */
export const connect = (source: KubeConfigSource) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async (): Promise<Connection> => {
        if (source._tag === "InCluster") return await inCluster()
        return await fromKubeConfig(await load(source))
      },
      catch: (cause) =>
        new KubeConfigError({
          source: describe(source),
          message: cause instanceof Error ? cause.message : String(cause),
        }),
    }),
    (conn) => Effect.sync(() => conn.close()),
  )

const normaliseHeaders = (
  headers: http.OutgoingHttpHeaders | readonly string[] | undefined,
  auth: string | null | undefined,
) => {
  const out: Record<string, string> = {}
  if (headers !== undefined && !Array.isArray(headers)) {
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = String(v)
  }
  if (auth) out.Authorization = `Basic ${Buffer.from(auth).toString("base64")}`
  return out
}
