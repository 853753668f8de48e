/**
 * Azure Key Vault in the cluster: `kustodian controller` as its own process against the test control plane, our
 * local server of Key Vault's and Entra's wire protocols (e2e/support/azure-kv-server.ts; the controller's
 * environment names its authority host and CA, and holds no Azure credential), and files the real sops
 * encrypted with `--azure-kv`:
 * - a client secret in the decryption Secret's `sops.azure-kv` (Flux's format): Ready and the Secret
 *   decrypted; `clientId` alone (managed identity, App Service's endpoint of the local server); a wrong secret: BuildFailed naming the file, the key and Entra's code, never the secret;
 * - `spec.decryption.serviceAccountName` (ObjectLevelWorkloadIdentity): a TokenRequest with the audience
 *   api://AzureADTokenExchange for the ServiceAccount of the `azure.workload.identity/{tenant,client}-id`
 *   annotations, exchanged at the token endpoint as a federated client assertion (verified there against the
 *   API server's JWKS), the access token cached (`gotk_token_cache_events_total`), and a ServiceAccount
 *   without the annotations refused with Flux's message.
 */
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { type AzureKvServer, azureKvServer } from "./support/azure-kv-server.ts"
import {
  applyYaml,
  createTestNamespace,
  installFluxCrds,
  kubectl,
  runKubectl,
  testKubeconfigPath,
} from "./support/cluster.ts"
import { type GitHttpServer, gitHttpServer } from "./support/git-server.ts"
import { type OperatorProcess, operatorProcess } from "./support/operator-process.ts"
import { providerTestbed } from "./support/provider-testbed.ts"
import { scratchDir, secretManifest, sopsEncryptInPlace } from "./support/seed.ts"

let ns = ""
let server: GitHttpServer
let kv: AzureKvServer
let operator: OperatorProcess
const scope = Effect.runSync(Scope.make())

beforeAll(async () => {
  await installFluxCrds()
  ns = await createTestNamespace("azure-kv")
  server = await Effect.runPromise(Scope.provide(scope)(gitHttpServer()))
  kv = await Effect.runPromise(Scope.provide(scope)(azureKvServer()))
  operator = await Effect.runPromise(
    Scope.provide(scope)(
      operatorProcess({
        kubeconfig: testKubeconfigPath(),
        namespace: ns,
        flags: ["--feature-gates=ObjectLevelWorkloadIdentity=true"],
        env: {
          AZURE_AUTHORITY_HOST: kv.authorityHost,
          SSL_CERT_FILE: kv.caFile,
          // nothing to authenticate with but what the cluster provides
          AZURE_TENANT_ID: "",
          AZURE_CLIENT_ID: "",
          AZURE_CLIENT_SECRET: "",
          AZURE_FEDERATED_TOKEN_FILE: "",
          // App Service's managed-identity endpoint, for the `clientId`-only format
          IDENTITY_ENDPOINT: kv.managedIdentity.endpoint,
          IDENTITY_HEADER: kv.managedIdentity.header,
        },
      }),
    ),
  )
}, 300_000)

afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), 60_000)

const { ready, waitFor, isReady, isFailed, source, kustomization, passwordOf, tokenCacheEvent } =
  providerTestbed(() => ({
    ns,
    server,
    operator,
  }))

/** A Secret manifest encrypted by the real sops with `--azure-kv url`, its data only. */
const azureEncrypted = (work: string, file: string, name: string, password: string, url: string) =>
  Effect.promise(async () =>
    sopsEncryptInPlace(
      join(work, file),
      await secretManifest(ns, name, { password }),
      ["--azure-kv", url, "--encrypted-regex", "^(data|stringData)$"],
      {
        AZURE_TENANT_ID: kv.tenantId,
        AZURE_CLIENT_ID: kv.clientId,
        AZURE_CLIENT_SECRET: kv.clientSecret,
        AZURE_AUTHORITY_HOST: kv.authorityHost,
        SSL_CERT_FILE: kv.caFile,
        HTTPS_PROXY: kv.proxyUrl,
      },
    ),
  )

