/**
 * A local server of notification-controller's event wire protocol (POST of an `eventv1.Event` JSON body, answered
 * 202; 429 for a duplicate), on loopback, for tests of `--events-addr`. `mode` makes it fail (500) or hang (accept
 * the connection, never answer) to test retries and a receiver that is away.
 */
import * as http from "node:http"
import { Effect } from "effect"
import { closeServer, listenOnLoopback } from "../../../../e2e/support/ports.ts"
import type { FluxEvent } from "../event-forwarder.ts"

export type ReceiverMode = "accept" | "fail" | "duplicate" | "hang"

export interface EventReceiver {
  readonly url: string
  /** Every request's decoded body, in arrival order (failed and hung ones too). */
  readonly events: Array<FluxEvent>
  /** Every request's method, path and content type. */
  readonly requests: Array<{ readonly method: string; readonly path: string; readonly contentType: string }>
  mode: ReceiverMode
}

export const eventReceiver = (mode: ReceiverMode = "accept") =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const receiver = { events: [], requests: [], mode } as unknown as EventReceiver & { url: string }
      const server = http.createServer((req, res) => {
        const chunks: Buffer[] = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          receiver.requests.push({
            method: req.method ?? "",
            path: req.url ?? "",
            contentType: req.headers["content-type"] ?? "",
          })
          try {
            receiver.events.push(JSON.parse(Buffer.concat(chunks).toString("utf8")) as FluxEvent)
          } catch {
            // Recorded in `requests`; a test sees the missing event.
          }
          switch (receiver.mode) {
            case "hang":
              return
            case "fail":
              res.writeHead(500)
              return res.end("boom")
            case "duplicate":
              res.writeHead(429)
              return res.end()
            default:
              res.writeHead(202)
              return res.end()
          }
        })
      })
      const url = await listenOnLoopback(server)
      Object.assign(receiver, { url: `${url}/` })
      return { receiver, server }
    }),
    ({ server }) => Effect.promise(() => closeServer(server)),
  ).pipe(Effect.map(({ receiver }) => receiver))
