// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Flux variable syntax (${var}) is what these tests are about
// biome-ignore-all lint/suspicious/noExplicitAny: assertions reach into built objects of open shape
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { hasTool } from "../../../../e2e/support/tools.ts"
import type { KubeObject } from "../../kube/object.ts"
import type { BuildSpec } from "../build/spec.ts"
import { scratchParent } from "../build/workdir.ts"
import { Builder } from "./builder.ts"
import {
  builderLayer,
  buildTree,
  fetchStageUnpacker,
  packArtifact,
  scopedTempDir,
  secretData,
  serveFiles,
  writeTree,
} from "./testing/scenario.ts"

const cm = (name: string, data: Record<string, string> = { a: "1" }, extra = "") =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${extra}data:\n${Object.entries(data)
    .map(([k, v]) => `  ${k}: "${v}"`)
    .join("\n")}\n`

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: nginx:1.0
`

/** Builds `files` with `spec` (prepare may change the tree first). */
const build = (
  files: Record<string, string>,
  spec: BuildSpec,
  lookups: Parameters<typeof builderLayer>[0] = {},
  prepare?: (root: string) => void,
  options: Parameters<typeof builderLayer>[1] = {},
) => buildTree(files, spec, lookups, options, prepare)

const ids = (objects: ReadonlyArray<KubeObject>) =>
  objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`).sort()

const failure = (exit: Exit.Exit<unknown, unknown>) => {
  if (!Exit.isFailure(exit)) throw new Error("expected a failure")
  return String(exit.cause)
}

describe.skipIf(!hasTool("kustomize"))("Builder (real kustomize)", () => {
  it.effect(
    "generates a kustomization like Flux: manifests below the path, sub-kustomizations as directories",
    () =>
      Effect.gen(function* () {
        const exit = yield* build(
          {
            "apps/web/deploy.yaml": deployment,
            "apps/web/config/cm.yml": cm("settings"),
            "apps/web/base/kustomization.yaml": "resources: [cm.yaml]\n",
            "apps/web/base/cm.yaml": cm("from-base"),
            "apps/web/base/ignored.yaml": cm("not-listed"),
            "apps/web/README.md": "# not a manifest",
            "other/cm.yaml": cm("outside-path"),
          },
          { path: "./apps/web" },
        )
        const result = Exit.isSuccess(exit) ? exit.value : expect.fail(String(exit))
        expect(ids(result.objects)).toEqual([
          "ConfigMap//from-base",
          "ConfigMap//settings",
          "Deployment//web",
        ])
        expect(result.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
      }),
  )

  it.effect("enables kustomize buildMetadata from the spec", () =>
    Effect.gen(function* () {
      const exit = yield* build({ "cm.yaml": cm("x") }, { buildMetadata: ["originAnnotations"] })
      const result = Exit.isSuccess(exit) ? exit.value : expect.fail(String(exit))
      expect(result.objects[0]!.metadata.annotations?.["config.kubernetes.io/origin"]).toContain(
        "path: cm.yaml",
      )
    }),
  )

  it.effect("a YAML file that is not a Kubernetes manifest stops generation, naming the file", () =>
    Effect.gen(function* () {
      const exit = yield* build({ "cm.yaml": cm("x"), "values/values.yaml": "replicaCount: 2\n" }, {})
      expect(failure(exit)).toContain("failed to decode Kubernetes YAML from 'values/values.yaml'")
    }),
  )

  it.effect("applies targetNamespace, namePrefix/Suffix, patches, images and commonMetadata", () =>
    Effect.gen(function* () {
      const exit = yield* build(
        {
          "kustomization.yaml":
            "resources: [deploy.yaml, cm.yaml]\nimages:\n  - name: nginx\n    newTag: '1.1'\n",
          "deploy.yaml": deployment,
          "cm.yaml": cm("settings", { a: "1" }, "  labels:\n    team: old\n"),
        },
        {
          targetNamespace: "prod",
          namePrefix: "p-",
          nameSuffix: "-s",
          images: [{ name: "nginx", newName: "registry.local/nginx" }],
          patches: [
            {
              patch: "- op: replace\n  path: /spec/replicas\n  value: 3\n",
              target: { kind: "Deployment", name: "web" },
            },
          ],
          commonMetadata: { labels: { team: "platform" }, annotations: { owner: "ops" } },
        },
      )
      const result = Exit.isSuccess(exit) ? exit.value : expect.fail(String(exit))
      expect(ids(result.objects)).toEqual(["ConfigMap/prod/p-settings-s", "Deployment/prod/p-web-s"])
      const d = result.objects.find((o) => o.kind === "Deployment") as any
      expect(d.spec.replicas).toBe(3)
      // partial image entry completes the one in kustomization.yaml
      expect(d.spec.template.spec.containers[0].image).toBe("registry.local/nginx:1.1")
      const c = result.objects.find((o) => o.kind === "ConfigMap")!
      expect(c.metadata.labels).toEqual({ team: "platform" })
      expect(c.metadata.annotations).toEqual({ owner: "ops" })
      // commonMetadata does not touch selectors
      expect(d.spec.selector.matchLabels).toEqual({ app: "web" })
    }),
  )

  it.effect("adds spec.components, dropping missing ones only with ignoreMissingComponents", () =>
    Effect.gen(function* () {
      const files = {
        "app/kustomization.yaml": "resources: [cm.yaml]\n",
        "app/cm.yaml": cm("settings"),
        "components/extra/kustomization.yaml":
          "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [extra.yaml]\n",
        "components/extra/extra.yaml": cm("extra"),
      }
      const ok = yield* build(files, {
        path: "app",
        components: ["../components/extra", "../components/missing"],
        ignoreMissingComponents: true,
      })
      expect(ids(Exit.isSuccess(ok) ? ok.value.objects : expect.fail(String(ok)))).toEqual([
        "ConfigMap//extra",
        "ConfigMap//settings",
      ])
      const missing = yield* build(files, { path: "app", components: ["../components/missing"] })
      expect(failure(missing)).toContain(
        "'../components/missing' in 'app/kustomization.yaml' does not exist in the artifact",
      )
    }),
  )

  it.effect("a missing path is ArtifactFailed", () =>
    Effect.gen(function* () {
      const exit = yield* build({ "cm.yaml": cm("x") }, { path: "./nope" })
      const text = failure(exit)
      expect(text).toContain("ArtifactFailed")
      expect(text).toContain("kustomization path not found: ./nope")
    }),
  )

  // live clock: the fetch stage retries with real backoff
  it.live(
    "fetches the artifact through the fetch stage: digest verified, a 404 or a wrong digest is ArtifactFailed",
    () =>
      Effect.gen(function* () {
        const dir = yield* scopedTempDir()
        writeTree(path.join(dir, "repo"), { "cm.yaml": cm("over-http") })
        const artifact = packArtifact(path.join(dir, "repo"))
        const { url } = yield* serveFiles(new Map([["/artifact.tar.gz", artifact.url]]))
        const run = (ref: typeof artifact) =>
          Effect.exit(
            Effect.flatMap(Builder, (b) =>
              b.build({ namespace: "apps", name: "web", spec: {}, artifact: ref }),
            ).pipe(Effect.provide(builderLayer({}, { unpacker: fetchStageUnpacker }))),
          )
        const good = yield* run({ ...artifact, url: `${url}/artifact.tar.gz` })
        const missing = yield* run({ ...artifact, url: `${url}/gone.tar.gz` })
        const tampered = yield* run({
          ...artifact,
          url: `${url}/artifact.tar.gz`,
          digest: `sha256:${"0".repeat(64)}`,
        })
        expect(ids(Exit.isSuccess(good) ? good.value.objects : expect.fail(String(good)))).toEqual([
          "ConfigMap//over-http",
        ])
        expect(failure(missing)).toContain("ArtifactFailed")
        expect(failure(missing)).toContain("404")
        expect(failure(tampered)).toContain("ArtifactFailed")
        expect(failure(tampered)).toContain("digest mismatch")
      }).pipe(Effect.scoped),
  )

  it.effect("refuses a symlink escaping the artifact root before building", () =>
    Effect.gen(function* () {
      const exit = yield* build(
        { "kustomization.yaml": "resources: [cm.yaml, leak.yaml]\n", "cm.yaml": cm("x") },
        {},
        {},
        (root) => fs.symlinkSync("/etc/hostname", path.join(root, "leak.yaml")),
      )
      const text = failure(exit)
      expect(text).toContain("BuildFailed")
      expect(text).toContain("symlink 'leak.yaml' points outside the artifact root")
    }),
  )

  it.effect("refuses references that climb out of the root, and files over 5 MiB", () =>
    Effect.gen(function* () {
      const climbing = yield* build(
        { "app/kustomization.yaml": "resources: [../../../etc/passwd]\n" },
        { path: "app" },
      )
      expect(failure(climbing)).toContain(
        "'../../../etc/passwd' in 'app/kustomization.yaml' points outside the artifact root",
      )
      const big = yield* build(
        {
          "kustomization.yaml": "configMapGenerator:\n  - name: big\n    files: [blob.txt]\n",
          "blob.txt": "x".repeat(5 * 1024 * 1024 + 1),
        },
        {},
      )
      expect(failure(big)).toContain("file 'blob.txt' size (5242881 bytes) exceeds the limit (5242880 bytes)")
    }),
  )

  it.effect(
    "substitutes postBuild variables from inline values, ConfigMaps and Secrets, honouring the opt-out",
    () =>
      Effect.gen(function* () {
        const exit = yield* build(
          {
            "kustomization.yaml": "resources: [deploy.yaml, cm.yaml, raw.yaml]\n",
            "deploy.yaml": deployment
              .replace("replicas: 1", "replicas: ${replicas}")
              .replace("nginx:1.0", "nginx:${tag:=stable}"),
            "cm.yaml": cm("settings", {
              env: "${cluster}",
              token: "${token}",
              script: "echo $HOME $${cluster}",
            }),
            "raw.yaml": cm(
              "raw",
              { keep: "${cluster}" },
              "  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\n",
            ),
          },
          {
            postBuild: {
              substitute: { cluster: "prod" },
              substituteFrom: [
                { kind: "ConfigMap", name: "vars" },
                { kind: "Secret", name: "secret-vars" },
                { kind: "Secret", name: "absent", optional: true },
              ],
            },
          },
          {
            configMaps: [
              { namespace: "apps", name: "vars", data: { replicas: "2", cluster: "overridden-by-inline" } },
            ],
            secrets: [secretData("apps", "secret-vars", { token: "s3cr3t" })],
          },
        )
        const result = Exit.isSuccess(exit) ? exit.value : expect.fail(String(exit))
        const d = result.objects.find((o) => o.kind === "Deployment") as any
        expect(d.spec.replicas).toBe(2)
        expect(d.spec.template.spec.containers[0].image).toBe("nginx:stable")
        const settings = result.objects.find((o) => o.metadata.name === "settings") as any
        expect(settings.data).toEqual({ env: "prod", token: "s3cr3t", script: "echo $HOME ${cluster}" })
        const raw = result.objects.find((o) => o.metadata.name === "raw") as any
        expect(raw.data.keep).toBe("${cluster}")
      }),
  )

  it.effect("fails strict substitution on an undefined variable and on a missing substituteFrom object", () =>
    Effect.gen(function* () {
      const files = {
        "kustomization.yaml": "resources: [cm.yaml]\n",
        "cm.yaml": cm("settings", { env: "${undefined_var}" }),
      }
      const strict = yield* build(files, { postBuild: { substitute: { cluster: "prod" } } })
      expect(failure(strict)).toContain(
        "var substitution failed for 'ConfigMap/settings': variable not set (strict mode): 'undefined_var'",
      )
      const missing = yield* build(files, {
        postBuild: { substituteFrom: [{ kind: "ConfigMap", name: "vars" }] },
      })
      expect(failure(missing)).toContain(
        `substitute from 'ConfigMap/apps/vars' error: configmaps "vars" not found`,
      )
    }),
  )

  it.effect("refuses a Secret that is still encrypted when decryption is not configured", () =>
    Effect.gen(function* () {
      const secret = `apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: apps
stringData:
  password: ENC[AES256_GCM,data:abcd,iv:abcd,tag:abcd,type:str]
sops:
  mac: ENC[AES256_GCM,data:abcd,iv:abcd,tag:abcd,type:str]
  version: 3.13.3
`
      const exit = yield* build({ "secret.yaml": secret }, {})
      expect(failure(exit)).toContain(
        "Secret/apps/creds is SOPS encrypted, configuring decryption is required for this secret to be reconciled",
      )
    }),
  )

  it.effect("removes its private build directory whatever happened", () =>
    Effect.gen(function* () {
      const parent = yield* Effect.promise(() => scratchParent())
      const before = fs.readdirSync(parent).filter((n) => n.startsWith("kustodian-build-"))
      yield* build({ "cm.yaml": cm("x") }, {})
      yield* build({ "cm.yaml": cm("x") }, { path: "missing" })
      const after = fs.readdirSync(parent).filter((n) => n.startsWith("kustodian-build-"))
      expect(after.filter((n) => !before.includes(n))).toEqual([])
    }),
  )
})
