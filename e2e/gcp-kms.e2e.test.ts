/**
 * GCP KMS in the cluster: `kustodian controller` as its own process against the test control plane, the local
 * server of GCP KMS's wire protocol (e2e/support/gcp-kms-server.ts) as Cloud KMS, the OAuth2 token endpoint, STS
 * and IAM Credentials — reached through the controller's environment (`SOPS_GCP_KMS_ENDPOINT`,
 * `KUSTODIAN_GCP_TOKEN_URL`, `KUSTODIAN_GCP_STS_URL`, `KUSTODIAN_GCP_IAM_CREDENTIALS_URL`, `SSL_CERT_FILE`; the
 * operator has no Google credentials of its own) — and files the real sops encrypted with `--gcp-kms`:
 * - a service-account key only in the cluster Secret's `sops.gcp-kms` entry: Ready and the Secret decrypted; a
 *   key the account may not use: BuildFailed naming the file, the resource ID and PERMISSION_DENIED, no key;
 * - `spec.decryption.serviceAccountName` (ObjectLevelWorkloadIdentity): a TokenRequest for the ServiceAccount
 *   with the audience of its `gcp.auth.fluxcd.io/workload-identity-provider`, exchanged at STS (which verifies it
 *   with the kube-apiserver's JWKS), then the Google service account of `iam.gke.io/gcp-service-account`
 *   impersonated; the token cached (`gotk_token_cache_events_total{operation="decrypt_with_gcp"}`);
 * - neither: the controller's application-default credentials (`GOOGLE_APPLICATION_CREDENTIALS`).
 */

import type { JsonWebKey } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import {
  applyYaml,
  createTestNamespace,
  installFluxCrds,
  kubectl,
  runKubectl,
  testKubeconfigPath,
} from "./support/cluster.ts"
import { type GcpKmsServer, gcpKmsServer, type TestServiceAccount } from "./support/gcp-kms-server.ts"
import { type GitHttpServer, gitHttpServer } from "./support/git-server.ts"
import { type OperatorProcess, operatorProcess } from "./support/operator-process.ts"
import { providerTestbed } from "./support/provider-testbed.ts"
import { scratchDir, secretManifest, sopsEncryptInPlace } from "./support/seed.ts"

let ns = ""
let server: GitHttpServer
let gcp: GcpKmsServer
let operator: OperatorProcess
let dir = ""
/** The account whose key file the tests' sops uses to encrypt. */
let writer: TestServiceAccount
/** The controller's own account (its application-default credentials). */
let controller: TestServiceAccount
const scope = Effect.runSync(Scope.make())
const keyId = "projects/kustodian-test/locations/global/keyRings/flux/cryptoKeys/sops"
const deniedKeyId = "projects/kustodian-test/locations/global/keyRings/flux/cryptoKeys/other-team"
const poolProvider =
  "projects/123456789/locations/global/workloadIdentityPools/kustodian/providers/test-cluster"

beforeAll(async () => {
  await installFluxCrds()
  ns = await createTestNamespace("gcp-kms")
  server = await Effect.runPromise(Scope.provide(scope)(gitHttpServer()))
  gcp = await Effect.runPromise(Scope.provide(scope)(gcpKmsServer()))
  dir = mkdtempSync(join(tmpdir(), "kustodian-gcp-e2e-"))
  writeFileSync(join(dir, "ca.pem"), gcp.ca)
  writer = gcp.serviceAccount("writer")
  gcp.createKey(keyId, [writer.principal])
  gcp.createKey(deniedKeyId, [writer.principal])
  writeFileSync(join(dir, "writer.json"), JSON.stringify(writer.keyJson))
  controller = gcp.serviceAccount("kustodian-controller")
  writeFileSync(join(dir, "controller.json"), JSON.stringify(controller.keyJson))
  // the kube-apiserver as an OIDC issuer of the pool provider: STS checks its tokens with its JWKS
  const discovery = JSON.parse(
    (await runKubectl(["get", "--raw", "/.well-known/openid-configuration"])).stdout,
  ) as {
    issuer: string
  }
  gcp.addPoolProvider({
    name: poolProvider,
    issuer: discovery.issuer,
    jwks: async () =>
      (
        JSON.parse((await runKubectl(["get", "--raw", "/openid/v1/jwks"])).stdout) as {
          keys: Array<JsonWebKey>
        }
      ).keys,
  })
  operator = await Effect.runPromise(
    Scope.provide(scope)(
      operatorProcess({
        kubeconfig: testKubeconfigPath(),
        namespace: ns,
        flags: ["--feature-gates=ObjectLevelWorkloadIdentity=true"],
        env: {
          SOPS_GCP_KMS_ENDPOINT: gcp.kmsEndpoint,
          SSL_CERT_FILE: join(dir, "ca.pem"),
          KUSTODIAN_GCP_TOKEN_URL: gcp.tokenUrl,
          KUSTODIAN_GCP_STS_URL: gcp.stsUrl,
          KUSTODIAN_GCP_IAM_CREDENTIALS_URL: gcp.iamCredentialsUrl,
          // the controller's own identity: application-default credentials (a key file, as on a non-GCP host)
          GOOGLE_APPLICATION_CREDENTIALS: join(dir, "controller.json"),
          GOOGLE_CREDENTIALS: "",
          GOOGLE_OAUTH_ACCESS_TOKEN: "",
          CLOUDSDK_CONFIG: join(dir, "no-gcloud"),
          GCE_METADATA_HOST: "127.0.0.1:9",
        },
      }),
    ),
  )
}, 300_000)

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  rmSync(dir, { recursive: true, force: true })
}, 60_000)

