// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Flux variable syntax (${var}) is what these tests are about
// biome-ignore-all lint/suspicious/noExplicitAny: assertions reach into built objects of open shape
/**
 * The build reading its decryption Secret and substituteFrom objects from a real API server.
 */
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { CoreV1Api } from "@kubernetes/client-node"
import { Effect, Exit, Layer } from "effect"
import { testKubeConfig, testKubeconfigPath, testNamespace } from "../../../../e2e/support/cluster.ts"
import { hasTool } from "../../../../e2e/support/tools.ts"
import { KubeClient } from "../../kube/client.ts"
import { ConfigLookup } from "../build/config-lookup.ts"
import { Decryptor } from "../decrypt/decryptor.ts"
import { Builder } from "./builder.ts"
import {
  ageKey,
  builderLayerWith,
  localArtifact,
  scopedTempDir,
  sopsEncrypt,
  writeTree,
} from "./testing/scenario.ts"

const ready = hasTool("sops") && hasTool("kustomize") && hasTool("age-keygen")

describe.skipIf(!ready)("build with Secrets and ConfigMaps from the API server", () => {
  it.effect(
    "decrypts with the namespace's decryption Secret, substitutes from its ConfigMap, and re-keys the cache when the Secret changes",
    () =>
      Effect.gen(function* () {
        const namespace = yield* testNamespace("build-lookup")
        const core = testKubeConfig().makeApiClient(CoreV1Api)
        const key = ageKey()
        yield* Effect.promise(() =>
          core.createNamespacedSecret({
            namespace,
            body: { metadata: { name: "sops-keys" }, stringData: { "identity.agekey": key.identity } },
          }),
        )
        yield* Effect.promise(() =>
          core.createNamespacedConfigMap({
            namespace,
            body: { metadata: { name: "vars" }, data: { cluster: "e2e" } },
          }),
        )
        const dir = yield* scopedTempDir()
        const root = path.join(dir, "repo")
        writeTree(root, {
          "secret.yaml":
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  labels:\n    cluster: ${cluster}\nstringData:\n  password: from-cluster\n",
        })
        sopsEncrypt(path.join(root, "secret.yaml"), {
          age: [key.recipient],
          encryptedRegex: "^(data|stringData)$",
        })
        const artifact = localArtifact(root)
        const spec = {
          decryption: { provider: "sops" as const, secretRef: { name: "sops-keys" } },
          postBuild: { substituteFrom: [{ kind: "ConfigMap" as const, name: "vars" }] },
        }
        const layer = builderLayerWith(
          ConfigLookup.layerKube.pipe(
            Layer.provide(KubeClient.layer({ _tag: "File", path: testKubeconfigPath() })),
          ),
        )
        const out = yield* Effect.gen(function* () {
          const builder = yield* Builder
          const cache = (yield* Decryptor).cache
          const first = yield* builder.build({ namespace, name: "app", spec, artifact })
          // A changed Secret (new resourceVersion) must not reuse data keys opened with its old content.
          yield* Effect.promise(() =>
            core.patchNamespacedSecret({
              namespace,
              name: "sops-keys",
              body: [{ op: "add", path: "/metadata/labels", value: { rotated: "yes" } }],
            }),
          )
          yield* builder.build({ namespace, name: "app", spec, artifact })
          const missing = yield* Effect.exit(
            builder.build({
              namespace,
              name: "app",
              spec: { ...spec, decryption: { provider: "sops", secretRef: { name: "absent" } } },
              artifact,
            }),
          )
          return { first, stats: cache.stats(), missing }
        }).pipe(Effect.provide(layer))
        const creds = out.first.objects[0] as any
        expect(creds.stringData).toEqual({ password: "from-cluster" })
        expect(creds.metadata.labels).toEqual({ cluster: "e2e" })
        expect(out.stats).toEqual({ hits: 0, misses: 2 })
        expect(Exit.isFailure(out.missing) && String(out.missing.cause)).toContain(
          `cannot get sops decryption Secret '${namespace}/absent': secrets "absent" not found`,
        )
      }).pipe(Effect.scoped),
  )
})
