import * as http from "node:http"
import { Effect } from "effect"

/** A real OTLP/HTTP receiver: collects the JSON bodies posted to /v1/traces. */
export const otlpReceiver = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ server: http.Server; bodies: string[]; url: string }>((resolve) => {
        const bodies: string[] = []
        const server = http.createServer((req, res) => {
          let body = ""
          req.on("data", (c) => {
            body += c
          })
          req.on("end", () => {
            if (req.url === "/v1/traces") bodies.push(body)
            res.writeHead(200, { "Content-Type": "application/json" })
            res.end("{}")
          })
        })
        server.listen(0, "127.0.0.1", () => {
          const addr = server.address() as { port: number }
          resolve({ server, bodies, url: `http://127.0.0.1:${addr.port}` })
        })
      }),
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((r) => server.close(() => r()))),
)
