/**
 * AWS KMS master keys (`kms` entries) through `@aws-sdk/client-kms`, as sops 3.13's kms keysource uses them:
 * the region comes from the key ARN, the entry's `role` is assumed through STS AssumeRole with the session
 * name `sops@<hostname>`, and `context` is the KMS encryption context, sent on Encrypt and Decrypt alike.
 *
 * Where the credentials come from is the caller's choice ({@link AwsKmsOptions.credentials}): static keys from a
 * decryption Secret, web identity for a ServiceAccount, or — when unset — the SDK's default chain (environment,
 * `AWS_PROFILE` and the shared files, a web identity token file, the container and instance endpoints).
 * `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_KMS` and `AWS_ENDPOINT_URL_STS` point the clients elsewhere (tests use a
 * local server of the same wire protocol).
 *
 * Transient failures (throttling, 5xx, network) are retried by the SDK's standard retry strategy with
 * exponential backoff and jitter, every attempt bounded by a request timeout; the caller's interruption (e.g. a
 * Kustomization's spec.timeout) aborts the request in flight.
 *
 * @module
 */
import { hostname as osHostname } from "node:os"
import { DecryptCommand, EncryptCommand, KMSClient } from "@aws-sdk/client-kms"
import { AssumeRoleCommand, type AssumeRoleCommandOutput, STSClient } from "@aws-sdk/client-sts"
import { Effect } from "effect"
import { KeyFailure } from "../errors.ts"
import { nowSeconds } from "../goformat.ts"
import type { KeyRecipient, KmsKey, MasterKey, MasterKeyService } from "./masterkey.ts"

/** What the SDK calls a credential: keys plus an optional expiry. */
export interface AwsCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken?: string
  readonly expiration?: Date
}

/** Resolves credentials on demand; the SDK calls it again when the last ones expire. */
export type AwsCredentialsProvider = () => Promise<AwsCredentials>

export interface AwsKmsOptions {
  /**
   * Base credentials for a key in `region` (the role of an entry is assumed with them). Unset: the SDK's
   * default credential chain.
   */
  readonly credentials?: (region: string) => AwsCredentialsProvider
  /**
   * Honour an entry's `aws_profile` (sops' CLI does; it wins over `credentials`). The operator leaves it off:
   * like Flux it always passes its own credentials, and a repository must not pick profiles of the
   * controller's environment.
   */
  readonly useProfiles?: boolean
  /** The profile for entries without `aws_profile` when `useProfiles` is on (the CLI's `AWS_PROFILE`). */
  readonly defaultProfile?: string
  /** Where `AWS_ENDPOINT_URL[_KMS|_STS]` are read; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** The host name in the STS session name; default the OS host name. */
  readonly hostname?: string
  /** Attempts per KMS or STS call, retries included (default 4). */
  readonly maxAttempts?: number
  /** Bound of one HTTP attempt in ms (default 10 s), and of connecting (a third of it). */
  readonly requestTimeoutMs?: number
  /** Values that must never appear in an error (the credentials the caller handed in). */
  readonly secrets?: ReadonlyArray<string>
}

/** sops' ARN pattern; group 1 is the region. */
const arnPattern = /^arn:aws[\w-]*:kms:(.+):[0-9]+:(key|alias)\/.+$/

/** The region of a KMS key ARN, undefined when the ARN is not one. */
export const regionOfArn = (arn: string): string | undefined => arnPattern.exec(arn)?.[1]

/**
 * `sops@<hostname>` with the characters STS refuses removed, at most 64 characters, as sops names its session.
 * (sops' class `@-_` is the range from `@` to `_`; the same text means the same range here.)
 */
export const stsSessionName = (hostname: string): string =>
  `sops@${hostname.replace(/[^a-zA-Z0-9=,.@-_]+/g, "")}`.slice(0, 64)

/** An SDK error as "Code: message", with every known secret and anything shaped like a key or token masked. */
export const describeAwsError = (e: unknown, secrets: ReadonlyArray<string> = []): string => {
  const err = e as {
    name?: unknown
    Code?: unknown
    code?: unknown
    message?: unknown
    $metadata?: { httpStatusCode?: unknown }
  }
  const code = [err?.Code, err?.code, err?.name].find((c) => typeof c === "string" && c !== "Error")
  const status = err?.$metadata?.httpStatusCode
  let message = typeof err?.message === "string" ? err.message : String(e)
  for (const s of secrets) if (s.length >= 4) message = message.split(s).join("<redacted>")
  message = message
    .replace(/\b(AKIA|ASIA)[A-Z0-9]{12,}\b/g, "<redacted>")
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, "<redacted>")
  // our own typed errors (e.g. from a workload-identity credential lookup) already read as sentences
  if (typeof (err as { _tag?: unknown })?._tag === "string") return message
  const head = `${typeof code === "string" ? code : "error"}${typeof status === "number" ? ` (HTTP ${status})` : ""}`
  // the SDK says "UnknownError" when the answer carried no message
  return message === "" || message === "UnknownError" || message === code ? head : `${head}: ${message}`
}

const b64 = /^[A-Za-z0-9+/]*={0,2}$/

