/**
 * The HTTP server that makes `status.artifact.url` real: serves the storage directory read-only (GET/HEAD
 * of `.tar.gz` files), as source-controller's storage server does on `:9090`. The operator binds it to loopback
 * by default (`--storage-addr`, see `layer.ts`): its own Kustomization controller reads the storage directory, so
 * only `kubectl port-forward` users, or other consumers an admin opens it to, download artifacts here.
 */
import { createReadStream } from "node:fs"
import { stat } from "node:fs/promises"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Context, Effect, Layer } from "effect"
import { ArtifactStorage } from "./storage.ts"

export interface ArtifactServerConfig {
  /** Port to listen on (Flux's `--storage-addr=:9090`); 0 picks a free one (tests). */
  readonly port: number
  /** Interface to bind; default all (the operator passes its `--storage-addr` host, loopback by default). */
  readonly host?: string
}

export class ArtifactServer extends Context.Service<
  ArtifactServer,
  {
    /** The port actually bound. */
    readonly port: number
  }
>()("kustodian/stages/fetch/ArtifactServer") {
  /** Listen for as long as the layer lives. */
  static readonly layer = (config: ArtifactServerConfig) =>
    Layer.effect(
      ArtifactServer,
      Effect.gen(function* () {
        const storage = yield* ArtifactStorage
        const handle = (path: string) => Effect.runPromise(Effect.result(storage.localPath(path)))
        const server = yield* Effect.acquireRelease(
          Effect.callback<Server>((resume) => {
            const s = createServer((req, res) => {
              void (async () => {
                if (req.method !== "GET" && req.method !== "HEAD") {
                  res.writeHead(405, { allow: "GET, HEAD" }).end()
                  return
                }
                let rel: string
                try {
                  rel = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname).replace(/^\/+/, "")
                } catch {
                  res.writeHead(400).end()
                  return
                }
                const resolved = await handle(rel)
                if (resolved._tag === "Failure" || !rel.endsWith(".tar.gz")) {
                  res.writeHead(404).end()
                  return
                }
                const file = resolved.success
                const st = await stat(file).catch(() => undefined)
                if (st === undefined || !st.isFile()) {
                  res.writeHead(404, { "content-type": "text/plain" }).end("artifact not found\n")
                  return
                }
                res.writeHead(200, {
                  "content-type": "application/gzip",
                  "content-length": st.size,
                  "last-modified": st.mtime.toUTCString(),
                })
                if (req.method === "HEAD") res.end()
                else
                  createReadStream(file)
                    .on("error", () => res.destroy())
                    .pipe(res)
              })().catch(() => {
                if (!res.headersSent) res.writeHead(500)
                res.end()
              })
            })
            s.once("error", (e) => resume(Effect.die(e)))
            s.listen(config.port, config.host, () => resume(Effect.succeed(s)))
          }),
          (s) =>
            Effect.callback<void>((resume) => {
              s.closeAllConnections()
              s.close(() => resume(Effect.void))
            }),
        )
        return ArtifactServer.of({ port: (server.address() as AddressInfo).port })
      }),
    )
}
