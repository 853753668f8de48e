/**
 * A LOCAL SERVER OF GCP KMS'S WIRE PROTOCOL, written by us for tests (no Cloud KMS emulator can be had from the
 * registries we reach). On 127.0.0.1, TLS with a throwaway CA (Google's clients and sops insist on TLS):
 *
 * - gRPC `google.cloud.kms.v1.KeyManagementService` Encrypt, Decrypt and GetCryptoKey, with the messages loaded
 *   from the `.proto` files that ship inside `@google-cloud/kms` (and google-gax's `google/rpc` protos for error
 *   details). Every key has its own random AES-256-GCM key material (version 1 primary); the ciphertext is
 *   `version (4 bytes) ‖ nonce (12) ‖ sealed ‖ tag (16)` over the request's additional authenticated data.
 *   The integrity fields behave as the service documents them: a `*_crc32c` in a request that does not match
 *   fails with INVALID_ARGUMENT, responses carry `ciphertext_crc32c` / `plaintext_crc32c` and the
 *   `verified_*_crc32c` flags. Errors have Google's shape: the gRPC status plus a `google.rpc.Status` with an
 *   `ErrorInfo` in `grpc-status-details-bin` (UNAUTHENTICATED, PERMISSION_DENIED "Permission
 *   'cloudkms.cryptoKeyVersions.useToDecrypt' denied on resource … (or it may not exist).", NOT_FOUND,
 *   INVALID_ARGUMENT). Callers authenticate with `authorization: Bearer …`: an access token this server issued,
 *   or a JWT self-signed by a registered service account (what Google's Go client sends for service-account
 *   keys). IAM is a set of principals per key. The REST mapping of Encrypt and Decrypt (`POST
 *   /v1/{name}:encrypt|decrypt`, proto3 JSON, Google's JSON errors) is served on the HTTPS port (sops'
 *   `SOPS_GCP_KMS_CLIENT_TYPE=rest`).
 * - HTTPS `POST /token`: Google's OAuth2 token endpoint, grants `urn:ietf:params:oauth:grant-type:jwt-bearer`
 *   (a service account's RS256 assertion, verified with its public key, `aud` this URL) and `refresh_token`
 *   (an authorized user); `POST /v1/token`: the STS token exchange of workload identity federation (the
 *   subject token verified with the issuer's JWKS, e.g. the kube-apiserver's, `audience` a registered pool
 *   provider); `POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken`: IAM Credentials'
 *   impersonation, allowed for the principals registered as token creators. OAuth errors are
 *   `{"error","error_description"}`, Google API errors `{"error":{"code","message","status"}}`.
 *
 * Faults for retry tests: `failNext(n, code)` answers the next n KMS calls with that status.
 *
 * @module
 */
import {
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  randomBytes,
  verify,
} from "node:crypto"
import { existsSync } from "node:fs"
import type { IncomingMessage, ServerResponse } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { Effect } from "effect"
import { grpc, protobuf } from "google-gax"
import { crc32c } from "../../operator/src/sops/keys/crc32c.ts"
import { closeServer, listenOnLoopback } from "./ports.ts"
import { issueCert, makeCa } from "./tls.ts"

const require = createRequire(import.meta.url)
const protoRoots = [
  join(dirname(require.resolve("@google-cloud/kms/package.json")), "build", "protos"),
  join(dirname(require.resolve("google-gax")), "..", "protos"),
]

const loadProtos = () => {
  const root = new protobuf.Root()
  root.resolvePath = (_origin, target) => {
    for (const r of protoRoots) {
      const p = join(r, target)
      if (existsSync(p)) return p
    }
    return target
  }
  root.loadSync([
    "google/cloud/kms/v1/service.proto",
    "google/rpc/status.proto",
    "google/rpc/error_details.proto",
  ])
  return root
}

/** A registered service account: its key pair (the JSON key file a test hands out) and email. */
export interface TestServiceAccount {
  readonly email: string
  /** The service-account key file's JSON, `token_uri` pointing at this server. */
  readonly keyJson: Readonly<Record<string, string>>
  readonly principal: string
}

