/**
 * A local server of GitHub's App installation-token endpoint (`POST /app/installations/{id}/access_tokens`),
 * for `spec.provider: github` tests: it checks the bearer JWT as GitHub does (RS256 with the app's public key,
 * `iss` the app id, not expired) and answers a token the test's git server accepts, valid for `lifetimeMs`;
 * `GET /orgs/acme/installation` finds the installation by owner.
 *
 * @module
 */
import { createPublicKey, generateKeyPairSync, verify } from "node:crypto"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import { Effect } from "effect"
import { closeServer, listenOnLoopback } from "./ports.ts"
import { issueCert, makeCa } from "./tls.ts"

export interface TokenRequest {
  readonly path: string
  readonly status: number
}

export interface GitHubTokenServer {
  readonly url: string
  readonly appID: string
  readonly installationID: string
  /** PKCS#1 PEM, as GitHub hands it out. */
  readonly privateKey: string
  readonly requests: ReadonlyArray<TokenRequest>
  /** The CA (PEM) of its serving certificate, with `tls`. */
  readonly ca: string | undefined
}

const jwtValid = (jwt: string, publicKeyPem: string, appID: string): boolean => {
  const [h, c, sig] = jwt.split(".")
  if (h === undefined || c === undefined || sig === undefined) return false
  const header = JSON.parse(Buffer.from(h, "base64url").toString("utf8")) as { alg?: string }
  const claims = JSON.parse(Buffer.from(c, "base64url").toString("utf8")) as { iss?: unknown; exp?: number }
  if (header.alg !== "RS256" || String(claims.iss) !== appID) return false
  if (typeof claims.exp !== "number" || claims.exp * 1000 < Date.now()) return false
  return verify(
    "RSA-SHA256",
    Buffer.from(`${h}.${c}`),
    createPublicKey(publicKeyPem),
    Buffer.from(sig, "base64url"),
  )
}

/** The endpoint on a free loopback port, closed with the scope, minting `token`. */
export const githubTokenServer = (
  token: string,
  opts: { readonly lifetimeMs?: number; readonly tls?: boolean } = {},
) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const { privateKey, publicKey } = generateKeyPairSync("rsa", {
        modulusLength: 2048,
        privateKeyEncoding: { type: "pkcs1", format: "pem" },
        publicKeyEncoding: { type: "spki", format: "pem" },
      })
      const appID = "31337"
      const installationID = "4242"
      const requests: TokenRequest[] = []
      const handler = (req: IncomingMessage, res: ServerResponse) => {
        const path = req.url ?? ""
        const answer = (status: number, body: unknown) => {
          requests.push({ path, status })
          res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body))
        }
        const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1]
        if (bearer === undefined || !jwtValid(bearer, publicKey, appID))
          return answer(401, { message: "A JSON web token could not be decoded" })
        // Installation lookup by owner: the organisation "acme" has the app installed, nobody else.
        if (req.method === "GET" && path === "/orgs/acme/installation")
          return answer(200, { id: Number(installationID) })
        if (req.method === "GET" && /^\/(orgs|users)\/[^/]+\/installation$/.test(path))
          return answer(404, { message: "Not Found" })
        if (req.method !== "POST" || path !== `/app/installations/${installationID}/access_tokens`)
          return answer(404, { message: "Not Found" })
        answer(201, {
          token,
          expires_at: new Date(Date.now() + (opts.lifetimeMs ?? 3_600_000)).toISOString(),
        })
      }
      const ca = opts.tls === true ? makeCa("kustodian-test-github-ca") : undefined
      const leaf =
        ca === undefined
          ? undefined
          : issueCert(ca, { commonName: "api", ipAddresses: ["127.0.0.1"], usage: "server" })
      const server =
        leaf === undefined
          ? createServer(handler)
          : createHttpsServer({ cert: leaf.cert, key: leaf.key }, handler)
      const plain = await listenOnLoopback(server)
      const url = leaf === undefined ? plain : plain.replace(/^http:/, "https:")
      const endpoint: GitHubTokenServer = { url, appID, installationID, privateKey, requests, ca: ca?.cert }
      return { server, endpoint }
    }),
    ({ server }) => Effect.promise(() => closeServer(server)),
  ).pipe(Effect.map(({ endpoint }) => endpoint))
