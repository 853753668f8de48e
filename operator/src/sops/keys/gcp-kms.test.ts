/**
 * The GCP KMS key service and Google credentials against the local server of GCP KMS's wire protocol
 * (e2e/support/gcp-kms-server.ts: gRPC KMS, OAuth2 token, STS and IAM Credentials endpoints on loopback, TLS).
 */
import { createSign, generateKeyPairSync, type KeyObject, randomUUID } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import { type GcpKmsServer, gcpKmsServer } from "../../../../e2e/support/gcp-kms-server.ts"
import { crc32c } from "./crc32c.ts"
import {
  cliTokenSource,
  credentialsFromJson,
  type GoogleEndpoints,
  googleEndpoints,
} from "./gcp-credentials.ts"
import { closeGcpKmsClients, describeGcpError, gcpKmsEndpoint, gcpKmsService } from "./gcp-kms.ts"
import type { GcpKmsKey } from "./masterkey.ts"

const key = "projects/kustodian-test/locations/global/keyRings/sops/cryptoKeys/data-key"
const other = "projects/kustodian-test/locations/global/keyRings/sops/cryptoKeys/not-mine"

const withServer = <A, E>(
  f: (s: GcpKmsServer, endpoints: GoogleEndpoints) => Effect.Effect<A, E, Scope.Scope>,
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const s = yield* gcpKmsServer()
      yield* Effect.addFinalizer(() => Effect.promise(() => closeGcpKmsClients()))
      const endpoints: GoogleEndpoints = {
        ...googleEndpoints({}),
        tokenUrl: s.tokenUrl,
        stsUrl: s.stsUrl,
        iamCredentialsUrl: s.iamCredentialsUrl,
        ca: s.ca,
      }
      return yield* f(s, endpoints)
    }),
  )

const serviceFor = (
  s: GcpKmsServer,
  tokenSource: () => Promise<{ accessToken: string; expiresAt: number }>,
) => gcpKmsService({ tokenSource, env: { SOPS_GCP_KMS_ENDPOINT: s.kmsEndpoint }, ca: s.ca })

const reasonOf = <A>(e: Effect.Effect<A, { reason: string }>) =>
  Effect.map(Effect.result(e), (r) => (r._tag === "Failure" ? r.failure.reason : "<succeeded>"))

describe("CRC32C and endpoints", () => {
  it("CRC32C matches the Castagnoli check value", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283)
    expect(crc32c(new Uint8Array(0))).toBe(0)
  })
  it("takes sops' SOPS_GCP_KMS_ENDPOINT and SOPS_GCP_KMS_UNIVERSE_DOMAIN", () => {
    expect(gcpKmsEndpoint({})).toEqual({ host: "cloudkms.googleapis.com", port: 443 })
    expect(gcpKmsEndpoint({ SOPS_GCP_KMS_UNIVERSE_DOMAIN: "s3nsapis.fr" })).toEqual({
      host: "cloudkms.s3nsapis.fr",
      port: 443,
    })
    expect(
      gcpKmsEndpoint({ SOPS_GCP_KMS_ENDPOINT: "127.0.0.1:8443", SOPS_GCP_KMS_UNIVERSE_DOMAIN: "x" }),
    ).toEqual({
      host: "127.0.0.1",
      port: 8443,
    })
    expect(gcpKmsEndpoint({ SOPS_GCP_KMS_ENDPOINT: "https://kms.example.com/" })).toEqual({
      host: "kms.example.com",
      port: 443,
    })
  })
  it("describes a gRPC error by Google's status name, masking tokens", () => {
    expect(
      describeGcpError({ code: 7, details: "denied for ya29.secret-token", reason: "IAM_PERMISSION_DENIED" }),
    ).toBe("PERMISSION_DENIED: denied for <redacted> [IAM_PERMISSION_DENIED]")
  })
})

