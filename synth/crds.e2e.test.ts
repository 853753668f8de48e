/**
 * The generated CRDs against a real kube-apiserver: they install, print Flux's columns, accept manifests written
 * for Flux with Flux's defaults, and reject invalid objects naming the field — the same field the TypeScript
 * decoder names.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { parseAllDocuments, stringify } from "yaml"
import { createTestNamespace, kubectl } from "../e2e/support/cluster.ts"
import { decodeGitRepository, decodeKustomization } from "../model/decode.ts"
import { crds } from "./crds.ts"

const root = join(import.meta.dirname, "..")
const seedDir = join(root, "model/testdata/seed-manifests")
const crdFiles = crds.map((c) => join(root, "crds", c.file))

type Obj = Record<string, unknown> & { metadata: Record<string, unknown>; spec?: Record<string, unknown> }

const seedDocs = (file: string): Array<Obj> =>
  parseAllDocuments(readFileSync(join(seedDir, file), "utf8")).map((d) => d.toJS() as Obj)

const run = (args: ReadonlyArray<string>, input?: string) =>
  Effect.promise(() => kubectl(args, input === undefined ? {} : { input }))

/** kubectl's error text when it fails, or a defect when it unexpectedly succeeds. */
const rejection = (args: ReadonlyArray<string>, input: string) =>
  Effect.tryPromise({ try: () => kubectl(args, { input }), catch: (e) => (e as Error).message }).pipe(
    Effect.flip,
  )

const json = (text: string) => JSON.parse(text) as Obj

const ks = (namespace: string, spec: Record<string, unknown>): Obj => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name: "apps", namespace },
  spec: { interval: "10m", prune: true, sourceRef: { kind: "GitRepository", name: "repo" }, ...spec },
})

const gitrepo = (namespace: string, spec: Record<string, unknown>): Obj => ({
  apiVersion: "source.toolkit.fluxcd.io/v1",
  kind: "GitRepository",
  metadata: { name: "repo", namespace },
  spec: { interval: "1m", url: "https://example.com/repo.git", ...spec },
})

const without = (o: Obj, field: string): Obj => {
  const { [field]: _, ...spec } = o.spec ?? {}
  return { ...o, spec }
}

let ns = ""

beforeAll(async () => {
  await kubectl([
    "apply",
    "--server-side",
    "--field-manager=kustodian-e2e",
    ...crdFiles.flatMap((f) => ["-f", f]),
  ])
  await kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    ...crds.map((c) => `crd/${(c.manifest.metadata as { name: string }).name}`),
  ])
  ns = await createTestNamespace("crds")
  // The seed manifests name flux-system; create it when this is the first test to need it.
  await kubectl(["apply", "--server-side", "--field-manager=kustodian-e2e", "-f", "-"], {
    input: stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "flux-system" } }),
  })
})