const { get, ready, waitFor, isReady, isFailed, source, kustomization, passwordOf, tokenCacheEvent } =
  providerTestbed(() => ({
    ns,
    server,
    operator,
  }))

/** A Secret manifest encrypted by the real sops with `--gcp-kms resource`, its data only. */
const gcpEncrypted = (work: string, file: string, name: string, password: string, resource: string) =>
  Effect.promise(async () =>
    sopsEncryptInPlace(
      join(work, file),
      await secretManifest(ns, name, { password }),
      ["--gcp-kms", resource, "--encrypted-regex", "^(data|stringData)$"],
      {
        SOPS_GCP_KMS_ENDPOINT: gcp.kmsEndpoint,
        SSL_CERT_FILE: join(dir, "ca.pem"),
        GOOGLE_CREDENTIALS: join(dir, "writer.json"),
      },
    ),
  )

describe("GCP KMS decryption in the cluster (local GCP KMS server)", () => {
  it.live(
    "a service-account key in sops.gcp-kms decrypts sops' --gcp-kms files; PERMISSION_DENIED names file, key and code",
    () =>
      Effect.gen(function* () {
        const work = yield* scratchDir("kustodian-gcp-kms-")
        const reader = gcp.serviceAccount("flux-reader")
        gcp.grant(keyId, reader.principal)
        const good = yield* gcpEncrypted(work, "good/secret.yaml", "gcp-secret", "gcp-plaintext", keyId)
        const denied = yield* gcpEncrypted(
          work,
          "denied/secret.yaml",
          "gcp-denied",
          "denied-plaintext",
          deniedKeyId,
        )
        const src = yield* source("gcp-static", { "good/secret.yaml": good, "denied/secret.yaml": denied })
        // the key file as a user downloads it from Google: token_uri is Google's, the controller's override applies
        const keyFile = JSON.stringify({
          ...reader.keyJson,
          token_uri: "https://oauth2.googleapis.com/token",
        })
        yield* Effect.promise(() =>
          kubectl([
            "-n",
            ns,
            "create",
            "secret",
            "generic",
            "gcp-keys",
            `--from-literal=sops.gcp-kms=${keyFile}`,
          ]),
        )
        yield* kustomization("gcp-static", src.name, "./good", { secretRef: { name: "gcp-keys" } })
        yield* waitFor("kustomization", "gcp-static", "Ready", isReady(src.revision))
        expect(yield* passwordOf("gcp-secret")).toBe("gcp-plaintext")
        expect(gcp.calls["token:jwt-bearer"]).toBeGreaterThanOrEqual(1)

        yield* kustomization("gcp-denied", src.name, "./denied", { secretRef: { name: "gcp-keys" } })
        const failed = yield* waitFor("kustomization", "gcp-denied", "BuildFailed", isFailed)
        const message = ready(failed)?.message ?? ""
        expect(message).toContain("secret.yaml")
        expect(message).toContain(deniedKeyId)
        expect(message).toContain("PERMISSION_DENIED")
        expect(message).not.toContain("PRIVATE KEY")
        expect(message).not.toContain(reader.keyJson.private_key!.slice(60, 100))
        expect(message).not.toContain("ya29.")
        expect(message).not.toContain("denied-plaintext")
        expect(yield* get("secret", "gcp-denied")).toBeUndefined()

        // a tenant's key file may not send the controller elsewhere
        const redirected = JSON.stringify({ ...reader.keyJson, token_uri: "https://attacker.example/token" })
        yield* Effect.promise(() =>
          kubectl([
            "-n",
            ns,
            "create",
            "secret",
            "generic",
            "gcp-redirect",
            `--from-literal=sops.gcp-kms=${redirected}`,
          ]),
        )
        yield* kustomization("gcp-redirect", src.name, "./good", { secretRef: { name: "gcp-redirect" } })
        const refused = yield* waitFor("kustomization", "gcp-redirect", "BuildFailed", isFailed)
        expect(ready(refused)?.message).toContain("token_uri 'https://attacker.example/token' is not allowed")
      }).pipe(Effect.scoped),
    180_000,
  )

  it.live(
    "no Secret and no ServiceAccount: the controller's application-default credentials",
    () =>
      Effect.gen(function* () {
        const work = yield* scratchDir("kustodian-gcp-adc-")
        gcp.grant(keyId, controller.principal)
        const src = yield* source("gcp-adc", {
          "secret.yaml": yield* gcpEncrypted(work, "secret.yaml", "adc-secret", "adc-plaintext", keyId),
        })
        yield* kustomization("gcp-adc", src.name, "./", {})
        yield* waitFor("kustomization", "gcp-adc", "Ready", isReady(src.revision))
        expect(yield* passwordOf("adc-secret")).toBe("adc-plaintext")
      }).pipe(Effect.scoped),
    180_000,
  )

  it.live(
    "spec.decryption.serviceAccountName: TokenRequest (pool provider audience) → STS → impersonation, cached",
    () =>
      Effect.gen(function* () {
        const work = yield* scratchDir("kustodian-gcp-wi-")
        const target = gcp.serviceAccount("flux-decrypter")
        gcp.grant(keyId, target.principal)
        const subject = `system:serviceaccount:${ns}:decrypter`
        const pool = poolProvider.replace(/\/providers\/[^/]+$/, "")
        gcp.allowImpersonation(target.email, `principal://iam.googleapis.com/${pool}/subject/${subject}`)
        const src = yield* source("gcp-wi", {
          "a/secret.yaml": yield* gcpEncrypted(work, "a/secret.yaml", "wi-a", "wi-a-plaintext", keyId),
          "b/secret.yaml": yield* gcpEncrypted(work, "b/secret.yaml", "wi-b", "wi-b-plaintext", keyId),
        })
        yield* Effect.promise(() =>
          applyYaml(
            JSON.stringify({
              apiVersion: "v1",
              kind: "ServiceAccount",
              metadata: {
                name: "decrypter",
                namespace: ns,
                annotations: {
                  "gcp.auth.fluxcd.io/workload-identity-provider": poolProvider,
                  "iam.gke.io/gcp-service-account": target.email,
                },
              },
            }),
          ),
        )
        yield* Effect.promise(() => kubectl(["-n", ns, "create", "serviceaccount", "no-provider"]))
        const before = gcp.exchanges.length
        yield* kustomization("wi-a", src.name, "./a", { serviceAccountName: "decrypter" })
        yield* waitFor("kustomization", "wi-a", "Ready", isReady(src.revision))
        expect(yield* passwordOf("wi-a")).toBe("wi-a-plaintext")
        const exchanges = gcp.exchanges.slice(before)
        expect(exchanges).toHaveLength(1)
        expect(exchanges[0]!.audience).toBe(`//iam.googleapis.com/${poolProvider}`)
        expect(exchanges[0]!.subjectTokenAudience).toEqual([`//iam.googleapis.com/${poolProvider}`])
        expect(exchanges[0]!.subject).toBe(subject)
        expect(gcp.calls.generateAccessToken).toBe(1)

        // another file, another data key, the same ServiceAccount: the token comes from the cache
        yield* kustomization("wi-b", src.name, "./b", { serviceAccountName: "decrypter" })
        yield* waitFor("kustomization", "wi-b", "Ready", isReady(src.revision))
        expect(yield* passwordOf("wi-b")).toBe("wi-b-plaintext")
        expect(gcp.exchanges.length - before).toBe(1)
        expect(yield* tokenCacheEvent("cache_miss", "wi-a", "decrypt_with_gcp")).toBeDefined()
        expect(yield* tokenCacheEvent("cache_hit", "wi-b", "decrypt_with_gcp")).toBeDefined()

        // without the provider annotation: refused, naming the ServiceAccount and the annotation
        yield* kustomization("wi-none", src.name, "./a", { serviceAccountName: "no-provider" })
        const failed = yield* waitFor("kustomization", "wi-none", "BuildFailed", isFailed)
        expect(ready(failed)?.message).toContain(
          `failed to get provider audience from service account '${ns}/no-provider' annotations: the gcp.auth.fluxcd.io/workload-identity-provider annotation is required`,
        )
      }).pipe(Effect.scoped),
    180_000,
  )
})
