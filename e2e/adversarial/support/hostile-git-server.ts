/**
 * A git server that a tenant controls and that answers every request with a megabyte of error text: HTTP 500,
 * `text/plain`, so `git` prints every line of it to stderr as `remote: …` (remote-curl's show_http_message).
 * The lines are `a.a.a.…`, the shape that made redaction of git output quadratic. What the operator captures,
 * redacts and puts into a condition must stay bounded.
 */
import { createServer } from "node:http"
import { closeServer, listenOnLoopback } from "../../support/ports.ts"

export interface HostileGitServer {
  readonly url: string
  /** Requests seen (method and path). */
  readonly requests: ReadonlyArray<string>
  /** The bytes of error text each answer carries. */
  readonly errorBytes: number
  readonly stop: () => Promise<void>
}

export const startHostileGitServer = async (errorBytes = 1024 * 1024): Promise<HostileGitServer> => {
  const line = `${"a.".repeat(500)}\n`
  const body = line.repeat(Math.ceil(errorBytes / line.length))
  const requests: string[] = []
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`)
    req.resume()
    res.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end(body)
  })
  const url = await listenOnLoopback(server)
  return {
    url,
    requests,
    errorBytes: body.length,
    stop: () => closeServer(server),
  }
}
