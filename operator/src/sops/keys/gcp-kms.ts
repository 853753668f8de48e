/**
 * GCP KMS master keys (`gcp_kms` entries: `resource_id`, `created_at`, `enc`) through `@google-cloud/kms`'s gRPC
 * client, as sops 3.13's gcpkms keysource uses them: the resource ID must be a CryptoKey
 * (`projects/…/locations/…/keyRings/…/cryptoKeys/…`), `enc` is the standard base64 of Cloud KMS' ciphertext,
 * Encrypt and Decrypt take no additional authenticated data. `SOPS_GCP_KMS_CLIENT_TYPE=rest` uses the REST mapping
 * instead (gcp-kms-rest.ts), as sops' REST client does. `SOPS_GCP_KMS_ENDPOINT` (host[:port]) or
 * `SOPS_GCP_KMS_UNIVERSE_DOMAIN` (→ `cloudkms.<domain>:443`) point the client elsewhere, as in sops; the
 * connection is always TLS (the system roots plus `NODE_EXTRA_CA_CERTS`, or {@link GcpKmsOptions.ca}).
 *
 * Requests carry the integrity fields Google recommends (`plaintext_crc32c`, `ciphertext_crc32c`) and the
 * answers' checksums are verified. Each attempt is bounded (10 s) and UNAVAILABLE, DEADLINE_EXCEEDED and
 * RESOURCE_EXHAUSTED are retried with exponential backoff (4 attempts), all inside the caller's interruption
 * (e.g. a Kustomization's spec.timeout), which cancels the call in flight. Errors name Google's status code,
 * never a token.
 *
 * The client library is loaded on first use: it is heavy (protobuf descriptors of the whole KMS API).
 *
 * @module
 */
import { Effect } from "effect"
import { KeyFailure } from "../errors.ts"
import { nowSeconds } from "../goformat.ts"
import { crc32c } from "./crc32c.ts"
import type { TokenSource } from "./gcp-credentials.ts"
import { restBaseUrl, restKmsCall } from "./gcp-kms-rest.ts"
import type { GcpKmsKey, KeyRecipient, MasterKey, MasterKeyService } from "./masterkey.ts"

export interface GcpKmsOptions {
  /** Access tokens for every request. */
  readonly tokenSource: TokenSource
  /** Where `SOPS_GCP_KMS_ENDPOINT`, `SOPS_GCP_KMS_UNIVERSE_DOMAIN`, `SOPS_GCP_KMS_CLIENT_TYPE` are read. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Extra CA certificates (PEM) trusted for the KMS endpoint, beside the system's. */
  readonly ca?: string
  /** Attempts per call, retries included (default 4). */
  readonly maxAttempts?: number
  /** Bound of one attempt in ms (default 10 s). */
  readonly requestTimeoutMs?: number
  /** Values that must never appear in an error. */
  readonly secrets?: ReadonlyArray<string>
}

/** sops' resource ID pattern. */
const resourcePattern = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/

/** host:port of the KMS endpoint, as sops chooses it. */
export const gcpKmsEndpoint = (
  env: Readonly<Record<string, string | undefined>>,
): { host: string; port: number } => {
  const raw =
    env.SOPS_GCP_KMS_ENDPOINT ||
    (env.SOPS_GCP_KMS_UNIVERSE_DOMAIN
      ? `cloudkms.${env.SOPS_GCP_KMS_UNIVERSE_DOMAIN}:443`
      : "cloudkms.googleapis.com:443")
  const bare = raw.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "")
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(bare)
  return { host: m?.[1] ?? bare, port: m?.[2] ? Number(m[2]) : 443 }
}

// gRPC status codes (google.rpc.Code)
const statusNames = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
]
const retryCodes = [14, 4, 8]

/** A client error as "STATUS: message [reason]", with tokens and known secrets masked. */
export const describeGcpError = (e: unknown, secrets: ReadonlyArray<string> = []): string => {
  const err = e as { code?: unknown; details?: unknown; message?: unknown; reason?: unknown; _tag?: unknown }
  let message =
    typeof err?.details === "string" && err.details !== ""
      ? err.details
      : typeof err?.message === "string"
        ? err.message
        : String(e)
  for (const s of secrets) if (s.length >= 6) message = message.split(s).join("<redacted>")
  message = message
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, "<redacted>")
    .replace(/ya29\.[\w.-]+/g, "<redacted>")
    .slice(0, 512)
  if (typeof err?._tag === "string") return message
  // google-gax's "Exceeded maximum number of retries retrying error Error: 14 UNAVAILABLE: … before any
  // response was received : Previous errors : […]": the last error is what matters
  const exhausted =
    /^Exceeded maximum number of retries retrying error \w*:? ?\d+ ([A-Z_]+): (.*?) before any response was received/s.exec(
      message,
    )
  if (exhausted !== null) return `${exhausted[1]}: ${exhausted[2]} (retries exhausted)`
  const code = typeof err?.code === "number" ? (statusNames[err.code] ?? `code ${err.code}`) : undefined
  if (code === undefined) return message
  // the status name is already at the start of grpc-js' messages ("7 PERMISSION_DENIED: …")
  message = message.replace(/^\d+ [A-Z_]+: /, "")
  const reason = typeof err?.reason === "string" && err.reason !== "" ? ` [${err.reason}]` : ""
  return `${code}: ${message}${reason}`
}