describe("Azure Key Vault decryption in the cluster (the local Key Vault server)", () => {
  it.live(
    "a client secret in sops.azure-kv decrypts sops' --azure-kv files; a wrong one names file, key and code",
    () =>
      Effect.gen(function* () {
        const work = yield* scratchDir("kustodian-azkv-")
        const kid = kv.createKey("cluster-key")
        const src = yield* source("azkv-static", {
          "good/secret.yaml": yield* azureEncrypted(
            work,
            "good/secret.yaml",
            "azkv-secret",
            "azkv-plaintext",
            kid,
          ),
          "mi/secret.yaml": yield* azureEncrypted(
            work,
            "mi/secret.yaml",
            "azkv-mi",
            "azkv-mi-plaintext",
            kid,
          ),
        })
        const config = (secret: string) =>
          JSON.stringify({ tenantId: kv.tenantId, clientId: kv.clientId, clientSecret: secret })
        yield* Effect.promise(() =>
          kubectl([
            "-n",
            ns,
            "create",
            "secret",
            "generic",
            "azure-keys",
            `--from-literal=sops.azure-kv=${config(kv.clientSecret)}`,
          ]),
        )
        yield* kustomization("azkv-static", src.name, "./good", { secretRef: { name: "azure-keys" } })
        yield* waitFor("kustomization", "azkv-static", "Ready", isReady(src.revision))
        expect(yield* passwordOf("azkv-secret")).toBe("azkv-plaintext")

        // Flux's managed-identity format: clientId alone
        yield* Effect.promise(() =>
          kubectl([
            "-n",
            ns,
            "create",
            "secret",
            "generic",
            "azure-mi",
            `--from-literal=sops.azure-kv=clientId: ${kv.managedIdentity.clientId}\n`,
          ]),
        )
        yield* kustomization("azkv-mi", src.name, "./mi", { secretRef: { name: "azure-mi" } })
        yield* waitFor("kustomization", "azkv-mi", "Ready", isReady(src.revision))
        expect(yield* passwordOf("azkv-mi")).toBe("azkv-mi-plaintext")
        expect(kv.counts.msi).toBeGreaterThanOrEqual(1)

        const wrong = "wrong-azure-client-secret-7"
        yield* Effect.promise(() =>
          kubectl([
            "-n",
            ns,
            "create",
            "secret",
            "generic",
            "azure-wrong",
            `--from-literal=sops.azure-kv=${config(wrong)}`,
          ]),
        )
        yield* kustomization("azkv-wrong", src.name, "./good", { secretRef: { name: "azure-wrong" } })
        const failed = yield* waitFor("kustomization", "azkv-wrong", "BuildFailed", isFailed)
        const message = ready(failed)?.message ?? ""
        expect(message).toContain("secret.yaml")
        expect(message).toContain(kid)
        expect(message).toContain("AADSTS7000215")
        expect(message).not.toContain(wrong)
        expect(message).not.toContain(kv.clientSecret)
        expect(message).not.toContain("azkv-plaintext")
      }).pipe(Effect.scoped),
    180_000,
  )

  it.live(
    "spec.decryption.serviceAccountName: TokenRequest (aud api://AzureADTokenExchange) → client assertion, cached",
    () =>
      Effect.gen(function* () {
        const work = yield* scratchDir("kustodian-azkv-wi-")
        const kid = kv.createKey("wi-key")
        const src = yield* source("azkv-wi", {
          "a/secret.yaml": yield* azureEncrypted(work, "a/secret.yaml", "azwi-a", "azwi-a-plaintext", kid),
          "b/secret.yaml": yield* azureEncrypted(work, "b/secret.yaml", "azwi-b", "azwi-b-plaintext", kid),
        })
        // Entra trusts the API server's ServiceAccount tokens for this app (a federated identity credential)
        const discovery = JSON.parse(
          (yield* Effect.promise(() => runKubectl(["get", "--raw", "/.well-known/openid-configuration"])))
            .stdout,
        ) as { issuer: string }
        const jwks = JSON.parse(
          (yield* Effect.promise(() => runKubectl(["get", "--raw", "/openid/v1/jwks"]))).stdout,
        ).keys as ReadonlyArray<Record<string, unknown>>
        const clientId = kv.addFederatedClient({
          issuer: discovery.issuer,
          subject: `system:serviceaccount:${ns}:az-decrypter`,
          jwks,
        })
        yield* Effect.promise(() =>
          applyYaml(
            JSON.stringify({
              apiVersion: "v1",
              kind: "ServiceAccount",
              metadata: {
                name: "az-decrypter",
                namespace: ns,
                annotations: {
                  "azure.workload.identity/client-id": clientId,
                  "azure.workload.identity/tenant-id": kv.tenantId,
                },
              },
            }),
          ),
        )
        yield* Effect.promise(() => kubectl(["-n", ns, "create", "serviceaccount", "az-plain"]))
        const exchanges = () =>
          kv.tokenRequests.filter((t) => t.clientId === clientId && t.status === 200).length
        yield* kustomization("azwi-a", src.name, "./a", { serviceAccountName: "az-decrypter" })
        yield* waitFor("kustomization", "azwi-a", "Ready", isReady(src.revision))
        expect(yield* passwordOf("azwi-a")).toBe("azwi-a-plaintext")
        expect(exchanges()).toBe(1)

        // another file, another data key, same ServiceAccount: the access token comes from the token cache
        yield* kustomization("azwi-b", src.name, "./b", { serviceAccountName: "az-decrypter" })
        yield* waitFor("kustomization", "azwi-b", "Ready", isReady(src.revision))
        expect(yield* passwordOf("azwi-b")).toBe("azwi-b-plaintext")
        expect(exchanges()).toBe(1)
        expect(yield* tokenCacheEvent("cache_miss", "azwi-a", "decrypt_with_azure")).toBeDefined()
        expect(yield* tokenCacheEvent("cache_hit", "azwi-b", "decrypt_with_azure")).toBeDefined()

        // without the annotations: Flux's message, naming the ServiceAccount and the annotation
        yield* kustomization("azwi-none", src.name, "./a", { serviceAccountName: "az-plain" })
        const failed = yield* waitFor("kustomization", "azwi-none", "BuildFailed", isFailed)
        expect(ready(failed)?.message).toContain(
          `failed to get provider identity from service account '${ns}/az-plain' annotations: azure tenant ID is not set in the service account annotation azure.workload.identity/tenant-id`,
        )
      }).pipe(Effect.scoped),
    180_000,
  )
})
