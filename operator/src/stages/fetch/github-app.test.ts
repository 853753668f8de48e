/**
 * `githubAppBaseURL` is the tenant's to choose, so the installation lookup may reach any HTTP server: a local
 * node:http server here plays one that answers 200 with text (a metadata service, an internal page). The
 * lookup must fail as an error naming the Secret's URL, never a defect whose parse message quotes the page.
 */
import { generateKeyPairSync } from "node:crypto"
import { createServer } from "node:http"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { listenOnLoopback } from "../../../../e2e/support/ports.ts"
import { makeGitHubAppTokens } from "./github-app.ts"

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString()

describe("GitHub App token lookup against a server that is not GitHub", () => {
  it.live("a 200 text answer to the installation lookup is an error, not a defect quoting it", () =>
    Effect.acquireUseRelease(
      Effect.promise(async () => {
        const server = createServer((req, res) => {
          // The token endpoint answers JSON null; everything else is a text page.
          if (req.method === "POST") {
            res.writeHead(201, { "Content-Type": "application/json" })
            res.end("null")
            return
          }
          res.writeHead(200, { "Content-Type": "text/plain" })
          res.end("ami-id\nIAM-ROLE-CREDENTIALS-AKIAEXAMPLE\n")
        })
        return { server, url: await listenOnLoopback(server) }
      }),
      ({ url }) =>
        Effect.gen(function* () {
          const data = {
            githubAppID: Buffer.from("1"),
            githubAppInstallationOwner: Buffer.from("acme"),
            githubAppPrivateKey: Buffer.from(pem),
            githubAppBaseURL: Buffer.from(`${url}/latest/meta-data`),
          }
          const error = yield* makeGitHubAppTokens()
            .credentials({ ref: "tenant/app", data })
            .pipe(Effect.flip)
          expect(error.message).toContain("installation")
          expect(error.message).not.toContain("AKIA")
          expect(error.message).not.toContain("ami-id")
          const byID = yield* makeGitHubAppTokens()
            .credentials({
              ref: "tenant/app",
              data: {
                ...data,
                githubAppInstallationOwner: Buffer.from(""),
                githubAppInstallationID: Buffer.from("7"),
              },
            })
            .pipe(Effect.flip)
          expect(byID.message).toContain("has no token or expires_at")
        }),
      ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve()))),
    ),
  )
})
