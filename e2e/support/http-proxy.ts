/**
 * A local HTTP proxy of the real wire protocol, for `spec.proxySecretRef` tests: absolute-form requests
 * (`GET http://host/path`, what git sends for an http remote through a proxy) are forwarded, `CONNECT` is
 * tunnelled (https remotes), and with credentials configured everything else gets 407. Each request is
 * recorded, so a test can prove the traffic went through the proxy.
 *
 * @module
 */
import { createServer, request } from "node:http"
import { connect } from "node:net"
import { Effect } from "effect"
import { listenOnLoopback } from "./ports.ts"

export interface ProxiedRequest {
  readonly method: string
  /** The absolute URL or `host:port` asked for. */
  readonly target: string
  readonly status: number
}

export interface HttpProxy {
  /** `http://127.0.0.1:<port>` (no credentials). */
  readonly url: string
  readonly requests: ReadonlyArray<ProxiedRequest>
}

/** A proxy on a free loopback port, closed with the scope; `auth` makes it demand Proxy-Authorization. */
export const httpProxy = (auth?: { readonly username: string; readonly password: string }) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const requests: ProxiedRequest[] = []
      const expected =
        auth === undefined
          ? undefined
          : `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`
      const allowed = (header: string | undefined) => expected === undefined || header === expected
      const server = createServer((req, res) => {
        const target = req.url ?? ""
        if (!allowed(req.headers["proxy-authorization"])) {
          requests.push({ method: req.method ?? "", target, status: 407 })
          res.writeHead(407, { "Proxy-Authenticate": 'Basic realm="kustodian-test-proxy"' }).end()
          return
        }
        if (!/^https?:\/\//.test(target)) {
          requests.push({ method: req.method ?? "", target, status: 400 })
          res.writeHead(400).end("not a proxy request\n")
          return
        }
        const headers = { ...req.headers }
        delete headers["proxy-authorization"]
        delete headers["proxy-connection"]
        const upstream = request(target, { method: req.method, headers }, (up) => {
          requests.push({ method: req.method ?? "", target, status: up.statusCode ?? 0 })
          res.writeHead(up.statusCode ?? 502, up.headers)
          up.pipe(res)
        })
        upstream.on("error", () => res.writeHead(502).end())
        req.pipe(upstream)
      })
      // Tunnelled sockets leave the HTTP server's bookkeeping: closed with the proxy, or it never closes.
      const tunnels = new Set<{ destroy: () => void }>()
      server.on("connect", (req, socket, head) => {
        const target = req.url ?? ""
        tunnels.add(socket)
        socket.on("close", () => tunnels.delete(socket))
        if (!allowed(req.headers["proxy-authorization"])) {
          requests.push({ method: "CONNECT", target, status: 407 })
          socket.end(
            // A complete answer that closes: curl then reconnects with the credentials (its anyauth probe).
            'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="kustodian-test-proxy"\r\n' +
              "Content-Length: 0\r\nConnection: close\r\n\r\n",
          )
          return
        }
        const [host, port] = target.split(":")
        const upstream = connect(Number(port), host ?? "127.0.0.1", () => {
          requests.push({ method: "CONNECT", target, status: 200 })
          socket.write("HTTP/1.1 200 Connection Established\r\n\r\n")
          upstream.write(head)
          upstream.pipe(socket)
          socket.pipe(upstream)
        })
        tunnels.add(upstream)
        upstream.on("close", () => tunnels.delete(upstream))
        upstream.on("error", () => socket.destroy())
        socket.on("error", () => upstream.destroy())
      })
      const url = await listenOnLoopback(server)
      return { server, tunnels, proxy: { url, requests } satisfies HttpProxy }
    }),
    ({ server, tunnels }) =>
      Effect.promise(
        () =>
          new Promise<void>((resolve) => {
            for (const t of tunnels) t.destroy()
            server.closeAllConnections()
            server.close(() => resolve())
          }),
      ),
  ).pipe(Effect.map(({ proxy }) => proxy))