/** The AWS KMS key service. */
export const awsKmsService = (opts: AwsKmsOptions = {}): MasterKeyService => {
  const env = opts.env ?? process.env
  const kmsEndpoint = env.AWS_ENDPOINT_URL_KMS || env.AWS_ENDPOINT_URL || undefined
  const stsEndpoint = env.AWS_ENDPOINT_URL_STS || env.AWS_ENDPOINT_URL || undefined
  const requestTimeout = opts.requestTimeoutMs ?? 10_000
  const common = {
    maxAttempts: opts.maxAttempts ?? 4,
    retryMode: "standard",
    // The SDK builds its Node HTTP handler from these options; without throwOnRequestTimeout an attempt past
    // its requestTimeout only logs a warning and goes on waiting.
    requestHandler: {
      connectionTimeout: Math.ceil(requestTimeout / 3),
      requestTimeout,
      throwOnRequestTimeout: true,
    },
  } as const
  const secrets = opts.secrets ?? []
  const sessionName = stsSessionName(opts.hostname ?? osHostname())

  const baseCredentials = (region: string, entryProfile: string) => {
    const profile = entryProfile || opts.defaultProfile || ""
    return opts.useProfiles === true && profile !== ""
      ? { profile }
      : opts.credentials !== undefined
        ? { credentials: opts.credentials(region) }
        : {}
  }

  /** Credentials of an assumed role, renewed a minute before they expire (sops assumes it on every call). */
  const roleCredentials = (region: string, profile: string, role: string): AwsCredentialsProvider => {
    const sts = new STSClient({
      region,
      ...common,
      ...(stsEndpoint ? { endpoint: stsEndpoint } : {}),
      ...baseCredentials(region, profile),
    })
    let current: AwsCredentials | undefined
    return async () => {
      if (current?.expiration && current.expiration.getTime() - Date.now() > 60_000) return current
      let out: AssumeRoleCommandOutput
      try {
        out = await sts.send(new AssumeRoleCommand({ RoleArn: role, RoleSessionName: sessionName }))
      } catch (e) {
        throw new RoleError(`failed to assume role '${role}': ${describeAwsError(e, secrets)}`)
      }
      const c = out.Credentials
      if (!c || typeof c.AccessKeyId !== "string" || typeof c.SecretAccessKey !== "string")
        throw new RoleError(`failed to assume role '${role}': STS returned no credentials`)
      current = {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        ...(typeof c.SessionToken === "string" ? { sessionToken: c.SessionToken } : {}),
        ...(c.Expiration instanceof Date ? { expiration: c.Expiration } : {}),
      }
      return current
    }
  }

  // One client per (region, profile, role): clients keep their connections and credentials between files.
  const clients = new Map<string, KMSClient>()
  const clientFor = (region: string, profile: string, role: string) => {
    const id = `${region}\u0000${opts.useProfiles ? profile : ""}\u0000${role}`
    let c = clients.get(id)
    if (c === undefined) {
      c = new KMSClient({
        region,
        ...common,
        ...(kmsEndpoint ? { endpoint: kmsEndpoint } : {}),
        ...(role !== ""
          ? { credentials: roleCredentials(region, profile, role) }
          : baseCredentials(region, profile)),
      })
      clients.set(id, c)
    }
    return c
  }

  // The engine prefixes the key's id (ARN, role, context) to the reason.
  const call = <A>(what: string, run: (signal: AbortSignal) => Promise<A>) =>
    Effect.tryPromise({
      try: run,
      catch: (e) =>
        new KeyFailure({
          reason:
            e instanceof RoleError
              ? e.message
              : `failed to ${what} sops data key with AWS KMS: ${describeAwsError(e, secrets)}`,
        }),
    })

  const regionOf = (arn: string) => {
    const region = regionOfArn(arn)
    return region === undefined
      ? Effect.fail(new KeyFailure({ reason: `no valid ARN found in '${arn}'` }))
      : Effect.succeed(region)
  }

  return {
    type: "kms",
    decrypt: (key: MasterKey) =>
      Effect.gen(function* () {
        if (key.type !== "kms") return yield* new KeyFailure({ reason: "not an AWS KMS key" })
        const region = yield* regionOf(key.arn)
        if (!b64.test(key.enc) || key.enc === "")
          return yield* new KeyFailure({ reason: "error base64-decoding encrypted data key" })
        const blob = Buffer.from(key.enc, "base64")
        const client = clientFor(region, key.awsProfile, key.role)
        const out = yield* call("decrypt", (abortSignal) =>
          client.send(
            new DecryptCommand({
              KeyId: key.arn,
              CiphertextBlob: blob,
              EncryptionContext: { ...key.context },
            }),
            { abortSignal },
          ),
        )
        if (out.Plaintext === undefined)
          return yield* new KeyFailure({ reason: `AWS KMS returned no plaintext for '${key.arn}'` })
        return out.Plaintext
      }),
    encrypt: (recipient: KeyRecipient, part: Uint8Array) =>
      Effect.gen(function* () {
        if (recipient.type !== "kms") return yield* new KeyFailure({ reason: "not an AWS KMS recipient" })
        const region = yield* regionOf(recipient.arn)
        const client = clientFor(region, recipient.awsProfile, recipient.role)
        const out = yield* call("encrypt", (abortSignal) =>
          client.send(
            new EncryptCommand({
              KeyId: recipient.arn,
              Plaintext: part,
              EncryptionContext: { ...recipient.context },
            }),
            { abortSignal },
          ),
        )
        if (out.CiphertextBlob === undefined)
          return yield* new KeyFailure({ reason: `AWS KMS returned no ciphertext for '${recipient.arn}'` })
        return {
          type: "kms",
          arn: recipient.arn,
          role: recipient.role,
          context: recipient.context,
          awsProfile: recipient.awsProfile,
          createdAt: nowSeconds(),
          enc: Buffer.from(out.CiphertextBlob).toString("base64"),
        } satisfies KmsKey
      }),
  }
}

/** An AssumeRole failure, raised inside the SDK's credential resolution and reported as it is. */
class RoleError extends Error {}
