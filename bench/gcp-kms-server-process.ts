/**
 * The local GCP KMS server (e2e/support/gcp-kms-server.ts) in a process of its own, for bench/sops.ts, whose
 * measurements block its own event loop (spawnSync, execFileSync). Prints one JSON line — the KMS endpoint, the
 * CA, a service account's key file and a key it may use — and serves until stdin closes.
 *
 * usage: node bench/gcp-kms-server-process.ts
 */
import { Effect, Exit, Scope } from "effect"
import { gcpKmsServer } from "../e2e/support/gcp-kms-server.ts"

const scope = Effect.runSync(Scope.make())
const server = await Effect.runPromise(Scope.provide(scope)(gcpKmsServer()))
const sa = server.serviceAccount("bench")
const keyId = "projects/kustodian-bench/locations/global/keyRings/bench/cryptoKeys/sops"
server.createKey(keyId, [sa.principal])
process.stdout.write(
  `${JSON.stringify({ kmsEndpoint: server.kmsEndpoint, tokenUrl: server.tokenUrl, ca: server.ca, keyJson: sa.keyJson, keyId })}\n`,
)
process.stdin.resume()
process.stdin.on(
  "close",
  () => void Effect.runPromise(Scope.close(scope, Exit.void)).then(() => process.exit(0)),
)
