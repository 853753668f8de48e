import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { parseAllDocuments } from "yaml"
import { decodeGitRepository, decodeKustomization, ModelDecodeError } from "./decode.ts"
import { deletesOnDeletion, retryIntervalMillis, timeoutMillis } from "./kustomization.ts"

const seed = (file: string): Array<Record<string, unknown>> =>
  parseAllDocuments(readFileSync(join(import.meta.dirname, "testdata/seed-manifests", file), "utf8")).map(
    (d) => d.toJS() as Record<string, unknown>,
  )

const ks = (spec: Record<string, unknown>) => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name: "apps", namespace: "flux-system" },
  spec: { interval: "10m", prune: true, sourceRef: { kind: "GitRepository", name: "repo" }, ...spec },
})

const gitrepo = (spec: Record<string, unknown>) => ({
  apiVersion: "source.toolkit.fluxcd.io/v1",
  kind: "GitRepository",
  metadata: { name: "repo", namespace: "flux-system" },
  spec: { interval: "1m", url: "https://example.com/repo.git", ...spec },
})

describe("decoding Flux manifests", () => {
  it.effect("decodes the seed GitRepository with Flux's defaults", () =>
    Effect.gen(function* () {
      const [doc] = seed("gitrepository.yaml")
      const repo = yield* decodeGitRepository(doc)
      expect(repo.spec.url).toBe("https://github.com/my-org/my-secrets")
      expect(repo.spec.timeout).toBe("60s")
      expect(repo.status).toEqual({ observedGeneration: -1 })
    }),
  )

  it.effect("decodes the seed Kustomization with Flux's defaults", () =>
    Effect.gen(function* () {
      const [doc] = seed("kustomization.yaml")
      const k = yield* decodeKustomization(doc)
      expect(k.spec.decryption).toEqual({ provider: "sops", secretRef: { name: "sops-gpg" } })
      expect(k.spec.force).toBe(false)
      expect(timeoutMillis(k.spec)).toBe(570_000)
      expect(retryIntervalMillis(k.spec)).toBe(600_000)
      expect(deletesOnDeletion(k.spec)).toBe(true)
    }),
  )

  it.effect("decodes what `flux create … --export` prints", () =>
    Effect.gen(function* () {
      const [repo, kustomization] = seed("flux-create-export.yaml")
      expect((yield* decodeGitRepository(repo)).spec.ref).toEqual({ branch: "main" })
      expect((yield* decodeKustomization(kustomization)).spec.path).toBe("./clusters/cluster0")
    }),
  )

  it.effect("names the object and every invalid field", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        decodeKustomization(
          ks({ interval: "10 minutes", decryption: { provider: "vault" }, targetNamespace: "x".repeat(64) }),
        ),
      )
      expect(error).toBeInstanceOf(ModelDecodeError)
      expect(error.object).toBe("flux-system/apps")
      expect(error.issues.map((i) => i.path).sort()).toEqual([
        "spec.decryption.provider",
        "spec.interval",
        "spec.targetNamespace",
      ])
      expect(error.message).toMatch(/^invalid Kustomization 'flux-system\/apps': /)
    }),
  )

  it.effect("reports missing required fields with their path", () =>
    Effect.gen(function* () {
      const { sourceRef: _, ...noSource } = ks({}).spec
      const error = yield* Effect.flip(decodeKustomization({ ...ks({}), spec: noSource }))
      expect(error.issues).toEqual([{ path: "spec.sourceRef", message: "Missing key" }])
    }),
  )

  it.effect("indexes list items in paths", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(decodeKustomization(ks({ patches: [{ patch: "a" }, { target: {} }] })))
      expect(error.issues.map((i) => i.path)).toEqual(["spec.patches[1].patch"])
    }),
  )

  it.effect("enforces the CEL rules in TypeScript too", () =>
    Effect.gen(function* () {
      const kube = yield* Effect.flip(
        decodeKustomization(ks({ kubeConfig: { secretRef: { name: "a" }, configMapRef: { name: "b" } } })),
      )
      expect(kube.issues[0]?.path).toBe("spec.kubeConfig")
      const sa = yield* Effect.flip(decodeGitRepository(gitrepo({ serviceAccountName: "sa" })))
      expect(sa.message).toContain("serviceAccountName can only be set when provider is 'azure' or 'aws'")
      yield* decodeGitRepository(gitrepo({ serviceAccountName: "sa", provider: "azure" }))
    }),
  )

  it.effect("rejects scp-style git URLs as Flux does", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(decodeGitRepository(gitrepo({ url: "git@github.com:org/repo.git" })))
      expect(error.issues.map((i) => i.path)).toEqual(["spec.url"])
    }),
  )

  it.effect("never quotes field values in the message", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        decodeKustomization(ks({ postBuild: { substitute: { password: 42 } }, namePrefix: "" })),
      )
      expect(error.message).not.toContain("42")
      expect(error.issues.map((i) => i.path).sort()).toEqual([
        "spec.namePrefix",
        "spec.postBuild.substitute.password",
      ])
    }),
  )
})