describe("CRDs on a real API server", () => {
  it.effect("are Established with Flux's names", () =>
    Effect.gen(function* () {
      for (const crd of crds) {
        const name = (crd.manifest.metadata as { name: string }).name
        const live = json(yield* run(["get", `crd/${name}`, "-o", "json"]))
        const status = live.status as { conditions: Array<{ type: string; status: string }> }
        expect(status.conditions.find((c) => c.type === "Established")?.status).toBe("True")
        expect(status.conditions.find((c) => c.type === "NamesAccepted")?.status).toBe("True")
      }
      const resources = yield* run(["api-resources", "--api-group=kustomize.toolkit.fluxcd.io", "-o", "wide"])
      expect(resources).toMatch(
        /kustomizations\s+ks\s+kustomize\.toolkit\.fluxcd\.io\/v1\s+true\s+Kustomization/,
      )
      const sources = yield* run(["api-resources", "--api-group=source.toolkit.fluxcd.io"])
      expect(sources).toMatch(
        /gitrepositories\s+gitrepo\s+source\.toolkit\.fluxcd\.io\/v1\s+true\s+GitRepository/,
      )
    }),
  )

  it.effect("accept the seed manifests as they are, with Flux's defaults filled in", () =>
    Effect.gen(function* () {
      for (const file of ["gitrepository.yaml", "kustomization.yaml", "flux-create-export.yaml"]) {
        const text = readFileSync(join(seedDir, file), "utf8")
        // Exactly as written (namespace flux-system), validated and defaulted by the server without storing.
        const dry = yield* run(["create", "--dry-run=server", "-o", "json", "-f", "-"], text)
        const items = dry.trimStart().startsWith('{"kind":"List"')
          ? (json(dry).items as Array<Obj>)
          : undefined
        const objects = items ?? parseAllDocuments(dry).map((d) => d.toJS() as Obj)
        for (const o of objects) expect(o.status, file).toEqual({ observedGeneration: -1 })
      }
      // And stored for real, then read back (in a namespace of this test, so runs never collide).
      for (const file of ["gitrepository.yaml", "kustomization.yaml"]) {
        const [doc] = seedDocs(file)
        const name = `seed-${file.replace(".yaml", "")}`
        const object = { ...doc, metadata: { ...doc!.metadata, name, namespace: ns } }
        yield* run(["create", "-f", "-"], stringify(object))
        const live = json(yield* run(["get", String(doc!.kind).toLowerCase(), name, "-n", ns, "-o", "json"]))
        expect(live.spec).toEqual(
          doc!.kind === "GitRepository" ? { ...doc!.spec, timeout: "60s" } : { ...doc!.spec, force: false },
        )
        expect(live.status).toEqual({ observedGeneration: -1 })
        // What the server stored decodes with the model, to the same defaults.
        const decoded =
          doc!.kind === "GitRepository" ? yield* decodeGitRepository(live) : yield* decodeKustomization(live)
        expect(decoded.spec).toEqual(live.spec)
      }
    }),
  )

  it.effect("`kubectl get ks,gitrepo` prints Flux's columns", () =>
    Effect.gen(function* () {
      yield* run(["create", "-f", "-"], [ks(ns, {}), gitrepo(ns, {})].map((o) => stringify(o)).join("---\n"))
      const ready = {
        status: {
          conditions: [
            {
              type: "Ready",
              status: "True",
              reason: "Succeeded",
              message: "Applied revision: main@sha1:0123456789abcdef0123456789abcdef01234567",
              lastTransitionTime: "2026-11-27T12:00:00Z",
              observedGeneration: 1,
            },
          ],
        },
      }
      for (const target of ["kustomization/apps", "gitrepository/repo"]) {
        yield* run([
          "patch",
          target,
          "-n",
          ns,
          "--subresource=status",
          "--type=merge",
          "-p",
          JSON.stringify(ready),
        ])
      }
      const table = yield* run(["get", "ks,gitrepo", "-n", ns])
      const lines = table.split("\n").filter((l) => l.trim() !== "")
      expect(lines).toContainEqual(expect.stringMatching(/^NAME\s+AGE\s+READY\s+STATUS$/))
      expect(lines).toContainEqual(expect.stringMatching(/^NAME\s+URL\s+AGE\s+READY\s+STATUS$/))
      expect(lines).toContainEqual(
        expect.stringMatching(
          /^kustomization\.kustomize\.toolkit\.fluxcd\.io\/apps\s+\S+\s+True\s+Applied revision: main@sha1:/,
        ),
      )
      expect(lines).toContainEqual(
        expect.stringMatching(
          /^gitrepository\.source\.toolkit\.fluxcd\.io\/repo\s+https:\/\/example\.com\/repo\.git\s+\S+\s+True\s+Applied/,
        ),
      )
    }),
  )

  // Each invalid object, the field the API server must name, and the decoder's path for the same field.
  const invalid: ReadonlyArray<{
    readonly what: string
    readonly object: (ns: string) => Obj
    readonly field: string
  }> = [
    {
      what: "bad interval duration",
      object: (n) => ks(n, { interval: "10 minutes" }),
      field: "spec.interval",
    },
    { what: "bad retryInterval", object: (n) => ks(n, { retryInterval: "1d" }), field: "spec.retryInterval" },
    {
      what: "unknown decryption.provider",
      object: (n) => ks(n, { decryption: { provider: "vault" } }),
      field: "spec.decryption.provider",
    },
    { what: "missing sourceRef", object: (n) => without(ks(n, {}), "sourceRef"), field: "spec.sourceRef" },
    { what: "missing prune", object: (n) => without(ks(n, {}), "prune"), field: "spec.prune" },
    {
      what: "unknown sourceRef.kind",
      object: (n) => ks(n, { sourceRef: { kind: "HelmRepository", name: "x" } }),
      field: "spec.sourceRef.kind",
    },
    {
      what: "targetNamespace too long",
      object: (n) => ks(n, { targetNamespace: "n".repeat(64) }),
      field: "spec.targetNamespace",
    },
    { what: "empty namePrefix", object: (n) => ks(n, { namePrefix: "" }), field: "spec.namePrefix" },
    {
      what: "unknown deletionPolicy",
      object: (n) => ks(n, { deletionPolicy: "Never" }),
      field: "spec.deletionPolicy",
    },
    {
      what: "substituteFrom with an empty name",
      object: (n) => ks(n, { postBuild: { substituteFrom: [{ kind: "Secret", name: "" }] } }),
      field: "spec.postBuild.substituteFrom[0].name",
    },
    {
      what: "kubeConfig with both secretRef and configMapRef",
      object: (n) => ks(n, { kubeConfig: { secretRef: { name: "a" }, configMapRef: { name: "b" } } }),
      field: "spec.kubeConfig",
    },
    {
      what: "url scheme not allowed (scp-style)",
      object: (n) => gitrepo(n, { url: "git@github.com:org/repo.git" }),
      field: "spec.url",
    },
    {
      what: "url scheme not allowed (ftp)",
      object: (n) => gitrepo(n, { url: "ftp://example.com/r" }),
      field: "spec.url",
    },
    { what: "git timeout in hours", object: (n) => gitrepo(n, { timeout: "1h" }), field: "spec.timeout" },
    {
      what: "unknown provider",
      object: (n) => gitrepo(n, { provider: "gitlab" }),
      field: "spec.provider",
    },
    {
      what: "unknown verify.mode",
      object: (n) => gitrepo(n, { verify: { mode: "Commit", secretRef: { name: "keys" } } }),
      field: "spec.verify.mode",
    },
    { what: "missing url", object: (n) => without(gitrepo(n, {}), "url"), field: "spec.url" },
    {
      what: "serviceAccountName with the generic provider",
      object: (n) => gitrepo(n, { serviceAccountName: "sa" }),
      field: "spec",
    },
  ]

  for (const row of invalid) {
    it.effect(`rejects ${row.what}, naming ${row.field}`, () =>
      Effect.gen(function* () {
        const object = row.object(ns)
        const message = yield* rejection(["create", "--dry-run=server", "-f", "-"], stringify(object))
        expect(message).toContain(`${row.field}:`)
        expect(message).toMatch(/is invalid|Invalid value|Required value|Unsupported value|Too long|should/)
        const decoded =
          object.kind === "Kustomization"
            ? yield* Effect.flip(decodeKustomization(object))
            : yield* Effect.flip(decodeGitRepository(object))
        const paths = decoded.issues.map((i) => i.path)
        expect(
          paths.some((p) => p === row.field || p.startsWith(`${row.field}.`) || row.field.startsWith(p)),
        ).toBe(true)
      }),
    )
  }
})
