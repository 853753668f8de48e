/** Free loopback TCP ports for test servers. */
import type { Server } from "node:http"
import { createServer } from "node:net"

/**
 * A TCP port that was free on 127.0.0.1 a moment ago. Another process may still take it before the caller binds,
 * so callers that spawn servers retry their start on "address already in use".
 */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.once("error", reject)
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address()
      const port = typeof addr === "object" && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })

/** Starts `server` on a free port of 127.0.0.1; resolves with its `http://127.0.0.1:<port>` URL. */
export const listenOnLoopback = async (server: Server): Promise<string> => {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve())
  })
  const address = server.address()
  return `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`
}

/** Stops a test server: drops its open connections (keep-alive, hung requests) and waits until it is closed. */
export const closeServer = (server: Server): Promise<void> =>
  new Promise<void>((resolve) => {
    // Stop accepting first, then end what is open; the callback runs once the last connection is gone.
    server.close(() => resolve())
    server.closeAllConnections()
  })