/** A pool provider of workload identity federation: tokens of `issuer`, verified with the issuer's keys. */
export interface PoolProvider {
  /** `projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>` */
  readonly name: string
  readonly issuer: string
  /** The issuer's signing keys (e.g. the kube-apiserver's `/openid/v1/jwks`). */
  readonly jwks: () => Promise<ReadonlyArray<JsonWebKey>>
}

/** One exchange seen by the STS endpoint (for assertions). */
export interface StsExchange {
  readonly audience: string
  readonly scope: string
  readonly subject: string
  readonly subjectTokenAudience: ReadonlyArray<string>
}

export interface GcpKmsServer {
  /** `127.0.0.1:<port>` of the gRPC KMS endpoint (what `SOPS_GCP_KMS_ENDPOINT` takes). */
  readonly kmsEndpoint: string
  /** `https://127.0.0.1:<port>` of the OAuth2 / STS / IAM Credentials endpoints and KMS' REST mapping. */
  readonly httpUrl: string
  readonly tokenUrl: string
  readonly stsUrl: string
  /** The base of IAM Credentials (`<base>/v1/projects/-/serviceAccounts/{email}:generateAccessToken`). */
  readonly iamCredentialsUrl: string
  /** PEM of the CA that signed both serving certificates. */
  readonly ca: string
  /** Creates a key (`projects/p/locations/l/keyRings/r/cryptoKeys/k`) usable by `principals`. */
  readonly createKey: (resourceId: string, principals: ReadonlyArray<string>) => void
  readonly grant: (resourceId: string, principal: string) => void
  readonly serviceAccount: (name: string) => TestServiceAccount
  /** Registers a user; returns gcloud's ADC file for it (`authorized_user`) and its principal. */
  readonly authorizedUser: (name: string) => {
    readonly json: Readonly<Record<string, string>>
    readonly principal: string
  }
  readonly addPoolProvider: (p: PoolProvider) => void
  /** Lets `principal` mint tokens for the service account `email` (roles/iam.serviceAccountTokenCreator). */
  readonly allowImpersonation: (email: string, principal: string) => void
  /** A bearer token for `principal`, as if the token endpoint had issued it. */
  readonly issueToken: (principal: string, lifetimeSeconds?: number) => string
  readonly failNext: (n: number, code: grpc.status) => void
  /** Calls seen, per method (`Encrypt`, `Decrypt`, `token:jwt-bearer`, `sts`, `generateAccessToken`, …). */
  readonly calls: Readonly<Record<string, number>>
  readonly exchanges: ReadonlyArray<StsExchange>
}

const keyPattern = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/
const versionPattern =
  /^(projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+)\/cryptoKeyVersions\/(\d+)$/

const b64urlJson = (s: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(s, "base64url").toString("utf8")) as Record<string, unknown>

/** Verifies a compact RS256 or ES256 JWT with `key`; the claims, or undefined. */
const verifyJwt = (
  jwt: string,
  key: Parameters<typeof createPublicKey>[0],
): Record<string, unknown> | undefined => {
  const parts = jwt.split(".")
  if (parts.length !== 3) return undefined
  const [h, c, s] = parts as [string, string, string]
  try {
    const header = b64urlJson(h)
    const signed = Buffer.from(`${h}.${c}`)
    const signature = Buffer.from(s, "base64url")
    const ok =
      header.alg === "RS256"
        ? verify("RSA-SHA256", signed, createPublicKey(key), signature)
        : header.alg === "ES256"
          ? verify("SHA256", signed, { key: createPublicKey(key), dsaEncoding: "ieee-p1363" }, signature)
          : false
    return ok ? b64urlJson(c) : undefined
  } catch {
    return undefined
  }
}

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (b: Buffer) => {
      size += b.length
      if (size > 1 << 20) req.destroy(new Error("body too large"))
      else chunks.push(b)
    })
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", reject)
  })

const formOrJson = (req: IncomingMessage, body: string): Record<string, string> => {
  if ((req.headers["content-type"] ?? "").includes("json")) {
    const v = JSON.parse(body) as Record<string, unknown>
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, typeof x === "string" ? x : JSON.stringify(x)]),
    )
  }
  return Object.fromEntries(new URLSearchParams(body))
}

const send = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" })
  res.end(JSON.stringify(body))
}

