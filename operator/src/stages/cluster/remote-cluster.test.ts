/**
 * A tenant's kubeconfig names any server it likes: these local HTTP servers (real node:http on loopback, the
 * wire protocol a remote API server speaks) play a hostile or wrong one — one that never answers, one that
 * streams without end, one that answers text where JSON is due. Each must fail the Kustomization naming the
 * Secret, bounded in time and memory, and never quote what the server said.
 */
import { createServer, type Server } from "node:http"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { stringify } from "yaml"
import { closeServer, listenOnLoopback } from "../../../../e2e/support/ports.ts"
import { makeRemoteClusters } from "./remote-cluster.ts"

const kubeconfigFor = (server: string) =>
  Buffer.from(
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "remote", cluster: { server } }],
      users: [{ name: "u", user: { token: "t0ken" } }],
      contexts: [{ name: "remote", context: { cluster: "remote", user: "u" } }],
      "current-context": "remote",
    }),
  ).toString("base64")

const withServer = <A, E>(
  handler: Parameters<typeof createServer>[1],
  use: (url: string) => Effect.Effect<A, E>,
  onServer?: (server: Server) => void,
) =>
  Effect.acquireUseRelease(
    Effect.promise(async () => {
      const server: Server = createServer(handler)
      // Keep idle connections open from this side: only the client may close them.
      server.keepAliveTimeout = 60_000
      onServer?.(server)
      return { server, url: await listenOnLoopback(server) }
    }),
    ({ url }) => use(url),
    ({ server }) => Effect.promise(() => closeServer(server)),
  )

/** The remote-cluster cache of one tenant whose kubeconfig Secret points at `url`. */
const remotesFor = (url: string, requestTimeoutMs: number) =>
  makeRemoteClusters({
    readSecret: () =>
      Effect.succeed(
        Option.some({
          namespace: "tenant",
          name: "kc",
          uid: "u1",
          resourceVersion: "1",
          data: { value: kubeconfigFor(url) },
        }),
      ),
    policy: {},
    limits: { requestTimeoutMs, maxResponseBytes: 1024 * 1024, idleSocketMs: 300 },
  })

const resolveAgainst = (url: string) => {
  const remotes = remotesFor(url, 500)
  return remotes.resolve("tenant/app", "tenant", { name: "kc" }).pipe(
    Effect.flip,
    Effect.map((e) => e.message),
    Effect.timeout("10 seconds"),
  )
}

describe("a remote cluster's server is hostile input", () => {
  it.live("a server that never answers fails within the request timeout, not never", () =>
    withServer(
      () => {
        // Accept the request and say nothing.
      },
      (url) =>
        Effect.gen(function* () {
          const started = Date.now()
          const message = yield* resolveAgainst(url)
          expect(Date.now() - started).toBeLessThan(5_000)
          expect(message).toContain("KubeConfig secret 'tenant/kc'")
          expect(message).toContain("0.5 s")
        }),
    ),
  )

  it.live("an endless answer is cut at the response bound", () =>
    withServer(
      (_req, res) => {
        res.writeHead(200, { "Content-Type": "application/json" })
        const chunk = Buffer.alloc(64 * 1024, 0x20)
        const pump = () => {
          while (res.write(chunk)) {
            // keep the socket full
          }
        }
        res.on("drain", pump)
        pump()
      },
      (url) =>
        Effect.gen(function* () {
          const message = yield* resolveAgainst(url)
          expect(message).toContain("KubeConfig secret 'tenant/kc'")
          expect(message).toContain("larger than 1048576 bytes")
        }),
    ),
  )

  it.live("a text answer where JSON is due fails naming the Secret, never quoting the text", () =>
    withServer(
      (_req, res) => {
        res.writeHead(200, { "Content-Type": "text/plain" })
        res.end("ami-id\nIAM-ROLE-CREDENTIALS-AKIAEXAMPLE\n")
      },
      (url) =>
        Effect.gen(function* () {
          const message = yield* resolveAgainst(url)
          expect(message).toContain("KubeConfig secret 'tenant/kc'")
          expect(message).toContain("not JSON")
          expect(message).not.toContain("AKIA")
          expect(message).not.toContain("ami-id")
        }),
    ),
  )

  it.live(
    "a pool's idle connections are closed: a thousand remote Kustomizations do not hold a thousand sockets",
    () =>
      Effect.gen(function* () {
        let server: Server | undefined
        yield* withServer(
          (req, res) => {
            res.writeHead(200, { "Content-Type": "application/json" })
            res.end(
              req.url === "/api"
                ? JSON.stringify({ kind: "APIVersions", versions: ["v1"] })
                : JSON.stringify({ kind: "APIGroupList", groups: [] }),
            )
          },
          (url) =>
            Effect.gen(function* () {
              const remotes = remotesFor(url, 5_000)
              yield* remotes.resolve("tenant/app", "tenant", { name: "kc" })
              expect(remotes.size()).toBe(1)
              yield* Effect.sleep("1 second")
              const open = yield* Effect.promise(
                () =>
                  new Promise<number>((resolve) => (server as Server).getConnections((_e, n) => resolve(n))),
              )
              expect(open).toBe(0)
              yield* remotes.release("tenant/app")
            }),
          (s) => {
            server = s
          },
        )
      }),
  )
})