type Client = import("@google-cloud/kms").KeyManagementServiceClient
type Gax = typeof import("google-gax")

const clients = new Map<string, Promise<{ client: Client; gax: Gax }>>()

/** One client (one channel) per endpoint and CA, shared by every service: tokens travel per call. */
const clientFor = (host: string, port: number, ca: string | undefined) => {
  const id = `${host}\u0000${port}\u0000${ca ?? ""}`
  let c = clients.get(id)
  if (c === undefined) {
    c = (async () => {
      const [kms, gaxModule] = await Promise.all([import("@google-cloud/kms"), import("google-gax")])
      // CommonJS modules: bundled, their exports may sit under `default`
      const cjs = <M extends object>(m: M, key: string): M =>
        key in m ? m : ((m as { default?: M }).default ?? m)
      const { KeyManagementServiceClient } = cjs(kms, "KeyManagementServiceClient")
      const gax = cjs(gaxModule, "grpc")
      const { rootCertificates } = await import("node:tls")
      const roots = ca === undefined ? undefined : Buffer.from([...rootCertificates, ca].join("\n"))
      const client = new KeyManagementServiceClient({
        apiEndpoint: host,
        port,
        // TLS only: the token is added to each call, so the library never looks for credentials itself
        sslCreds: gax.grpc.credentials.createSsl(roots ?? null),
        universeDomain: "googleapis.com",
        fallback: false,
      })
      return { client, gax }
    })()
    clients.set(id, c)
    c.catch(() => clients.delete(id))
  }
  return c
}

/** Closes every shared client (tests and benchmarks end with it). */
export const closeGcpKmsClients = async (): Promise<void> => {
  const all = [...clients.values()]
  clients.clear()
  for (const c of all) await (await c.catch(() => undefined))?.client.close()
}

const b64 = /^[A-Za-z0-9+/]*={0,2}$/

const int64 = (v: unknown): number | undefined => {
  if (v === null || v === undefined) return undefined
  const value = (v as { value?: unknown }).value
  return value === null || value === undefined ? undefined : Number(String(value))
}

