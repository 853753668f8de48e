/**
 * moto's server on a free loopback port: a real server of the AWS KMS and STS wire protocols (JSON 1.1 and
 * query) for the AWS KMS key provider and the real sops to talk to. moto accepts any access key; it checks
 * what KMS checks about ciphertexts (the key they belong to, the encryption context) and STS returns
 * temporary credentials for AssumeRole and AssumeRoleWithWebIdentity.
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CreateKeyCommand, KMSClient } from "@aws-sdk/client-kms"
import { Effect } from "effect"
import { freePort } from "./ports.ts"
import { daemon, waitReady } from "./process.ts"
import { toolPath } from "./tools.ts"

/** Static test credentials moto accepts; they stand for a Secret's `sops.aws-kms` keys. */
export const motoCredentials = {
  accessKeyId: "AKIAMOTOTESTKEY00001",
  secretAccessKey: "moto-test-secret-access-key-do-not-log",
} as const

/** moto's default account. */
export const motoAccount = "123456789012"

export interface Moto {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  /** Environment for sops and the CLI: endpoint, the test keys, a region. */
  readonly env: Readonly<Record<string, string>>
  /** Creates a symmetric KMS key in `region` and returns its ARN. */
  readonly createKey: (region?: string) => Promise<string>
}

/** Starts moto's server for the scope; stopped (its process group) when the scope closes. */
export const motoServer = Effect.fn("motoServer")(function* () {
  const dir = mkdtempSync(join(tmpdir(), "kustodian-moto-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const port = yield* Effect.promise(() => freePort())
  const url = `http://127.0.0.1:${port}`
  const d = yield* daemon({
    name: "moto",
    command: toolPath("moto-server"),
    args: ["-H", "127.0.0.1", "-p", String(port)],
    logFile: join(dir, "moto.log"),
    env: { ...process.env, MOTO_ALLOW_NONEXISTENT_REGION: "true" },
  })
  yield* waitReady(
    d,
    async () => (await fetch(`${url}/moto-api/`, { signal: AbortSignal.timeout(2000) })).ok,
    60_000,
    "serving",
  )
  const clients = new Map<string, KMSClient>()
  const createKey = async (region = "us-east-1") => {
    let c = clients.get(region)
    if (c === undefined) {
      c = new KMSClient({ region, endpoint: url, credentials: motoCredentials })
      clients.set(region, c)
    }
    const out = await c.send(new CreateKeyCommand({ Description: "kustodian test key" }))
    const arn = out.KeyMetadata?.Arn
    if (arn === undefined) throw new Error("moto returned no key ARN")
    return arn
  }
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      for (const c of clients.values()) c.destroy()
    }),
  )
  return {
    url,
    env: {
      AWS_ENDPOINT_URL: url,
      AWS_ACCESS_KEY_ID: motoCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: motoCredentials.secretAccessKey,
      AWS_REGION: "us-east-1",
      // no shared files or instance metadata from the machine running the tests
      AWS_CONFIG_FILE: join(dir, "config"),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, "credentials"),
      AWS_EC2_METADATA_DISABLED: "true",
    },
    createKey,
  } satisfies Moto as Moto
})
