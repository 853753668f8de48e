/**
 * `spec.ignore` against Flux's real kustomize-controller (v1.9.x, the release that added it): the same repository,
 * the same Kustomization and the same foreign writes — an HPA through the scale subresource, a webhook-like
 * `Update` of an annotation, an autoscaler applying server-side — go to Flux's controllers in one namespace and to
 * Kustodian in another, and the cluster must end up the same: which values are kept, which reverted, and who owns
 * them. Needs Flux's controllers (`bash scripts/tools.sh flux`); skipped without them.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { applyYaml, createTestNamespace, kubectl, runKubectl, testKubeconfigPath } from "./support/cluster.ts"
import { eventually } from "./support/eventually.ts"
import { fluxControllers, installCrdsForFlux } from "./support/flux-controllers.ts"
import { commitFiles, createBareRepo, gitHttpServer } from "./support/git-server.ts"
import type { Obj } from "./support/kube-objects.ts"
import { operatorProcess } from "./support/operator-process.ts"
import { hasTool } from "./support/tools.ts"

const haveFlux = hasTool("source-controller") && hasTool("kustomize-controller")

const deployments = (ns: string, image: string) =>
  ["web", "api", "svc"]
    .map(
      (name) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${ns}
  labels: { app: ${name} }
  annotations: { example.com/hash: git }
spec:
  replicas: 1
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      containers: [{ name: app, image: "${image}" }]
`,
    )
    .join("---\n")

/** Rules touching all three Deployments differently: a regex target, a label selector, none for `api`. */
const ignore = [
  { paths: ["/spec/replicas"], target: { kind: "Deployment", name: "web|svc" } },
  { paths: ["/metadata/annotations/example.com~1hash"], target: { labelSelector: "app in (web)" } },
]

/** What the test compares between the two controllers, per Deployment. */
const observe = (ns: string) =>
  Effect.promise(async () => {
    const out = await kubectl(["-n", ns, "get", "deployments", "-o", "json", "--show-managed-fields"])
    const items = (JSON.parse(out) as { items: Array<Obj> }).items
    return Object.fromEntries(
      items.map((d) => {
        const ours = (d.metadata.managedFields ?? []).find(
          (m: { manager: string; operation: string }) =>
            m.manager === "kustomize-controller" && m.operation === "Apply",
        ) as { fieldsV1?: unknown } | undefined
        const spec = d.spec as {
          replicas: number
          template: { spec: { containers: Array<{ image: string }> } }
        }
        return [
          d.metadata.name,
          {
            replicas: spec.replicas,
            image: spec.template.spec.containers[0]?.image,
            hash: d.metadata.annotations?.["example.com/hash"],
            ownsReplicas: JSON.stringify(ours?.fieldsV1 ?? {}).includes('"f:replicas"'),
          },
        ]
      }),
    )
  })

const kustomizationOf = (ns: string) =>
  Effect.promise(async (): Promise<Obj | undefined> => {
    const r = await runKubectl(["-n", ns, "get", "kustomization", "app", "-o", "json"])
    return r.code === 0 ? (JSON.parse(r.stdout) as Obj) : undefined
  })

const waitKustomization = (ns: string, what: string, ok: (o: Obj) => boolean) =>
  eventually(
    `${ns}/kustomization/app: ${what}`,
    Effect.map(kustomizationOf(ns), (o) => Option.fromNullishOr(o !== undefined && ok(o) ? o : undefined)),
    120_000,
    300,
  )

const readyAt = (revision: string) => (o: Obj) =>
  o.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true &&
  o.status?.lastAppliedRevision === revision

