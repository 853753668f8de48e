/**
 * Benchmark worker: decrypts one file N times in this process with Kustodian and prints latencies and peak RSS
 * as JSON. Run by bench/sops.ts in a fresh process per scenario so peak memory is per scenario.
 *
 * usage: node bench/sops-worker.ts <file> <format> <keyring.json> <iterations> <cache:0|1>
 */
import { readFileSync } from "node:fs"
import { performance } from "node:perf_hooks"
import { Effect } from "effect"
import { decrypt, type Format, type Keyring, makeDataKeyCache } from "../operator/src/sops/index.ts"
import { awsKmsService } from "../operator/src/sops/keys/aws-kms.ts"
import { credentialFromAzureConfig } from "../operator/src/sops/keys/azure-credentials.ts"
import { azureHttpClient, azureKvService } from "../operator/src/sops/keys/azure-kv.ts"
import { credentialsFromJson, googleEndpoints } from "../operator/src/sops/keys/gcp-credentials.ts"
import { gcpKmsService } from "../operator/src/sops/keys/gcp-kms.ts"
import { vaultTransitService } from "../operator/src/sops/keys/hc-vault.ts"

const [file, format, keyringPath, iterations, useCache] = process.argv.slice(2) as [
  string,
  Format,
  string,
  string,
  string,
]
const bytes = new Uint8Array(readFileSync(file))
const stored = JSON.parse(readFileSync(keyringPath, "utf8")) as Keyring & {
  /** AWS KMS through a KMS endpoint (moto's server) with static keys, as a decryption Secret gives them. */
  readonly awsKms?: {
    readonly endpoint: string
    readonly accessKeyId: string
    readonly secretAccessKey: string
  }
  /** GCP KMS through the local server with a service-account key, as a Secret's `sops.gcp-kms` gives it. */
  readonly gcpKms?: {
    readonly kmsEndpoint: string
    readonly tokenUrl: string
    readonly ca: string
    readonly keyJson: Record<string, string>
  }
  /** Azure Key Vault (the local server) with a client secret, as a decryption Secret's `sops.azure-kv` gives it. */
  readonly azureKv?: { readonly config: Record<string, string>; readonly ca: string }
  /** Vault transit with a token, as a Secret's `sops.vault-token` gives it (the address is in the file). */
  readonly vault?: { readonly token: string }
}
const { awsKms, gcpKms, azureKv, vault, ...plain } = stored
const azureProviders = () => {
  if (azureKv === undefined) return []
  const httpClient = azureHttpClient({ ca: azureKv.ca })
  const made = credentialFromAzureConfig(azureKv.config, httpClient)
  if ("error" in made) throw new Error(made.error)
  return [azureKvService({ credential: made.credential, httpClient, secrets: made.secrets })]
}
const keyring: Keyring = {
  ...plain,
  providers: [
    ...(awsKms === undefined
      ? []
      : [
          awsKmsService({
            env: { AWS_ENDPOINT_URL: awsKms.endpoint },
            credentials: () => async () => awsKms,
          }),
        ]),
    ...(gcpKms === undefined
      ? []
      : [
          gcpKmsService({
            env: { SOPS_GCP_KMS_ENDPOINT: gcpKms.kmsEndpoint },
            ca: gcpKms.ca,
            tokenSource: credentialsFromJson(JSON.stringify(gcpKms.keyJson), {
              where: "sops.gcp-kms",
              policy: "tenant",
              endpoints: { ...googleEndpoints({}), tokenUrl: gcpKms.tokenUrl, ca: gcpKms.ca },
            }),
          }),
        ]),
    ...azureProviders(),
    ...(vault === undefined ? [] : [vaultTransitService({ token: vault.token })]),
  ],
}
const cache = useCache === "1" ? makeDataKeyCache() : undefined
const rssBefore = process.resourceUsage().maxRSS

const once = () =>
  Effect.runPromise(decrypt({ bytes, format, file, keyring, mac: "strict", ...(cache ? { cache } : {}) }))

// warm-up (module JIT, key parsing), not measured
await once()
const latencies: Array<number> = []
for (let i = 0; i < Number(iterations); i++) {
  // a fresh keyring object per run so parsed keys are not reused unless the cache is on
  const t0 = performance.now()
  await Effect.runPromise(
    decrypt({ bytes, format, file, keyring: { ...keyring }, mac: "strict", ...(cache ? { cache } : {}) }),
  )
  latencies.push(performance.now() - t0)
}
process.stdout.write(
  JSON.stringify({ latencies, maxRssKiB: process.resourceUsage().maxRSS, rssBeforeKiB: rssBefore }),
)
// gRPC channels of the GCP KMS client keep the process alive
process.exit(0)