describe("GCP KMS key service (local server of the wire protocol)", () => {
  it.live(
    "a service account key: JWT-bearer grant, Encrypt and Decrypt with verified CRC32C, token cached",
    () =>
      withServer((s, endpoints) =>
        Effect.gen(function* () {
          const sa = s.serviceAccount("sops")
          s.createKey(key, [sa.principal])
          const svc = serviceFor(
            s,
            credentialsFromJson(JSON.stringify(sa.keyJson), { where: "test", policy: "tenant", endpoints }),
          )
          const part = new Uint8Array(32).fill(7)
          const entry = (yield* svc.encrypt({ type: "gcp_kms", resourceId: key }, part)) as GcpKmsKey
          expect(entry.resourceId).toBe(key)
          expect(entry.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
          expect(Buffer.from(entry.enc, "base64").length).toBeGreaterThan(32)
          expect(yield* svc.decrypt(entry)).toEqual(part)
          expect(yield* svc.decrypt(entry)).toEqual(part)
          expect(s.calls["token:jwt-bearer"]).toBe(1)
          expect(s.calls.Encrypt).toBe(1)
          expect(s.calls.Decrypt).toBe(2)
        }),
      ),
  )

  it.live(
    "NOT_FOUND, PERMISSION_DENIED and a bad resource ID name the key and Google's code, never the token",
    () =>
      withServer((s) =>
        Effect.gen(function* () {
          s.createKey(key, ["user:someone@example.com"])
          s.createKey(other, [])
          const token = s.issueToken("serviceAccount:x@kustodian-test.iam.gserviceaccount.com")
          const svc = serviceFor(s, async () => ({ accessToken: token, expiresAt: Infinity }))
          const entry: GcpKmsKey = {
            type: "gcp_kms",
            resourceId: other,
            createdAt: "2026-01-01T00:00:00Z",
            enc: "AAAAAQ==",
          }
          const denied = yield* reasonOf(svc.decrypt(entry))
          expect(denied).toBe(
            `failed to decrypt sops data key with GCP KMS key: PERMISSION_DENIED: Permission 'cloudkms.cryptoKeyVersions.useToDecrypt' denied on resource '${other}' (or it may not exist). [IAM_PERMISSION_DENIED]`,
          )
          const missing = yield* reasonOf(svc.decrypt({ ...entry, resourceId: `${key}-gone` }))
          expect(missing).toContain(`NOT_FOUND: CryptoKey ${key}-gone not found.`)
          const bad = yield* reasonOf(svc.decrypt({ ...entry, resourceId: "projects/p/keyRings/r" }))
          expect(bad).toBe(
            'cannot create GCP KMS service: no valid resource ID found in "projects/p/keyRings/r"',
          )
          const unauth = yield* reasonOf(
            serviceFor(s, async () => ({ accessToken: "ya29.not-issued", expiresAt: Infinity })).decrypt(
              entry,
            ),
          )
          expect(unauth).toContain("UNAUTHENTICATED: Request had invalid authentication credentials")
          for (const m of [denied, missing, unauth]) {
            expect(m).not.toContain(token)
            expect(m).not.toContain("ya29.")
          }
        }),
      ),
  )

  it.live("UNAVAILABLE and RESOURCE_EXHAUSTED are retried with backoff; INVALID_ARGUMENT is not", () =>
    withServer((s) =>
      Effect.gen(function* () {
        const token = s.issueToken("serviceAccount:r@kustodian-test.iam.gserviceaccount.com")
        s.createKey(key, ["serviceAccount:r@kustodian-test.iam.gserviceaccount.com"])
        const svc = serviceFor(s, async () => ({ accessToken: token, expiresAt: Infinity }))
        const entry = yield* svc.encrypt({ type: "gcp_kms", resourceId: key }, new Uint8Array([1, 2, 3]))
        s.failNext(2, 14)
        expect(yield* svc.decrypt(entry)).toEqual(new Uint8Array([1, 2, 3]))
        s.failNext(1, 8)
        expect(yield* svc.decrypt(entry)).toEqual(new Uint8Array([1, 2, 3]))
        expect(s.calls.Decrypt).toBe(5)
        s.failNext(9, 14)
        const gaveUp = yield* reasonOf(svc.decrypt(entry))
        expect(gaveUp).toBe(
          "failed to decrypt sops data key with GCP KMS key: UNAVAILABLE: The service is currently unavailable. (retries exhausted)",
        )
        expect(s.calls.Decrypt).toBe(9) // 4 attempts
        s.failNext(0, 0)
        const tampered = Buffer.from((entry as GcpKmsKey).enc, "base64")
        tampered[tampered.length - 1]! ^= 1
        const invalid = yield* reasonOf(
          svc.decrypt({ ...(entry as GcpKmsKey), enc: tampered.toString("base64") }),
        )
        expect(invalid).toContain("INVALID_ARGUMENT: Decryption failed: the ciphertext is invalid.")
        expect(s.calls.Decrypt).toBe(10)
      }),
    ),
  )

  it.live(
    "a tenant's credentials may not redirect the controller; a bad grant names the endpoint, not the key",
    () =>
      withServer((s, endpoints) =>
        Effect.gen(function* () {
          const sa = s.serviceAccount("tenant")
          const redirected = { ...sa.keyJson, token_uri: "https://attacker.example/token" }
          expect(() =>
            credentialsFromJson(JSON.stringify(redirected), {
              where: "sops.gcp-kms",
              policy: "tenant",
              endpoints,
            }),
          ).toThrow("sops.gcp-kms: token_uri 'https://attacker.example/token' is not allowed")
          const external = {
            type: "external_account",
            audience: "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x",
            subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
            token_url: "https://sts.googleapis.com/v1/token",
            credential_source: { file: "/var/run/secrets/kubernetes.io/serviceaccount/token" },
          }
          expect(() =>
            credentialsFromJson(JSON.stringify(external), {
              where: "sops.gcp-kms",
              policy: "tenant",
              endpoints,
            }),
          ).toThrow("credential_source.file is not allowed in a decryption Secret")
          expect(() =>
            credentialsFromJson(
              JSON.stringify({ ...external, credential_source: { executable: { command: "/bin/sh" } } }),
              { where: "GOOGLE_CREDENTIALS", policy: "user", endpoints },
            ),
          ).toThrow("credential_source.executable is not supported")
          // Google's token URI stands for the controller's configured one: the grant reaches the local server
          const google = { ...sa.keyJson, token_uri: "https://oauth2.googleapis.com/token" }
          s.createKey(key, [sa.principal])
          const svc = serviceFor(
            s,
            credentialsFromJson(JSON.stringify(google), { where: "x", policy: "tenant", endpoints }),
          )
          yield* svc.encrypt({ type: "gcp_kms", resourceId: key }, new Uint8Array([9]))
          // a key the server does not know for that account: invalid_grant, without the private key or assertion
          const { privateKey } = generateKeyPairSync("rsa", {
            modulusLength: 2048,
            privateKeyEncoding: { type: "pkcs8", format: "pem" },
            publicKeyEncoding: { type: "spki", format: "pem" },
          })
          const forged = { ...sa.keyJson, private_key: privateKey }
          const reason = yield* reasonOf(
            serviceFor(
              s,
              credentialsFromJson(JSON.stringify(forged), { where: "x", policy: "tenant", endpoints }),
            ).decrypt({
              type: "gcp_kms",
              resourceId: key,
              createdAt: "2026-01-01T00:00:00Z",
              enc: "AAAA",
            }),
          )
          expect(reason).toBe(
            `failed to decrypt sops data key with GCP KMS key: credentials: token request for service account ${sa.email} at ${s.tokenUrl} failed: HTTP 400 invalid_grant: Invalid JWT Signature.`,
          )
          expect(reason).not.toContain("PRIVATE KEY")
        }),
      ),
  )

  it.live(
    "SOPS_GCP_KMS_CLIENT_TYPE=rest: the REST mapping, interchangeable with gRPC, same errors and retries",
    () =>
      withServer((s) =>
        Effect.gen(function* () {
          const token = s.issueToken("serviceAccount:rest@kustodian-test.iam.gserviceaccount.com")
          s.createKey(key, ["serviceAccount:rest@kustodian-test.iam.gserviceaccount.com"])
          s.createKey(other, [])
          const tokenSource = async () => ({ accessToken: token, expiresAt: Infinity })
          const viaRest = gcpKmsService({
            tokenSource,
            env: { SOPS_GCP_KMS_ENDPOINT: s.httpUrl, SOPS_GCP_KMS_CLIENT_TYPE: "REST" },
            ca: s.ca,
          })
          const viaGrpc = serviceFor(s, tokenSource)
          const part = new Uint8Array([1, 2, 3, 4])
          const entry = (yield* viaRest.encrypt({ type: "gcp_kms", resourceId: key }, part)) as GcpKmsKey
          expect(yield* viaGrpc.decrypt(entry)).toEqual(part)
          expect(
            yield* viaRest.decrypt(yield* viaGrpc.encrypt({ type: "gcp_kms", resourceId: key }, part)),
          ).toEqual(part)
          expect(yield* reasonOf(viaRest.decrypt({ ...entry, resourceId: other }))).toBe(
            `failed to decrypt sops data key with GCP KMS key: PERMISSION_DENIED: Permission 'cloudkms.cryptoKeyVersions.useToDecrypt' denied on resource '${other}' (or it may not exist). [IAM_PERMISSION_DENIED]`,
          )
          const before = s.calls.Decrypt ?? 0
          s.failNext(2, 14)
          expect(yield* viaRest.decrypt(entry)).toEqual(part)
          expect((s.calls.Decrypt ?? 0) - before).toBe(3)
        }),
      ),
  )

  it.live("external_account: STS exchange of a file's OIDC token, then service-account impersonation", () =>
    withServer((s, endpoints) =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "kustodian-gcp-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        const issuer = "https://issuer.example"
        const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
        const kid = randomUUID()
        const provider = "projects/123456/locations/global/workloadIdentityPools/ci/providers/oidc"
        s.addPoolProvider({
          name: provider,
          issuer,
          jwks: async () => [{ ...(publicKey as KeyObject).export({ format: "jwk" }), kid }],
        })
        const audience = `//iam.googleapis.com/${provider}`
        const jwt = signJwt(privateKey, kid, { iss: issuer, sub: "ci-job", aud: audience })
        writeFileSync(join(dir, "token"), jwt)
        const target = s.serviceAccount("decrypter")
        const federated = `principal://iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/ci/subject/ci-job`
        s.allowImpersonation(target.email, federated)
        s.createKey(key, [target.principal])
        const config = {
          type: "external_account",
          audience,
          subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
          token_url: s.stsUrl,
          service_account_impersonation_url: `${s.iamCredentialsUrl}/v1/projects/-/serviceAccounts/${target.email}:generateAccessToken`,
          credential_source: { file: join(dir, "token") },
        }
        writeFileSync(join(dir, "creds.json"), JSON.stringify(config))
        // the CLI: GOOGLE_CREDENTIALS as a path, as sops reads it
        const svc = serviceFor(
          s,
          cliTokenSource({ GOOGLE_CREDENTIALS: join(dir, "creds.json"), ...caEnv(dir, s) }),
        )
        const entry = yield* svc.encrypt({ type: "gcp_kms", resourceId: key }, new Uint8Array([4, 2]))
        expect(yield* svc.decrypt(entry)).toEqual(new Uint8Array([4, 2]))
        expect(s.exchanges).toEqual([
          {
            audience,
            scope: "https://www.googleapis.com/auth/cloud-platform",
            subject: "ci-job",
            subjectTokenAudience: [audience],
          },
        ])
        expect(s.calls.generateAccessToken).toBe(1)
        // without the impersonation grant, the federated principal itself has no access to the key
        const direct = serviceFor(
          s,
          credentialsFromJson(JSON.stringify({ ...config, service_account_impersonation_url: undefined }), {
            where: "GOOGLE_CREDENTIALS",
            policy: "user",
            endpoints,
          }),
        )
        expect(yield* reasonOf(direct.decrypt(entry as GcpKmsKey))).toContain("PERMISSION_DENIED")
      }),
    ),
  )

  it.live(
    "authorized_user (gcloud ADC through GOOGLE_APPLICATION_CREDENTIALS) and GOOGLE_OAUTH_ACCESS_TOKEN",
    () =>
      withServer((s) =>
        Effect.gen(function* () {
          const dir = mkdtempSync(join(tmpdir(), "kustodian-gcp-"))
          yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
          const user = s.authorizedUser("dev")
          writeFileSync(join(dir, "adc.json"), JSON.stringify({ ...user.json, token_uri: s.tokenUrl }))
          s.createKey(key, [user.principal])
          const svc = serviceFor(
            s,
            cliTokenSource({ GOOGLE_APPLICATION_CREDENTIALS: join(dir, "adc.json"), ...caEnv(dir, s) }),
          )
          const entry = yield* svc.encrypt({ type: "gcp_kms", resourceId: key }, new Uint8Array([5]))
          expect(s.calls["token:refresh"]).toBe(1)
          const token = s.issueToken(user.principal)
          const viaToken = serviceFor(s, cliTokenSource({ GOOGLE_OAUTH_ACCESS_TOKEN: token }))
          expect(yield* viaToken.decrypt(entry)).toEqual(new Uint8Array([5]))
          const missing = yield* reasonOf(
            serviceFor(s, cliTokenSource({ GOOGLE_APPLICATION_CREDENTIALS: join(dir, "nope.json") })).decrypt(
              entry,
            ),
          )
          expect(missing).toContain(
            `GOOGLE_APPLICATION_CREDENTIALS '${join(dir, "nope.json")}' cannot be read: ENOENT`,
          )
        }),
      ),
  )
})

const caEnv = (dir: string, s: GcpKmsServer) => {
  writeFileSync(join(dir, "ca.pem"), s.ca)
  return { SSL_CERT_FILE: join(dir, "ca.pem") }
}

const signJwt = (key: KeyObject, kid: string, claims: Record<string, unknown>) => {
  const now = Math.floor(Date.now() / 1000)
  const h = Buffer.from(JSON.stringify({ alg: "RS256", kid })).toString("base64url")
  const c = Buffer.from(JSON.stringify({ iat: now, exp: now + 600, ...claims })).toString("base64url")
  return `${h}.${c}.${createSign("RSA-SHA256").update(`${h}.${c}`).sign(key, "base64url")}`
}