const grpcStatusNames: Record<number, string> = {
  3: "INVALID_ARGUMENT",
  4: "DEADLINE_EXCEEDED",
  5: "NOT_FOUND",
  7: "PERMISSION_DENIED",
  8: "RESOURCE_EXHAUSTED",
  14: "UNAVAILABLE",
  16: "UNAUTHENTICATED",
}

const statusNames: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
}

/** Starts the server for the scope. */
export const gcpKmsServer = Effect.fn("gcpKmsServer")(function* () {
  const root = loadProtos()
  const t = (n: string) => root.lookupType(n)
  const EncryptRequest = t("google.cloud.kms.v1.EncryptRequest")
  const EncryptResponse = t("google.cloud.kms.v1.EncryptResponse")
  const DecryptRequest = t("google.cloud.kms.v1.DecryptRequest")
  const DecryptResponse = t("google.cloud.kms.v1.DecryptResponse")
  const GetCryptoKeyRequest = t("google.cloud.kms.v1.GetCryptoKeyRequest")
  const CryptoKey = t("google.cloud.kms.v1.CryptoKey")
  const RpcStatus = t("google.rpc.Status")
  const ErrorInfo = t("google.rpc.ErrorInfo")

  const ca = makeCa("kustodian-gcp-kms-test-ca")
  const cert = issueCert(ca, {
    commonName: "127.0.0.1",
    ipAddresses: ["127.0.0.1"],
    dnsNames: ["localhost"],
    usage: "server",
  })

  const keys = new Map<string, { material: Buffer; principals: Set<string>; created: number }>()
  const accounts = new Map<string, { publicKey: string; principal: string }>()
  const users = new Map<string, { clientSecret: string; principal: string }>()
  const tokens = new Map<string, { principal: string; expires: number }>()
  const pools = new Map<string, PoolProvider>()
  const tokenCreators = new Map<string, Set<string>>()
  const calls: Record<string, number> = {}
  const exchanges: Array<StsExchange> = []
  let faults: { n: number; code: grpc.status } = { n: 0, code: grpc.status.OK }
  const count = (m: string) => {
    calls[m] = (calls[m] ?? 0) + 1
  }

  const issueToken = (principal: string, lifetimeSeconds = 3600) => {
    const token = `ya29.test-${randomBytes(24).toString("base64url")}`
    tokens.set(token, { principal, expires: Date.now() + lifetimeSeconds * 1000 })
    return token
  }

  // --- gRPC ---------------------------------------------------------------------------------------------------
  class RpcError extends Error {
    readonly code: grpc.status
    readonly reason: string
    readonly domain: string
    readonly metadata: Record<string, string>
    constructor(
      code: grpc.status,
      message: string,
      reason: string,
      domain: string,
      metadata: Record<string, string> = {},
    ) {
      super(message)
      this.code = code
      this.reason = reason
      this.domain = domain
      this.metadata = metadata
    }
  }
  const toServiceError = (e: RpcError) => {
    const details = RpcStatus.encode(
      RpcStatus.create({
        code: e.code,
        message: e.message,
        details: [
          {
            type_url: "type.googleapis.com/google.rpc.ErrorInfo",
            value: ErrorInfo.encode(
              ErrorInfo.create({ reason: e.reason, domain: e.domain, metadata: e.metadata }),
            ).finish(),
          },
        ],
      }),
    ).finish()
    const md = new grpc.Metadata()
    md.set("grpc-status-details-bin", Buffer.from(details))
    return { code: e.code, details: e.message, metadata: md }
  }

  /** The principal behind the call's bearer token. */
  const caller = (md: grpc.Metadata): string => {
    const auth = String(md.get("authorization")[0] ?? "")
    const m = /^Bearer (.+)$/.exec(auth)
    const unauthenticated = () =>
      new RpcError(
        grpc.status.UNAUTHENTICATED,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "ACCESS_TOKEN_TYPE_UNSUPPORTED",
        "googleapis.com",
      )
    if (m === null) throw unauthenticated()
    const token = m[1]!
    const issued = tokens.get(token)
    if (issued !== undefined && issued.expires > Date.now()) return issued.principal
    // a self-signed JWT of a service account (Google's clients' "JWT access with scope")
    const parts = token.split(".")
    if (parts.length === 3) {
      try {
        const claims = b64urlJson(parts[1]!)
        const sa = accounts.get(String(claims.iss))
        if (sa !== undefined) {
          const verified = verifyJwt(token, sa.publicKey)
          if (verified !== undefined && typeof verified.exp === "number" && verified.exp * 1000 > Date.now())
            return sa.principal
        }
      } catch {
        // not a JWT
      }
    }
    throw unauthenticated()
  }

  const denied = (permission: string, resource: string) =>
    new RpcError(
      grpc.status.PERMISSION_DENIED,
      `Permission '${permission}' denied on resource '${resource}' (or it may not exist).`,
      "IAM_PERMISSION_DENIED",
      "cloudkms.googleapis.com",
      { permission, resource },
    )

  const keyFor = (name: string, principal: string, permission: string) => {
    if (!keyPattern.test(name))
      throw new RpcError(
        grpc.status.INVALID_ARGUMENT,
        `Resource name [${name}] does not match any known patterns.`,
        "BAD_REQUEST",
        "cloudkms.googleapis.com",
      )
    const key = keys.get(name)
    if (key === undefined)
      throw new RpcError(
        grpc.status.NOT_FOUND,
        `CryptoKey ${name} not found.`,
        "NOT_FOUND",
        "cloudkms.googleapis.com",
      )
    if (!key.principals.has(principal)) throw denied(permission, name)
    return key
  }

  const checkCrc = (field: string, data: Uint8Array, sent: { value?: unknown } | null | undefined) => {
    if (sent === null || sent === undefined) return false
    if (Number(String(sent.value ?? 0)) !== crc32c(data))
      throw new RpcError(
        grpc.status.INVALID_ARGUMENT,
        `The checksum in field ${field}_crc32c did not match the data in field ${field}.`,
        "BAD_REQUEST",
        "cloudkms.googleapis.com",
      )
    return true
  }

  type Message = Record<string, unknown>
  /** The handlers by method, for the REST mapping too. */
  const handlers: Record<string, (req: Message, md: grpc.Metadata) => Message> = {}
  const unary = (method: string, handle: (req: Message, principal: string) => Message) => {
    handlers[method] = (req, md) => {
      count(method)
      if (faults.n > 0) {
        faults = { ...faults, n: faults.n - 1 }
        throw new RpcError(
          faults.code,
          "The service is currently unavailable.",
          "SERVICE_UNAVAILABLE",
          "googleapis.com",
        )
      }
      return handle(req, caller(md))
    }
    return (call: grpc.ServerUnaryCall<Message, Message>, callback: grpc.sendUnaryData<Message>) => {
      try {
        callback(null, handlers[method]!(call.request, call.metadata))
      } catch (e) {
        if (e instanceof RpcError) callback(toServiceError(e))
        else callback({ code: grpc.status.INTERNAL, details: "internal error" })
      }
    }
  }

  const encrypt = unary("Encrypt", (req, principal) => {
    let name = String(req.name ?? "")
    const version = versionPattern.exec(name)
    if (version !== null) name = version[1]!
    const key = keyFor(name, principal, "cloudkms.cryptoKeyVersions.useToEncrypt")
    if (version !== null && version[2] !== "1")
      throw new RpcError(
        grpc.status.NOT_FOUND,
        `CryptoKeyVersion ${String(req.name)} not found.`,
        "NOT_FOUND",
        "cloudkms.googleapis.com",
      )
    const plaintext = Buffer.from((req.plaintext as Uint8Array | undefined) ?? [])
    const aad = Buffer.from((req.additionalAuthenticatedData as Uint8Array | undefined) ?? [])
    if (plaintext.length === 0 || plaintext.length > 64 * 1024)
      throw new RpcError(
        grpc.status.INVALID_ARGUMENT,
        "Plaintext must be between 1 and 65536 bytes.",
        "BAD_REQUEST",
        "cloudkms.googleapis.com",
      )
    const vp = checkCrc("plaintext", plaintext, req.plaintextCrc32c as Message | undefined)
    const va = checkCrc(
      "additional_authenticated_data",
      aad,
      req.additionalAuthenticatedDataCrc32c as Message | undefined,
    )
    const nonce = randomBytes(12)
    const c = createCipheriv("aes-256-gcm", key.material, nonce)
    c.setAAD(aad)
    const sealed = Buffer.concat([c.update(plaintext), c.final()])
    const head = Buffer.alloc(4)
    head.writeUInt32BE(1)
    const ciphertext = Buffer.concat([head, nonce, sealed, c.getAuthTag()])
    return EncryptResponse.create({
      name: `${name}/cryptoKeyVersions/1`,
      ciphertext,
      ciphertextCrc32c: { value: crc32c(ciphertext) },
      verifiedPlaintextCrc32c: vp,
      verifiedAdditionalAuthenticatedDataCrc32c: va,
      protectionLevel: 1,
    }) as unknown as Message
  })

  const decrypt = unary("Decrypt", (req, principal) => {
    const name = String(req.name ?? "")
    const key = keyFor(name, principal, "cloudkms.cryptoKeyVersions.useToDecrypt")
    const ciphertext = Buffer.from((req.ciphertext as Uint8Array | undefined) ?? [])
    const aad = Buffer.from((req.additionalAuthenticatedData as Uint8Array | undefined) ?? [])
    checkCrc("ciphertext", ciphertext, req.ciphertextCrc32c as Message | undefined)
    checkCrc(
      "additional_authenticated_data",
      aad,
      req.additionalAuthenticatedDataCrc32c as Message | undefined,
    )
    const invalid = () =>
      new RpcError(
        grpc.status.INVALID_ARGUMENT,
        "Decryption failed: the ciphertext is invalid.",
        "BAD_REQUEST",
        "cloudkms.googleapis.com",
      )
    if (ciphertext.length < 4 + 12 + 16 || ciphertext.readUInt32BE(0) !== 1) throw invalid()
    let plaintext: Buffer
    try {
      const d = createDecipheriv("aes-256-gcm", key.material, ciphertext.subarray(4, 16))
      d.setAAD(aad)
      d.setAuthTag(ciphertext.subarray(ciphertext.length - 16))
      plaintext = Buffer.concat([d.update(ciphertext.subarray(16, ciphertext.length - 16)), d.final()])
    } catch {
      throw invalid()
    }
    return DecryptResponse.create({
      plaintext,
      plaintextCrc32c: { value: crc32c(plaintext) },
      usedPrimary: true,
      protectionLevel: 1,
    }) as unknown as Message
  })

  const getCryptoKey = unary("GetCryptoKey", (req, principal) => {
    const name = String(req.name ?? "")
    const key = keyFor(name, principal, "cloudkms.cryptoKeys.get")
    return CryptoKey.create({
      name,
      purpose: 1,
      createTime: { seconds: Math.floor(key.created / 1000) },
      primary: { name: `${name}/cryptoKeyVersions/1`, state: 1, protectionLevel: 1, algorithm: 1 },
    }) as unknown as Message
  })

  const method = (name: string, req: protobuf.Type, res: protobuf.Type) => ({
    path: `/google.cloud.kms.v1.KeyManagementService/${name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: Message) => Buffer.from(req.encode(req.fromObject(m)).finish()),
    requestDeserialize: (b: Buffer) => req.toObject(req.decode(b), { bytes: Buffer }) as Message,
    responseSerialize: (m: Message) => Buffer.from(res.encode(m).finish()),
    responseDeserialize: (b: Buffer) => res.decode(b) as unknown as Message,
  })
  const grpcServer = new grpc.Server()
  grpcServer.addService(
    {
      Encrypt: method("Encrypt", EncryptRequest, EncryptResponse),
      Decrypt: method("Decrypt", DecryptRequest, DecryptResponse),
      GetCryptoKey: method("GetCryptoKey", GetCryptoKeyRequest, CryptoKey),
    } as unknown as grpc.ServiceDefinition,
    {
      Encrypt: encrypt,
      Decrypt: decrypt,
      GetCryptoKey: getCryptoKey,
    } as unknown as grpc.UntypedServiceImplementation,
  )
  const grpcPort = yield* Effect.promise(
    () =>
      new Promise<number>((resolve, reject) =>
        grpcServer.bindAsync(
          "127.0.0.1:0",
          grpc.ServerCredentials.createSsl(null, [
            { cert_chain: Buffer.from(cert.cert), private_key: Buffer.from(cert.key) },
          ]),
          (err, port) => (err ? reject(err) : resolve(port)),
        ),
      ),
  )
  yield* Effect.addFinalizer(() =>
    Effect.promise(
      () =>
        new Promise<void>((resolve) => {
          grpcServer.tryShutdown(() => resolve())
          setTimeout(() => {
            grpcServer.forceShutdown()
            resolve()
          }, 2000).unref()
        }),
    ),
  )

  // --- HTTPS: OAuth2 token, STS, IAM Credentials ---------------------------------------------------------------
  let httpUrl = ""
  const tokenUrl = () => `${httpUrl}/token`
  const oauthError = (res: ServerResponse, error: string, description: string) =>
    send(res, 400, { error, error_description: description })
  const apiError = (res: ServerResponse, code: number, message: string) =>
    send(res, code, { error: { code, message, status: statusNames[code] ?? "UNKNOWN" } })

  const handleToken = (res: ServerResponse, form: Record<string, string>) => {
    if (form.grant_type === "urn:ietf:params:oauth:grant-type:jwt-bearer") {
      count("token:jwt-bearer")
      const assertion = form.assertion ?? ""
      let iss = ""
      try {
        iss = String(b64urlJson(assertion.split(".")[1] ?? "").iss)
      } catch {
        return oauthError(
          res,
          "invalid_grant",
          "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
        )
      }
      const sa = accounts.get(iss)
      if (sa === undefined) return oauthError(res, "invalid_grant", "Invalid grant: account not found")
      const claims = verifyJwt(assertion, sa.publicKey)
      if (claims === undefined) return oauthError(res, "invalid_grant", "Invalid JWT Signature.")
      const now = Date.now() / 1000
      if (claims.aud !== tokenUrl())
        return oauthError(res, "invalid_grant", "Invalid JWT: Failed audience check.")
      if (
        typeof claims.exp !== "number" ||
        typeof claims.iat !== "number" ||
        claims.exp < now ||
        claims.exp - claims.iat > 3600
      )
        return oauthError(
          res,
          "invalid_grant",
          "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
        )
      if (typeof claims.scope !== "string" || claims.scope === "")
        return oauthError(res, "invalid_scope", "Empty or missing scope not allowed.")
      return send(res, 200, {
        access_token: issueToken(sa.principal),
        expires_in: 3599,
        token_type: "Bearer",
      })
    }
    if (form.grant_type === "refresh_token") {
      count("token:refresh")
      const u = users.get(form.client_id ?? "")
      if (u === undefined || u.clientSecret !== form.client_secret)
        return oauthError(res, "invalid_client", "The OAuth client was not found.")
      if (form.refresh_token !== `refresh-${form.client_id}`)
        return oauthError(res, "invalid_grant", "Bad Request")
      return send(res, 200, { access_token: issueToken(u.principal), expires_in: 3599, token_type: "Bearer" })
    }
    return oauthError(res, "unsupported_grant_type", `Invalid grant_type: ${form.grant_type ?? ""}`)
  }

  const handleSts = async (res: ServerResponse, form: Record<string, string>) => {
    count("sts")
    if (form.grant_type !== "urn:ietf:params:oauth:grant-type:token-exchange")
      return oauthError(res, "unsupported_grant_type", `Unsupported grant_type: ${form.grant_type ?? ""}`)
    if (form.requested_token_type !== "urn:ietf:params:oauth:token-type:access_token")
      return oauthError(res, "invalid_request", "Invalid requested_token_type")
    if (
      form.subject_token_type !== "urn:ietf:params:oauth:token-type:jwt" &&
      form.subject_token_type !== "urn:ietf:params:oauth:token-type:id_token"
    )
      return oauthError(res, "invalid_request", "Invalid subject_token_type")
    const audience = form.audience ?? ""
    const provider = pools.get(audience.replace(/^\/\/iam\.googleapis\.com\//, ""))
    if (!audience.startsWith("//iam.googleapis.com/") || provider === undefined)
      return oauthError(
        res,
        "invalid_target",
        'The target service indicated by the "audience" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn\'t exist.',
      )
    const jwt = form.subject_token ?? ""
    const header = (() => {
      try {
        return b64urlJson(jwt.split(".")[0] ?? "")
      } catch {
        return undefined
      }
    })()
    const jwk = (await provider.jwks()).find(
      (k) => header !== undefined && (k as { kid?: string }).kid === header.kid,
    )
    const claims = jwk === undefined ? undefined : verifyJwt(jwt, { key: jwk, format: "jwk" })
    if (claims === undefined)
      return oauthError(res, "invalid_grant", "The provided subject token signature is invalid.")
    const aud = Array.isArray(claims.aud) ? (claims.aud as Array<string>) : [String(claims.aud)]
    if (claims.iss !== provider.issuer)
      return oauthError(res, "invalid_grant", "The issuer in ID Token does not match the expected ones.")
    if (!aud.includes(audience))
      return oauthError(
        res,
        "invalid_grant",
        "The audience in ID Token does not match the expected audience.",
      )
    if (typeof claims.exp !== "number" || claims.exp * 1000 < Date.now())
      return oauthError(res, "invalid_grant", "ID Token has expired.")
    const subject = String(claims.sub)
    exchanges.push({ audience, scope: form.scope ?? "", subject, subjectTokenAudience: aud })
    const pool = provider.name.replace(/\/providers\/[^/]+$/, "")
    return send(res, 200, {
      access_token: issueToken(`principal://iam.googleapis.com/${pool}/subject/${subject}`),
      issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
      token_type: "Bearer",
      expires_in: 3600,
    })
  }

  const handleImpersonation = async (
    req: IncomingMessage,
    res: ServerResponse,
    email: string,
    body: string,
  ) => {
    count("generateAccessToken")
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")
    const issued = auth === null ? undefined : tokens.get(auth[1]!)
    if (issued === undefined || issued.expires < Date.now())
      return apiError(
        res,
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
      )
    if (!accounts.has(email)) return apiError(res, 404, `Not found; Gaia id not found for email ${email}`)
    if (!(tokenCreators.get(email)?.has(issued.principal) ?? false))
      return apiError(
        res,
        403,
        "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
      )
    let lifetime = 3600
    try {
      const v = JSON.parse(body) as { lifetime?: string; scope?: unknown }
      if (!Array.isArray(v.scope) || v.scope.length === 0) return apiError(res, 400, "Scope required.")
      if (typeof v.lifetime === "string") lifetime = Number.parseInt(v.lifetime, 10) || 3600
    } catch {
      return apiError(res, 400, "Invalid JSON payload received.")
    }
    return send(res, 200, {
      accessToken: issueToken(accounts.get(email)!.principal, lifetime),
      expireTime: new Date(Date.now() + lifetime * 1000).toISOString(),
    })
  }

  // The REST mapping of Encrypt/Decrypt (POST /v1/{name}:encrypt|decrypt, proto3 JSON: bytes as base64, the
  // Int64Value checksums as decimal strings), on the HTTPS server.
  const httpStatusOf: Record<number, number> = { 3: 400, 4: 504, 5: 404, 7: 403, 8: 429, 14: 503, 16: 401 }
  const rest = (req: IncomingMessage, res: ServerResponse, method: string, name: string, body: string) => {
    try {
      const json = JSON.parse(body || "{}") as Record<string, unknown>
      const request: Message = { name }
      for (const [k, v] of Object.entries(json)) {
        if (k.endsWith("Crc32c")) request[k] = { value: String(v) }
        else if (["plaintext", "ciphertext", "additionalAuthenticatedData"].includes(k))
          request[k] = Buffer.from(String(v), "base64")
      }
      const md = new grpc.Metadata()
      if (req.headers.authorization) md.set("authorization", req.headers.authorization)
      const out = handlers[method]!(request, md)
      const answer: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(out)) {
        if (v === null || v === undefined) continue
        if (Buffer.isBuffer(v) || v instanceof Uint8Array) answer[k] = Buffer.from(v).toString("base64")
        else if (typeof v === "object" && "value" in (v as object))
          answer[k] = String((v as { value: unknown }).value)
        else if (k === "protectionLevel") answer[k] = "SOFTWARE"
        else answer[k] = v
      }
      return send(res, 200, answer)
    } catch (e) {
      if (!(e instanceof RpcError)) return apiError(res, 400, "Invalid JSON payload received.")
      const code = httpStatusOf[e.code] ?? 500
      return send(res, code, {
        error: {
          code,
          message: e.message,
          status: grpcStatusNames[e.code] ?? "UNKNOWN",
          details: [
            {
              "@type": "type.googleapis.com/google.rpc.ErrorInfo",
              reason: e.reason,
              domain: e.domain,
              metadata: e.metadata,
            },
          ],
        },
      })
    }
  }

  const http = createHttpsServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    readBody(req)
      .then(async (body) => {
        // clients join a base URL ending in "/" with "/v1/…"
        const path = new URL((req.url ?? "/").replace(/^\/+/, "/"), "https://x").pathname
        if (req.method !== "POST") return apiError(res, 404, "Not found")
        if (path === "/token") return handleToken(res, formOrJson(req, body))
        if (path === "/v1/token") return await handleSts(res, formOrJson(req, body))
        const m = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(path)
        if (m !== null) return await handleImpersonation(req, res, decodeURIComponent(m[1]!), body)
        const r = /^\/v1\/(.+):(encrypt|decrypt)$/.exec(path)
        if (r !== null)
          return rest(req, res, r[2] === "encrypt" ? "Encrypt" : "Decrypt", decodeURIComponent(r[1]!), body)
        return apiError(res, 404, "Not found")
      })
      .catch(() => {
        if (!res.headersSent) apiError(res, 400, "Bad request")
      })
  })
  httpUrl = (yield* Effect.promise(() => listenOnLoopback(http))).replace(/^http:/, "https:")
  yield* Effect.addFinalizer(() => Effect.promise(() => closeServer(http)))

  const serviceAccount = (name: string): TestServiceAccount => {
    const email = `${name}@kustodian-test.iam.gserviceaccount.com`
    const { privateKey, publicKey } = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    })
    const principal = `serviceAccount:${email}`
    accounts.set(email, { publicKey, principal })
    return {
      email,
      principal,
      keyJson: {
        type: "service_account",
        project_id: "kustodian-test",
        private_key_id: randomBytes(20).toString("hex"),
        private_key: privateKey,
        client_email: email,
        client_id: String(100000000000000000000n + BigInt(accounts.size)),
        auth_uri: "https://accounts.google.com/o/oauth2/auth",
        token_uri: tokenUrl(),
        auth_provider_x509_cert_url: "https://www.googleapis.com/oauth2/v1/certs",
        client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(email)}`,
        universe_domain: "googleapis.com",
      },
    }
  }

  return {
    kmsEndpoint: `127.0.0.1:${grpcPort}`,
    httpUrl,
    tokenUrl: tokenUrl(),
    stsUrl: `${httpUrl}/v1/token`,
    iamCredentialsUrl: httpUrl,
    ca: ca.cert,
    createKey: (resourceId, principals) => {
      if (!keyPattern.test(resourceId)) throw new Error(`not a CryptoKey name: ${resourceId}`)
      keys.set(resourceId, {
        material: randomBytes(32),
        principals: new Set(principals),
        created: Date.now(),
      })
    },
    grant: (resourceId, principal) => keys.get(resourceId)?.principals.add(principal),
    serviceAccount,
    authorizedUser: (name) => {
      const clientId = `${name}.apps.googleusercontent.com`
      const principal = `user:${name}@example.com`
      users.set(clientId, { clientSecret: `secret-${randomBytes(8).toString("hex")}`, principal })
      return {
        principal,
        json: {
          type: "authorized_user",
          client_id: clientId,
          client_secret: users.get(clientId)!.clientSecret,
          refresh_token: `refresh-${clientId}`,
        },
      }
    },
    addPoolProvider: (p) => pools.set(p.name, p),
    allowImpersonation: (email, principal) => {
      const s = tokenCreators.get(email) ?? new Set<string>()
      s.add(principal)
      tokenCreators.set(email, s)
    },
    issueToken,
    failNext: (n, code) => {
      faults = { n, code }
    },
    calls,
    exchanges,
  } satisfies GcpKmsServer as GcpKmsServer
})