describe.skipIf(!haveFlux)("spec.ignore: Kustodian and Flux's kustomize-controller", () => {
  it.live(
    "keep, revert, strip and adopt the same fields",
    () =>
      Effect.gen(function* () {
        yield* Effect.promise(() => installCrdsForFlux())
        const work = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(join(tmpdir(), "ignore-parity-"))),
          (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
        )
        const server = yield* gitHttpServer()
        const peers = {
          flux: yield* Effect.promise(() => createTestNamespace("ignore-flux")),
          kustodian: yield* Effect.promise(() => createTestNamespace("ignore-kustodian")),
        }
        yield* fluxControllers({
          kubeconfig: testKubeconfigPath(),
          tmpdir: work,
          logDir: work,
          concurrent: 2,
          namespace: peers.flux,
        })
        yield* operatorProcess({ kubeconfig: testKubeconfigPath(), namespace: peers.kustodian })

        // One repository per namespace with the same content, a GitRepository and the Kustomization.
        const repos = yield* Effect.forEach(Object.values(peers), (ns) =>
          Effect.promise(async () => {
            const bare = await createBareRepo(server.reposDir, ns)
            const first = await commitFiles(bare, { "deploy.yaml": deployments(ns, "app:1") })
            await applyYaml(
              [
                {
                  apiVersion: "source.toolkit.fluxcd.io/v1",
                  kind: "GitRepository",
                  metadata: { name: "app", namespace: ns },
                  spec: { interval: "1h", ref: { branch: "main" }, url: server.repoUrl(ns) },
                },
                {
                  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
                  kind: "Kustomization",
                  metadata: { name: "app", namespace: ns },
                  spec: {
                    interval: "1h",
                    prune: true,
                    path: "./",
                    sourceRef: { kind: "GitRepository", name: "app" },
                    ignore,
                  },
                },
              ]
                .map((o) => JSON.stringify(o))
                .join("\n---\n"),
            )
            return { ns, bare, revision: `main@sha1:${first}` }
          }),
        )
        yield* Effect.forEach(repos, (r) => waitKustomization(r.ns, "Ready", readyAt(r.revision)), {
          concurrency: "unbounded",
        })

        // Foreign writers, identical in both namespaces.
        for (const { ns } of repos) {
          yield* Effect.promise(() =>
            kubectl(["-n", ns, "scale", "deployment", "web", "api", "--replicas=3"]),
          )
          yield* Effect.promise(() =>
            kubectl([
              "-n",
              ns,
              "annotate",
              "--overwrite",
              "deployment",
              "web",
              "api",
              "example.com/hash=mutated",
            ]),
          )
          yield* Effect.promise(() =>
            kubectl(
              ["apply", "--server-side", "--force-conflicts", "--field-manager=autoscaler", "-f", "-"],
              {
                input: JSON.stringify({
                  apiVersion: "apps/v1",
                  kind: "Deployment",
                  metadata: { name: "svc", namespace: ns },
                  spec: { replicas: 4 },
                }),
              },
            ),
          )
        }
        // Same revision, reconciled again: drift of what is not ignored is reverted.
        const requested = new Date().toISOString()
        yield* Effect.forEach(
          repos,
          (r) =>
            Effect.promise(() =>
              kubectl([
                "-n",
                r.ns,
                "annotate",
                "--overwrite",
                "kustomization",
                "app",
                `reconcile.fluxcd.io/requestedAt=${requested}`,
              ]),
            ).pipe(
              Effect.andThen(
                waitKustomization(
                  r.ns,
                  "reconciled on request",
                  (o) => o.status?.lastHandledReconcileAt === requested && readyAt(r.revision)(o),
                ),
              ),
            ),
          { concurrency: "unbounded" },
        )
        const reconciled = yield* Effect.forEach(repos, (r) => observe(r.ns))

        // A new revision changes every image, so every Deployment is applied: ignored fields are stripped or adopted.
        const next = yield* Effect.forEach(repos, (r) =>
          Effect.promise(async () => {
            const commit = await commitFiles(r.bare, { "deploy.yaml": deployments(r.ns, "app:2") })
            await kubectl([
              "-n",
              r.ns,
              "annotate",
              "--overwrite",
              "gitrepository",
              "app",
              `reconcile.fluxcd.io/requestedAt=${new Date().toISOString()}`,
            ])
            return { ...r, revision: `main@sha1:${commit}` }
          }),
        )
        yield* Effect.forEach(
          next,
          (r) => waitKustomization(r.ns, "Ready at the new revision", readyAt(r.revision)),
          {
            concurrency: "unbounded",
          },
        )
        const applied = yield* Effect.forEach(next, (r) => observe(r.ns))

        // Flux's outcome, as its documentation describes it; Kustodian's must be the same, ownership included.
        const values = (snapshot: (typeof applied)[number]) =>
          Object.fromEntries(
            Object.entries(snapshot).map(([name, { replicas, image, hash }]) => [
              name,
              { replicas, image, hash },
            ]),
          )
        expect(values(reconciled[0]!)).toEqual({
          web: { replicas: 3, image: "app:1", hash: "mutated" },
          api: { replicas: 1, image: "app:1", hash: "git" },
          svc: { replicas: 4, image: "app:1", hash: "git" },
        })
        expect(applied[0]).toEqual({
          // Adopted: the live value, and the field is ours (only Update writers touched it).
          web: { replicas: 3, image: "app:2", hash: "mutated", ownsReplicas: true },
          api: { replicas: 1, image: "app:2", hash: "git", ownsReplicas: true },
          // Stripped: the autoscaler applies it, so we let go of it.
          svc: { replicas: 4, image: "app:2", hash: "git", ownsReplicas: false },
        })
        expect(reconciled[1]).toEqual(reconciled[0])
        expect(applied[1]).toEqual(applied[0])
      }).pipe(Effect.scoped),
    300_000,
  )
})