/** The GCP KMS key service. */
export const gcpKmsService = (opts: GcpKmsOptions): MasterKeyService => {
  const env = opts.env ?? process.env
  const { host, port } = gcpKmsEndpoint(env)
  const clientType = (env.SOPS_GCP_KMS_CLIENT_TYPE ?? "").toLowerCase()
  const timeout = opts.requestTimeoutMs ?? 10_000
  const maxAttempts = opts.maxAttempts ?? 4
  const secrets = opts.secrets ?? []

  const fail = (reason: string) => new KeyFailure({ reason })

  /** One RPC, with the token, the retry policy and cancellation. */
  const call = <A>(
    what: string,
    run: (client: Client, options: Record<string, unknown>) => Promise<A> & { cancel?: () => void },
  ) =>
    Effect.gen(function* () {
      const token = yield* Effect.tryPromise({
        try: () => opts.tokenSource(),
        catch: (e) =>
          fail(
            `failed to ${what} sops data key with GCP KMS key: credentials: ${describeGcpError(e, secrets)}`,
          ),
      })
      const { client, gax } = yield* Effect.tryPromise({
        try: () => clientFor(host, port, opts.ca),
        catch: (e) => fail(`cannot create GCP KMS service: ${describeGcpError(e, secrets)}`),
      })
      return yield* Effect.tryPromise({
        try: (signal) => {
          const p = run(client, {
            timeout,
            maxRetries: maxAttempts,
            retry: new gax.RetryOptions(
              retryCodes,
              gax.createBackoffSettings(200, 2, 3000, timeout, 1, timeout, null),
            ),
            otherArgs: { headers: { authorization: `Bearer ${token.accessToken}` } },
          })
          signal.addEventListener("abort", () => p.cancel?.(), { once: true })
          return p
        },
        catch: (e) =>
          fail(
            `failed to ${what} sops data key with GCP KMS key: ${describeGcpError(e, [...secrets, token.accessToken])}`,
          ),
      })
    })

  /** Encrypt or Decrypt over REST (`SOPS_GCP_KMS_CLIENT_TYPE=rest`). */
  const restCall = (what: "encrypt" | "decrypt", name: string, body: Record<string, string>) =>
    Effect.gen(function* () {
      const token = yield* Effect.tryPromise({
        try: () => opts.tokenSource(),
        catch: (e) =>
          fail(
            `failed to ${what} sops data key with GCP KMS key: credentials: ${describeGcpError(e, secrets)}`,
          ),
      })
      return yield* Effect.tryPromise({
        try: (signal) =>
          restKmsCall({
            baseUrl: restBaseUrl({ host, port }, env.SOPS_GCP_KMS_ENDPOINT),
            verb: what,
            name,
            body,
            token: token.accessToken,
            ca: opts.ca,
            timeoutMs: timeout,
            attempts: maxAttempts,
            signal,
          }),
        catch: (e) =>
          fail(
            `failed to ${what} sops data key with GCP KMS key: ${describeGcpError(e, [...secrets, token.accessToken])}`,
          ),
      })
    })

  /** The answer's bytes and checksum, whichever transport carried them. */
  const bytesOf = (v: unknown): Buffer | undefined =>
    v === null || v === undefined
      ? undefined
      : typeof v === "string"
        ? Buffer.from(v, "base64")
        : Buffer.from(v as Uint8Array)
  const sumOf = (v: unknown): number | undefined =>
    typeof v === "string" || typeof v === "number" ? Number(v) : int64(v)

  const checkResource = (id: string) =>
    resourcePattern.test(id)
      ? Effect.void
      : Effect.fail(
          fail(`cannot create GCP KMS service: no valid resource ID found in ${JSON.stringify(id)}`),
        )

  return {
    type: "gcp_kms",
    decrypt: (key: MasterKey) =>
      Effect.gen(function* () {
        if (key.type !== "gcp_kms") return yield* fail("not a GCP KMS key")
        yield* checkResource(key.resourceId)
        if (!b64.test(key.enc) || key.enc === "")
          return yield* fail("illegal base64 data in the encrypted data key")
        const ciphertext = Buffer.from(key.enc, "base64")
        const out: { plaintext?: unknown; plaintextCrc32c?: unknown } =
          clientType === "rest"
            ? yield* restCall("decrypt", key.resourceId, {
                ciphertext: key.enc,
                ciphertextCrc32c: String(crc32c(ciphertext)),
              })
            : (yield* call("decrypt", (client, options) =>
                client.decrypt(
                  { name: key.resourceId, ciphertext, ciphertextCrc32c: { value: crc32c(ciphertext) } },
                  options,
                ),
              ))[0]
        const bytes = bytesOf(out.plaintext)
        if (bytes === undefined || bytes.length === 0)
          return yield* fail(`GCP KMS returned no plaintext for '${key.resourceId}'`)
        const sum = sumOf(out.plaintextCrc32c)
        if (sum !== undefined && sum !== crc32c(bytes))
          return yield* fail(
            `GCP KMS' answer for '${key.resourceId}' was corrupted in transit (plaintext_crc32c does not match)`,
          )
        return new Uint8Array(bytes)
      }),
    encrypt: (recipient: KeyRecipient, part: Uint8Array) =>
      Effect.gen(function* () {
        if (recipient.type !== "gcp_kms") return yield* fail("not a GCP KMS recipient")
        yield* checkResource(recipient.resourceId)
        const plaintext = Buffer.from(part)
        const out: { ciphertext?: unknown; ciphertextCrc32c?: unknown; verifiedPlaintextCrc32c?: unknown } =
          clientType === "rest"
            ? yield* restCall("encrypt", recipient.resourceId, {
                plaintext: plaintext.toString("base64"),
                plaintextCrc32c: String(crc32c(plaintext)),
              })
            : (yield* call("encrypt", (client, options) =>
                client.encrypt(
                  { name: recipient.resourceId, plaintext, plaintextCrc32c: { value: crc32c(plaintext) } },
                  options,
                ),
              ))[0]
        const bytes = bytesOf(out.ciphertext)
        if (bytes === undefined || bytes.length === 0)
          return yield* fail(`GCP KMS returned no ciphertext for '${recipient.resourceId}'`)
        const sum = sumOf(out.ciphertextCrc32c)
        if (out.verifiedPlaintextCrc32c !== true || (sum !== undefined && sum !== crc32c(bytes)))
          return yield* fail(
            `GCP KMS' exchange for '${recipient.resourceId}' was corrupted in transit (crc32c not verified)`,
          )
        return {
          type: "gcp_kms",
          resourceId: recipient.resourceId,
          createdAt: nowSeconds(),
          enc: bytes.toString("base64"),
        } satisfies GcpKmsKey
      }),
  }
}
