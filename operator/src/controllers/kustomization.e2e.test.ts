/**
 * The Kustomization controller end to end, as a user sees it: `kustodian controller` as its own process against
 * the real kube-apiserver, sources on a real git server, and every assertion made on what `kubectl get` shows —
 * status, Kubernetes Events, the objects in the cluster.
 *
 * One operator process serves the whole file. It watches this file's namespace only: other e2e files run at the
 * same time against the same control plane with operators of their own, and two operators reconciling the same
 * objects would fight. Each test uses its own repository and object names.
 */
import { mkdir } from "node:fs/promises"
import { createServer } from "node:http"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { kwokPoolNode, poolLabel } from "../../../e2e/cluster/workloads.ts"
import {
  applyYaml,
  createServiceAccount,
  createTestNamespace,
  installFluxCrds,
  kubectl,
  runKubectl,
  testKubeconfigPath,
} from "../../../e2e/support/cluster.ts"
import { applyKustomization, gitSourceRef } from "../../../e2e/support/flux-objects.ts"
import {
  commitFiles,
  createBareRepo,
  type GitHttpServer,
  gitHttpServer,
} from "../../../e2e/support/git-server.ts"
import type { KubeEvent, Obj } from "../../../e2e/support/kube-objects.ts"
import { type OperatorProcess, operatorProcess } from "../../../e2e/support/operator-process.ts"
import { closeServer, listenOnLoopback } from "../../../e2e/support/ports.ts"
import { logTail } from "../../../e2e/support/process.ts"
import {
  generateAgeKey,
  run,
  scratchDir,
  secretManifest,
  sopsEncryptInPlace,
} from "../../../e2e/support/seed.ts"

// ------------------------------------------------------------------------------------------ one operator per file

let ns = ""
let server: GitHttpServer
let operator: OperatorProcess
/** A git server that accepts connections and never answers: a build fetching from it outlasts its timeout. */
let silentGitUrl = ""
const scope = Effect.runSync(Scope.make())

const silentServer = Effect.acquireRelease(
  Effect.promise(async () => {
    // Reads each request and never answers it.
    const silent = createServer((req) => req.resume())
    return { url: await listenOnLoopback(silent), silent }
  }),
  ({ silent }) => Effect.promise(() => closeServer(silent)),
)

beforeAll(async () => {
  await installFluxCrds()
  ns = await createTestNamespace("ks-ctrl")
  server = await Effect.runPromise(Scope.provide(scope)(gitHttpServer()))
  silentGitUrl = (await Effect.runPromise(Scope.provide(scope)(silentServer))).url
  operator = await Effect.runPromise(
    Scope.provide(scope)(
      operatorProcess({
        kubeconfig: testKubeconfigPath(),
        namespace: ns,
        flags: [
          // Flux's global age keys: a Secret in the operator's namespace (RUNTIME_NAMESPACE is this test's).
          "--sops-age-secret=global-age",
          // Flux's gate (off by default) under which a new revision cancels a waiting health check.
          "--feature-gates=CancelHealthCheckOnNewRevision=true",
          // The admin's exception for an in-cluster mirror over http, so a remote base may point at it.
          `--trusted-remote-prefix=${silentGitUrl}/`,
        ],
      }),
    ),
  )
}, 300_000)

afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), 60_000)

// ------------------------------------------------------------------------------------------ what a user looks at

const get = (kind: string, name: string) =>
  Effect.promise(async (): Promise<Obj | undefined> => {
    const r = await runKubectl(["-n", ns, "get", kind, name, "-o", "json"])
    return r.code === 0 ? (JSON.parse(r.stdout) as Obj) : undefined
  })

const conditionOf = (obj: Obj | undefined, type: string) =>
  obj?.status?.conditions?.find((c) => c.type === type)

/** Polls like `kubectl get -w` until `check` returns a value; on timeout shows the object and the operator log. */
const eventually = <A>(what: string, check: Effect.Effect<A | undefined>, timeoutMs = 60_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const value = yield* check
      if (value !== undefined) return value
      yield* Effect.sleep(300)
    }
    const objects = yield* Effect.promise(() =>
      runKubectl(["-n", ns, "get", "kustomization,gitrepository", "-o", "yaml"]),
    )
    return yield* Effect.die(
      new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}\n--- objects ---\n${objects.stdout}\n` +
          `--- operator log ---\n${logTail(operator.logFile, 30)}`,
      ),
    )
  })

/** Waits until the object satisfies `predicate` and returns it. */
const waitFor = (
  kind: string,
  name: string,
  what: string,
  predicate: (o: Obj) => boolean,
  timeoutMs?: number,
) =>
  eventually(
    `${kind}/${name}: ${what}`,
    get(kind, name).pipe(Effect.map((o) => (o !== undefined && predicate(o) ? o : undefined))),
    timeoutMs,
  )

const readyIs = (status: string, reason?: string) => (o: Obj) => {
  const ready = conditionOf(o, "Ready")
  return ready?.status === status && (reason === undefined || ready.reason === reason)
}

/** Ready=True for the current generation with this revision applied. */
const appliedRevision = (revision: string) => (o: Obj) =>
  readyIs("True")(o) &&
  o.status?.observedGeneration === o.metadata.generation &&
  o.status?.lastAppliedRevision === revision

const events = (name: string) =>
  Effect.promise(async (): Promise<ReadonlyArray<KubeEvent>> => {
    const out = await kubectl(["-n", ns, "get", "events.v1.events.k8s.io", "-o", "json"])
    return (JSON.parse(out) as { items: KubeEvent[] }).items.filter(
      (e) => e.regarding.kind === "Kustomization" && e.regarding.name === name,
    )
  })

const kube = (...args: ReadonlyArray<string>) => Effect.promise(() => kubectl(["-n", ns, ...args]))
const exists = (kind: string, name: string) =>
  Effect.promise(async () => (await runKubectl(["-n", ns, "get", kind, name])).code === 0)

/** `flux reconcile`: the requestedAt annotation; returns the value set. */
const requestReconcile = (kind: string, name: string) =>
  Effect.gen(function* () {
    const at = new Date().toISOString()
    yield* kube("annotate", "--overwrite", kind, name, `reconcile.fluxcd.io/requestedAt=${at}`)
    return at
  })

// ------------------------------------------------------------------------------------------ sources and objects

const configMap = (name: string, value: string) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
  namespace: ${ns}
data:
  value: "${value}"
`

/** The node pool a Deployment of this file selects: nothing runs there until the test adds a node for it. */
const pool = (name: string) => `${name}.${ns}`

/**
 * A Deployment rolled out by the test cluster's controllers: its Pods wait for a node of `pool` (default: its
 * own), which the test adds with {@link kwokPoolNode} when it wants the rollout to complete.
 */
const deployment = (
  name: string,
  opts: { readonly pool?: string; readonly progressDeadlineSeconds?: number } = {},
) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  replicas: 1
${opts.progressDeadlineSeconds === undefined ? "" : `  progressDeadlineSeconds: ${opts.progressDeadlineSeconds}\n`}  selector:
    matchLabels: { app: ${name} }
  template:
    metadata:
      labels: { app: ${name} }
    spec:
      nodeSelector: { ${poolLabel}: "${opts.pool ?? pool(name)}" }
      containers:
        - name: main
          image: registry.invalid/never-pulled:1
`

/** A repository served over HTTP and its GitRepository (branch main); `push` commits and asks for a fetch. */
const source = (name: string, files: Readonly<Record<string, string>>) =>
  Effect.gen(function* () {
    const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, name))
    const first = yield* Effect.promise(() => commitFiles(bare, files))
    yield* Effect.promise(() =>
      applyYaml(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  interval: 1h
  ref:
    branch: main
  url: ${server.repoUrl(name)}
`),
    )
    const push = (changes: Readonly<Record<string, string | null>>) =>
      Effect.gen(function* () {
        const commit = yield* Effect.promise(() => commitFiles(bare, changes))
        yield* requestReconcile("gitrepository", name)
        return `main@sha1:${commit}`
      })
    return { name, revision: `main@sha1:${first}`, push }
  })

const kustomization = (name: string, spec: Readonly<Record<string, unknown>>) =>
  applyKustomization(ns, name, spec)

const gitSource = gitSourceRef

const dataOf = (kind: string, name: string) => get(kind, name).pipe(Effect.map((o) => o?.data))

/** An age key pair made by the real age-keygen in `dir`. */
const ageKeyIn = (dir: string) =>
  Effect.promise(() => mkdir(dir, { recursive: true }).then(() => generateAgeKey(dir)))

/** A Secret `name` with one `password`, encrypted by the real sops for `recipient` into `<work>/repo/<file>`. */
const sopsSecret = (work: string, file: string, name: string, password: string, recipient: string) =>
  Effect.promise(async () =>
    sopsEncryptInPlace(join(work, "repo", file), await secretManifest(ns, name, { password }), [
      `--age=${recipient}`,
      "--encrypted-regex",
      "^(data|stringData)$",
    ]),
  )

// ------------------------------------------------------------------------------------------ scenarios

describe("Kustomization controller", () => {
  it.live(
    "status as Flux sets it: revisions, observedGeneration, inventory ids, history; a failing revision keeps the last applied one",
    () =>
      Effect.gen(function* () {
        const src = yield* source("status", {
          "cm.yaml": configMap("status-cm", "1"),
          "secret.yaml": yield* Effect.promise(() => secretManifest(ns, "status-secret", { token: "t" })),
          // Flux writes ':' in RBAC names as '__' in inventory ids; cluster-scoped objects have an empty namespace.
          "role.yaml": `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: status:reader
  namespace: ${ns}
rules: []
`,
          "namespace.yaml": `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}-status\n`,
        })
        yield* kustomization("status", gitSource(src.name))
        const ready = yield* waitFor("kustomization", "status", "Ready", appliedRevision(src.revision))
        expect(conditionOf(ready, "Ready")).toMatchObject({
          reason: "ReconciliationSucceeded",
          message: `Applied revision: ${src.revision}`,
        })
        expect(ready.status?.lastAttemptedRevision).toBe(src.revision)
        expect(ready.status?.observedGeneration).toBe(ready.metadata.generation)
        expect(conditionOf(ready, "Reconciling")).toBeUndefined()
        expect(conditionOf(ready, "Healthy")).toBeUndefined()
        expect(ready.status?.inventory?.entries).toEqual(
          expect.arrayContaining([
            { id: `_${ns}-status__Namespace`, v: "v1" },
            { id: `${ns}_status-cm__ConfigMap`, v: "v1" },
            { id: `${ns}_status-secret__Secret`, v: "v1" },
            { id: `${ns}_status__reader_rbac.authorization.k8s.io_Role`, v: "v1" },
          ]),
        )
        expect(ready.status?.inventory?.entries).toHaveLength(4)
        expect(ready.status?.history).toHaveLength(1)
        expect(ready.status?.history?.[0]).toMatchObject({
          lastReconciledStatus: "ReconciliationSucceeded",
          metadata: { revision: src.revision },
        })
        expect(ready.status?.history?.[0]?.totalReconciliations).toBeGreaterThanOrEqual(1)
        expect(ready.status?.history?.[0]?.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
        const cm = yield* get("configmap", "status-cm")
        expect(cm?.metadata.labels).toMatchObject({
          "kustomize.toolkit.fluxcd.io/name": "status",
          "kustomize.toolkit.fluxcd.io/namespace": ns,
        })

        // A revision that does not build: Ready=False, lastAttemptedRevision moves, lastAppliedRevision stays.
        const broken = yield* src.push({
          "kustomization.yaml": "resources:\n  - cm.yaml\n  - missing.yaml\n",
          "cm.yaml": configMap("status-cm", "2"),
        })
        const failed = yield* waitFor(
          "kustomization",
          "status",
          "Ready=False for the broken revision",
          (o) => readyIs("False", "BuildFailed")(o) && o.status?.lastAttemptedRevision === broken,
        )
        expect(failed.status?.lastAppliedRevision).toBe(src.revision)
        expect(conditionOf(failed, "Ready")?.message).toContain("missing.yaml")
        expect(conditionOf(failed, "Reconciling")?.reason).toBe("ProgressingWithRetry")
        expect(failed.status?.inventory?.entries).toHaveLength(4)
        expect((yield* dataOf("configmap", "status-cm"))?.value).toBe("1")
        const warning = (yield* events("status")).find(
          (e) => e.type === "Warning" && e.reason === "BuildFailed",
        )
        expect(warning?.note).toContain("missing.yaml")
        expect(warning?.metadata.annotations?.["kustomize.toolkit.fluxcd.io/revision"]).toBe(broken)

        // Five more good revisions: history keeps the five most recent snapshots, newest first.
        let last = broken
        for (const n of [3, 4, 5, 6, 7]) {
          last = yield* src.push({
            "kustomization.yaml": null,
            "cm.yaml": configMap("status-cm", String(n)),
          })
          yield* waitFor("kustomization", "status", `revision ${n} applied`, appliedRevision(last))
        }
        const after = yield* get("kustomization", "status")
        expect(after?.status?.history).toHaveLength(5)
        expect(after?.status?.history?.[0]?.metadata?.revision).toBe(last)
        expect(
          after?.status?.history?.every((h) => h.lastReconciledStatus === "ReconciliationSucceeded"),
        ).toBe(true)
        expect(after?.status?.lastAttemptedRevision).toBe(last)
        expect((yield* dataOf("configmap", "status-cm"))?.value).toBe("7")
      }),
    180_000,
  )

  it.live("Events (events.k8s.io/v1) carry the change set and the revision annotation", () =>
    Effect.gen(function* () {
      const src = yield* source("events", {
        "cm.yaml": configMap("events-cm", "1"),
        "secret.yaml": yield* Effect.promise(() => secretManifest(ns, "events-secret", { k: "v" })),
      })
      yield* kustomization("events", gitSource(src.name))
      yield* waitFor("kustomization", "events", "Ready", appliedRevision(src.revision))
      const created = yield* eventually(
        "the change-set Event",
        events("events").pipe(Effect.map((es) => es.find((e) => e.note?.includes("Secret/")))),
      )
      expect(created.type).toBe("Normal")
      expect(created.note).toContain(`Secret/${ns}/events-secret created`)
      expect(created.note).toContain(`ConfigMap/${ns}/events-cm created`)
      expect(created.metadata.annotations?.["kustomize.toolkit.fluxcd.io/revision"]).toBe(src.revision)

      const next = yield* src.push({ "cm.yaml": configMap("events-cm", "2"), "secret.yaml": null })
      yield* waitFor("kustomization", "events", "the new revision", appliedRevision(next))
      const changed = yield* eventually(
        "the second change-set Event",
        events("events").pipe(
          Effect.map((es) =>
            es.find((e) => e.metadata.annotations?.["kustomize.toolkit.fluxcd.io/revision"] === next),
          ),
        ),
      )
      const notes = (yield* events("events"))
        .filter((e) => e.metadata.annotations?.["kustomize.toolkit.fluxcd.io/revision"] === next)
        .map((e) => e.note)
        .join("\n")
      expect(changed).toBeDefined()
      expect(notes).toContain(`ConfigMap/${ns}/events-cm configured`)
      expect(notes).toContain(`Secret/${ns}/events-secret deleted`)
      expect(yield* exists("secret", "events-secret")).toBe(false)
    }),
  )

  it.live(
    "a missing source: Ready=False ArtifactFailed naming the source; it proceeds once the source exists",
    () =>
      Effect.gen(function* () {
        yield* kustomization("nosource", gitSource("nosource-repo"))
        const failed = yield* waitFor(
          "kustomization",
          "nosource",
          "ArtifactFailed",
          readyIs("False", "ArtifactFailed"),
        )
        expect(conditionOf(failed, "Ready")?.message).toContain(`GitRepository '${ns}/nosource-repo'`)
        expect(conditionOf(failed, "Stalled")).toBeUndefined()
        const src = yield* source("nosource-repo", { "cm.yaml": configMap("nosource-cm", "1") })
        // The GitRepository watch releases the waiting Kustomization (Flux retries after --requeue-dependency).
        yield* waitFor(
          "kustomization",
          "nosource",
          "Ready once the source exists",
          appliedRevision(src.revision),
        )
        expect((yield* dataOf("configmap", "nosource-cm"))?.value).toBe("1")
      }),
  )

  it.live(
    "a spec the CRD accepts but the controller cannot serve (a Bucket source) → Stalled, not retried",
    () =>
      Effect.gen(function* () {
        yield* kustomization("stalled", { sourceRef: { kind: "Bucket", name: "stalled-bucket" } })
        const stalled = yield* waitFor(
          "kustomization",
          "stalled",
          "Stalled",
          (o) => conditionOf(o, "Stalled")?.status === "True",
        )
        expect(conditionOf(stalled, "Ready")).toMatchObject({ status: "False", reason: "ArtifactFailed" })
        expect(conditionOf(stalled, "Ready")?.message).toContain(`Bucket '${ns}/stalled-bucket'`)
        expect(conditionOf(stalled, "Reconciling")).toBeUndefined()
        // Terminal: the generation counts as observed, so `kubectl wait` and flux know it will not change by itself.
        expect(stalled.status?.observedGeneration).toBe(stalled.metadata.generation)
        // Not retried: a retry (backoff starts at 1s) would repeat the Warning and turn it into a series.
        yield* Effect.sleep(4_000)
        const warnings = (yield* events("stalled")).filter((e) => e.type === "Warning")
        expect(warnings).toHaveLength(1)
        expect((warnings[0] as { series?: unknown }).series).toBeUndefined()
      }),
  )

  it.live("dependsOn: DependencyNotReady until the dependency is Ready, then it proceeds", () =>
    Effect.gen(function* () {
      const app = yield* source("dep-app", { "cm.yaml": configMap("dep-app-cm", "1") })
      // The dependency's source does not exist yet, so the dependency cannot become Ready.
      yield* kustomization("dep-base", gitSource("dep-base"))
      yield* kustomization("dep-app", { ...gitSource(app.name), dependsOn: [{ name: "dep-base" }] })
      const waiting = yield* waitFor(
        "kustomization",
        "dep-app",
        "DependencyNotReady",
        readyIs("False", "DependencyNotReady"),
      )
      expect(conditionOf(waiting, "Ready")?.message).toContain(`dependency '${ns}/dep-base' is not ready`)
      expect(yield* exists("configmap", "dep-app-cm")).toBe(false)

      const base = yield* source("dep-base", { "cm.yaml": configMap("dep-base-cm", "1") })
      yield* waitFor("kustomization", "dep-base", "Ready", appliedRevision(base.revision))
      yield* waitFor("kustomization", "dep-app", "Ready after its dependency", appliedRevision(app.revision))
      expect((yield* dataOf("configmap", "dep-app-cm"))?.value).toBe("1")
    }),
  )

  it.live(
    "a field Kustodian does not implement stalls the Kustomization naming it, and nothing is applied",
    () =>
      Effect.gen(function* () {
        const app = yield* source("unsupported", { "cm.yaml": configMap("unsupported-cm", "1") })
        const cases = [
          [
            "remote",
            { kubeConfig: { configMapRef: { name: "cloud-cluster" } } },
            "spec.kubeConfig.configMapRef",
          ],
        ] as const
        for (const [name, spec] of cases) yield* kustomization(name, { ...gitSource(app.name), ...spec })
        for (const [name, , field] of cases) {
          const stalled = yield* waitFor(
            "kustomization",
            name,
            "Stalled",
            (o) => conditionOf(o, "Stalled")?.status === "True",
          )
          expect(conditionOf(stalled, "Ready")).toMatchObject({ status: "False", reason: "InvalidSpec" })
          expect(conditionOf(stalled, "Stalled")?.message).toContain(`${field} is not supported by Kustodian`)
        }
        expect(yield* exists("configmap", "unsupported-cm")).toBe(false)
      }),
  )

  it.live("suspend: a new revision is not applied while suspended; resuming applies it", () =>
    Effect.gen(function* () {
      const src = yield* source("suspend", { "cm.yaml": configMap("suspend-cm", "1") })
      yield* kustomization("suspend", gitSource(src.name))
      yield* waitFor("kustomization", "suspend", "Ready", appliedRevision(src.revision))

      yield* kube("patch", "kustomization", "suspend", "--type=merge", "-p", '{"spec":{"suspend":true}}')
      const next = yield* src.push({ "cm.yaml": configMap("suspend-cm", "2") })
      yield* waitFor(
        "gitrepository",
        "suspend",
        "the new artifact",
        (o) => o.status?.artifact?.revision === next,
      )
      // Give the operator time to (wrongly) act on the new artifact.
      yield* Effect.sleep(3_000)
      expect((yield* dataOf("configmap", "suspend-cm"))?.value).toBe("1")
      const suspended = yield* get("kustomization", "suspend")
      expect(suspended?.status?.lastAppliedRevision).toBe(src.revision)
      expect(suspended?.status?.lastAttemptedRevision).toBe(src.revision)

      yield* kube("patch", "kustomization", "suspend", "--type=merge", "-p", '{"spec":{"suspend":false}}')
      yield* waitFor("kustomization", "suspend", "the new revision after resume", appliedRevision(next))
      expect((yield* dataOf("configmap", "suspend-cm"))?.value).toBe("2")
    }),
  )

  it.live(
    "reconcile.fluxcd.io/requestedAt reconciles at once (drift corrected) and lastHandledReconcileAt records it",
    () =>
      Effect.gen(function* () {
        const src = yield* source("requested", { "cm.yaml": configMap("requested-cm", "1") })
        yield* kustomization("requested", gitSource(src.name))
        yield* waitFor("kustomization", "requested", "Ready", appliedRevision(src.revision))
        // Someone edits the object in the cluster; the interval is 1h, so only the request brings it back.
        yield* kube(
          "patch",
          "configmap",
          "requested-cm",
          "--type=merge",
          "-p",
          '{"data":{"value":"drifted"}}',
        )
        const at = yield* requestReconcile("kustomization", "requested")
        const handled = yield* waitFor(
          "kustomization",
          "requested",
          "lastHandledReconcileAt",
          (o) => o.status?.lastHandledReconcileAt === at && readyIs("True")(o),
        )
        expect(handled.status?.lastAppliedRevision).toBe(src.revision)
        yield* eventually(
          "the drift corrected",
          dataOf("configmap", "requested-cm").pipe(Effect.map((d) => (d?.value === "1" ? true : undefined))),
        )
      }),
  )

  it.live(
    "deletion: prune: true deletes the applied objects through the finalizer; deletionPolicy: Orphan keeps them",
    () =>
      Effect.gen(function* () {
        const src = yield* source("deletion", {
          "prune/cm.yaml": configMap("deletion-pruned", "1"),
          "orphan/cm.yaml": configMap("deletion-orphaned", "1"),
        })
        yield* kustomization("del-prune", { ...gitSource(src.name), path: "./prune" })
        yield* kustomization("del-orphan", {
          ...gitSource(src.name),
          path: "./orphan",
          deletionPolicy: "Orphan",
        })
        const pruned = yield* waitFor("kustomization", "del-prune", "Ready", appliedRevision(src.revision))
        yield* waitFor("kustomization", "del-orphan", "Ready", appliedRevision(src.revision))
        expect((pruned as { metadata: { finalizers?: string[] } }).metadata.finalizers).toContain(
          "finalizers.fluxcd.io",
        )
        expect(yield* exists("configmap", "deletion-pruned")).toBe(true)

        yield* kube("delete", "kustomization", "del-prune", "del-orphan", "--wait=false")
        for (const name of ["del-prune", "del-orphan"])
          yield* eventually(
            `${name} gone`,
            exists("kustomization", name).pipe(Effect.map((e) => (e ? undefined : true))),
          )
        expect(yield* exists("configmap", "deletion-pruned")).toBe(false)
        expect(yield* exists("configmap", "deletion-orphaned")).toBe(true)
      }),
  )

  it.live(
    "healthChecks: Healthy=True once the Deployment has rolled out; wait without readiness → HealthCheckFailed after the timeout",
    () =>
      Effect.gen(function* () {
        const src = yield* source("health", {
          "ok/deploy.yaml": deployment("health-ok"),
          "stuck/deploy.yaml": deployment("health-stuck"),
        })
        yield* kustomization("health-ok", {
          ...gitSource(src.name),
          path: "./ok",
          timeout: "30s",
          healthChecks: [{ apiVersion: "apps/v1", kind: "Deployment", name: "health-ok", namespace: ns }],
        })
        yield* kustomization("health-stuck", {
          ...gitSource(src.name),
          path: "./stuck",
          timeout: "30s",
          wait: true,
        })

        yield* eventually(
          "the Deployment applied",
          exists("deployment", "health-ok").pipe(Effect.map((e) => e || undefined)),
        )
        const checking = yield* get("kustomization", "health-ok")
        expect(conditionOf(checking, "Ready")?.status).not.toBe("True")
        // Capacity for health-ok's Pods: the rollout completes; health-stuck's Pods never get a node.
        yield* kwokPoolNode(pool("health-ok"))
        const healthy = yield* waitFor("kustomization", "health-ok", "Ready", appliedRevision(src.revision))
        expect(conditionOf(healthy, "Healthy")).toMatchObject({ status: "True", reason: "Succeeded" })

        // Retries follow at once while the backoff is shorter than a health check (see the report), so
        // Ready=False is only briefly visible in status; Healthy=False stays, and the Warning Event carries it.
        const stuck = yield* waitFor(
          "kustomization",
          "health-stuck",
          "Healthy=False",
          (o) => conditionOf(o, "Healthy")?.status === "False",
          90_000,
        )
        expect(conditionOf(stuck, "Healthy")).toMatchObject({ status: "False", reason: "HealthCheckFailed" })
        expect(conditionOf(stuck, "Healthy")?.message).toContain(`Deployment/${ns}/health-stuck`)
        expect(conditionOf(stuck, "Ready")?.status).not.toBe("True")
        expect(stuck.status?.lastAppliedRevision).toBeUndefined()
        expect(stuck.status?.lastAttemptedRevision).toBe(src.revision)
        const failed = yield* eventually(
          "the HealthCheckFailed Warning",
          events("health-stuck").pipe(
            Effect.map((es) => es.find((e) => e.type === "Warning" && e.reason === "HealthCheckFailed")),
          ),
        )
        expect(failed.note).toMatch(/^health check failed after .*timeout waiting for: \[Deployment\//)
        expect(failed.note).toContain(`Deployment/${ns}/health-stuck`)
        expect(failed.metadata.annotations?.["kustomize.toolkit.fluxcd.io/revision"]).toBe(src.revision)
        // The objects were applied; only their health is missing.
        expect(stuck.status?.inventory?.entries).toEqual([
          { id: `${ns}_health-stuck_apps_Deployment`, v: "v1" },
        ])
      }),
    150_000,
  )

  it.live(
    "serviceAccountName: without RBAC Ready=False naming the object and the SA; after granting RBAC it succeeds",
    () =>
      Effect.gen(function* () {
        yield* Effect.promise(() => createServiceAccount(ns, "deployer"))
        const src = yield* source("impersonate", { "cm.yaml": configMap("impersonate-cm", "1") })
        yield* kustomization("impersonate", { ...gitSource(src.name), serviceAccountName: "deployer" })
        const denied = yield* waitFor(
          "kustomization",
          "impersonate",
          "Ready=False",
          readyIs("False", "ReconciliationFailed"),
        )
        const message = conditionOf(denied, "Ready")?.message ?? ""
        expect(message).toContain("impersonate-cm")
        expect(message).toContain(`system:serviceaccount:${ns}:deployer`)
        expect(yield* exists("configmap", "impersonate-cm")).toBe(false)

        yield* kube(
          "create",
          "role",
          "deployer",
          "--verb=get,list,watch,create,update,patch,delete",
          "--resource=configmaps",
        )
        yield* kube("create", "rolebinding", "deployer", "--role=deployer", `--serviceaccount=${ns}:deployer`)
        yield* requestReconcile("kustomization", "impersonate")
        yield* waitFor("kustomization", "impersonate", "Ready with RBAC", appliedRevision(src.revision))
        const cm = yield* get("configmap", "impersonate-cm")
        expect(cm?.data?.value).toBe("1")
      }),
  )

  it.live(
    "decryption: --sops-age-secret decrypts when no secretRef is given, a secretRef wins; an SSH key as *.agekey is refused naming the entry",
    () =>
      Effect.gen(function* () {
        const work = yield* scratchDir("kustodian-ks-global-age-")
        const global = yield* ageKeyIn(join(work, "global"))
        const own = yield* ageKeyIn(join(work, "own"))
        const encrypted = (file: string, name: string, recipient: string) =>
          sopsSecret(work, file, name, `${name}-plaintext`, recipient)
        yield* kube(
          "create",
          "secret",
          "generic",
          "global-age",
          `--from-file=identity.agekey=${global.keyFile}`,
        )
        yield* kube("create", "secret", "generic", "own-age", `--from-file=age.agekey=${own.keyFile}`)
        const sshKey = join(work, "id_ed25519")
        yield* Effect.promise(() => run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", sshKey]))
        yield* kube("create", "secret", "generic", "ssh-age", `--from-file=age.agekey=${sshKey}`)
        const src = yield* source("global-age", {
          "global/secret.yaml": yield* encrypted("global/secret.yaml", "global-secret", global.recipient),
          "own/secret.yaml": yield* encrypted("own/secret.yaml", "own-secret", own.recipient),
        })
        const sops = (secretName?: string) => ({
          decryption: { provider: "sops", ...(secretName ? { secretRef: { name: secretName } } : {}) },
        })
        yield* kustomization("global-age", { ...gitSource(src.name), path: "./global", ...sops() })
        yield* kustomization("own-age", { ...gitSource(src.name), path: "./own", ...sops("own-age") })
        yield* kustomization("ssh-age", { ...gitSource(src.name), path: "./own", ...sops("ssh-age") })
        for (const name of ["global-age", "own-age"])
          yield* waitFor("kustomization", name, "Ready", appliedRevision(src.revision))
        expect((yield* dataOf("secret", "global-secret"))?.password).toBe(
          Buffer.from("global-secret-plaintext").toString("base64"),
        )
        expect((yield* dataOf("secret", "own-secret"))?.password).toBe(
          Buffer.from("own-secret-plaintext").toString("base64"),
        )
        const refused = yield* waitFor("kustomization", "ssh-age", "refused", readyIs("False"))
        const message = conditionOf(refused, "Ready")?.message ?? ""
        expect(message).toContain(
          `failed to import 'age.agekey' data from sops decryption Secret '${ns}/ssh-age'`,
        )
        expect(message).toContain("holds an SSH private key")
        expect(message).not.toContain("OPENSSH")
      }).pipe(Effect.scoped),
  )

  it.live(
    "decryption: a wrong key → BuildFailed, cluster unchanged, no plaintext; a MAC mismatch under warn → Warning event naming the file",
    () =>
      Effect.gen(function* () {
        const work = yield* scratchDir("kustodian-ks-sops-")
        const right = yield* ageKeyIn(join(work, "right"))
        const wrong = yield* ageKeyIn(join(work, "wrong"))
        const encrypt = (file: string, name: string, value: string) =>
          sopsSecret(work, file, name, value, right.recipient)
        const secretFor = (name: string, keyFile: string) =>
          Effect.promise(async () =>
            kubectl(["-n", ns, "create", "secret", "generic", name, `--from-file=age.agekey=${keyFile}`]),
          )
        yield* secretFor("sops-wrong", wrong.keyFile)
        yield* secretFor("sops-right", right.keyFile)

        const encrypted = yield* encrypt("wrong/secret.yaml", "sops-wrong-secret", "hunter2-plaintext")
        // MAC tampering: a value outside encrypted_regex changes, so decryption works but the MAC does not verify.
        const tamperedSource = yield* encrypt("mac/secret.yaml", "sops-mac-secret", "mac-plaintext")
        const tampered = tamperedSource.replace("name: sops-mac-secret", "name: sops-mac-tampered")
        expect(tampered).not.toBe(tamperedSource)
        const src = yield* source("sops", { "wrong/secret.yaml": encrypted, "mac/secret.yaml": tampered })

        yield* kustomization("sops-wrong", {
          ...gitSource(src.name),
          path: "./wrong",
          decryption: { provider: "sops", secretRef: { name: "sops-wrong" } },
        })
        const failed = yield* waitFor(
          "kustomization",
          "sops-wrong",
          "BuildFailed",
          readyIs("False", "BuildFailed"),
        )
        const message = conditionOf(failed, "Ready")?.message ?? ""
        expect(message).toContain("secret.yaml")
        expect(message).not.toContain("hunter2")
        expect(yield* exists("secret", "sops-wrong-secret")).toBe(false)
        for (const e of yield* events("sops-wrong")) expect(e.note).not.toContain("hunter2")

        yield* kustomization("sops-mac", {
          ...gitSource(src.name),
          path: "./mac",
          decryption: { provider: "sops", secretRef: { name: "sops-right" } },
        })
        yield* waitFor(
          "kustomization",
          "sops-mac",
          "Ready under the warn policy",
          appliedRevision(src.revision),
        )
        expect((yield* dataOf("secret", "sops-mac-tampered"))?.password).toBe(
          Buffer.from("mac-plaintext").toString("base64"),
        )
        const warning = yield* eventually(
          "the MAC Warning event",
          events("sops-mac").pipe(Effect.map((es) => es.find((e) => e.type === "Warning"))),
        )
        expect(warning.note).toContain("secret.yaml")
        expect(warning.note).not.toContain("mac-plaintext")
      }).pipe(Effect.scoped),
  )
})

describe("Kustomization controller: CEL, dependency revisions, cancelation and timeouts", () => {
  const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z")
  const condition = (type: string, status: string, reason: string) => ({
    type,
    status,
    reason,
    message: reason,
    lastUpdateTime: now(),
    lastTransitionTime: now(),
  })
  /** The reason of a Deployment's Progressing condition, as the deployment controller wrote it. */
  const deploymentProgress = (d: Obj | undefined) =>
    d?.status?.conditions?.find((c) => c.type === "Progressing")?.reason
  /** The Deployment is in the cluster, so the health check that follows the apply is starting. */
  const deploymentApplied = (name: string) =>
    eventually(
      `Deployment ${name} applied`,
      exists("deployment", name).pipe(Effect.map((e) => e || undefined)),
    )

  it.live(
    "an expression that does not compile stalls the Kustomization naming the field and the CEL error; nothing is applied",
    () =>
      Effect.gen(function* () {
        const src = yield* source("cel-invalid", { "cm.yaml": configMap("cel-invalid-cm", "1") })
        yield* kustomization("cel-invalid-health", {
          ...gitSource(src.name),
          healthCheckExprs: [
            { apiVersion: "apps/v1", kind: "Deployment", current: "true" },
            {
              apiVersion: "example.com/v1",
              kind: "Widget",
              current: "true",
              failed: "status.conditions.all(c, c.status ==",
            },
          ],
        })
        yield* kustomization("cel-invalid-ready", {
          ...gitSource(src.name),
          dependsOn: [
            { name: "cel-invalid-health" },
            { name: "cel-invalid-health", readyExpr: "dep.metadata.name" },
          ],
        })
        for (const [name, field, error] of [
          [
            "cel-invalid-health",
            "spec.healthCheckExprs[1].failed",
            "failed to parse the CEL expression 'status.conditions.all(c, c.status =='",
          ],
          [
            "cel-invalid-ready",
            "spec.dependsOn[1].readyExpr",
            "CEL expression output type mismatch: expected bool, got dyn",
          ],
        ] as const) {
          const stalled = yield* waitFor(
            "kustomization",
            name,
            "Stalled",
            (o) => conditionOf(o, "Stalled")?.status === "True",
          )
          expect(conditionOf(stalled, "Ready")).toMatchObject({
            status: "False",
            reason: "InvalidCELExpression",
          })
          const message = conditionOf(stalled, "Ready")?.message ?? ""
          expect(message).toContain(
            `Reconciliation failed terminally due to configuration error: ${field}: ${error}`,
          )
          expect(message).not.toContain("\n")
          expect(stalled.status?.observedGeneration).toBe(stalled.metadata.generation)
        }
        expect(yield* exists("configmap", "cel-invalid-cm")).toBe(false)
      }),
  )

  it.live(
    "healthCheckExprs judge a Deployment instead of the built-in rules: in progress, then current; a failed expression is HealthCheckFailed",
    () =>
      Effect.gen(function* () {
        const src = yield* source("cel-health", { "deploy.yaml": deployment("cel-health") })
        yield* kustomization("cel-health", {
          ...gitSource(src.name),
          wait: true,
          timeout: "40s",
          healthCheckExprs: [
            {
              apiVersion: "apps/v1",
              kind: "Deployment",
              inProgress:
                "status.conditions.exists(c, c.type == 'Progressing' && c.status == 'True' && c.reason == 'ReplicaSetUpdated')",
              failed:
                "status.conditions.exists(c, c.type == 'Progressing' && c.reason == 'ProgressDeadlineExceeded')",
              // No replica counts: the built-in rule would wait for readyReplicas, these expressions do not.
              current: "status.conditions.exists(c, c.type == 'Available' && c.status == 'True')",
            },
          ],
        })
        yield* deploymentApplied("cel-health")
        // The deployment controller reports the rollout as Progressing/ReplicaSetUpdated while its Pod has no node.
        yield* eventually(
          "Progressing=True ReplicaSetUpdated",
          get("deployment", "cel-health").pipe(
            Effect.map((d) => deploymentProgress(d) === "ReplicaSetUpdated" || undefined),
          ),
        )
        yield* Effect.sleep(6_000)
        const inProgress = yield* get("kustomization", "cel-health")
        // Still waiting: the inProgress expression holds it (the built-in rule would too, for other reasons).
        expect(conditionOf(inProgress, "Ready")?.status).toBe("Unknown")
        expect(inProgress?.status?.lastAppliedRevision).toBeUndefined()

        // A node for its Pod: the rollout completes (NewReplicaSetAvailable, Available=True).
        yield* kwokPoolNode(pool("cel-health"))
        const healthy = yield* waitFor("kustomization", "cel-health", "Ready", appliedRevision(src.revision))
        expect(conditionOf(healthy, "Healthy")).toMatchObject({ status: "True", reason: "Succeeded" })
        expect(conditionOf(healthy, "Healthy")?.message).toMatch(/^Health check passed in /)

        // A new generation whose Pods select a pool with no nodes: after its 2 s progress deadline the
        // controller reports ProgressDeadlineExceeded while the old Pod keeps the Deployment Available.
        const next = yield* src.push({
          "deploy.yaml": deployment("cel-health", {
            pool: pool("cel-health-nowhere"),
            progressDeadlineSeconds: 2,
          }),
        })
        const failed = yield* waitFor(
          "kustomization",
          "cel-health",
          "HealthCheckFailed",
          (o) => readyIs("False", "HealthCheckFailed")(o) && o.status?.lastAttemptedRevision === next,
        )
        expect(conditionOf(failed, "Ready")?.message).toContain(
          `Deployment/${ns}/cel-health status: 'Failed': spec.healthCheckExprs[0].failed is true`,
        )
        expect(conditionOf(failed, "Healthy")).toMatchObject({ status: "False", reason: "HealthCheckFailed" })
      }),
    120_000,
  )

  it.live(
    "dependsOn[].readyExpr over self and dep replaces the Ready check: false waits naming it, true proceeds",
    () =>
      Effect.gen(function* () {
        const base = yield* source("rx-base", { "cm.yaml": configMap("rx-base-cm", "1") })
        const app = yield* source("rx-app", {
          "app/cm.yaml": configMap("rx-app-cm", "1"),
          "any/cm.yaml": configMap("rx-any-cm", "1"),
        })
        yield* kustomization("rx-base", gitSource(base.name))
        yield* waitFor("kustomization", "rx-base", "Ready", appliedRevision(base.revision))
        yield* kustomization("rx-app", {
          ...gitSource(app.name),
          path: "./app",
          dependsOn: [
            {
              name: "rx-base",
              readyExpr:
                "self.metadata.name == 'rx-app' && dep.metadata.?labels[?'stage'].orValue('') == 'released'",
            },
          ],
        })
        const waiting = yield* waitFor(
          "kustomization",
          "rx-app",
          "DependencyNotReady",
          readyIs("False", "DependencyNotReady"),
        )
        expect(conditionOf(waiting, "Ready")?.message).toBe(
          `dependency '${ns}/rx-base' is not ready according to readyExpr eval`,
        )
        expect(yield* exists("configmap", "rx-app-cm")).toBe(false)
        // The label changes the dependency; its watch releases the dependent.
        yield* kube("label", "kustomization", "rx-base", "stage=released")
        yield* waitFor("kustomization", "rx-app", "Ready", appliedRevision(app.revision))
        expect((yield* dataOf("configmap", "rx-app-cm"))?.value).toBe("1")

        // A dependency that is not Ready at all (no source) still lets it proceed when readyExpr is true.
        yield* kustomization("rx-never", gitSource("rx-never-repo"))
        yield* kustomization("rx-any", {
          ...gitSource(app.name),
          path: "./any",
          dependsOn: [{ name: "rx-never", readyExpr: "dep.metadata.name == 'rx-never'" }],
        })
        yield* waitFor("kustomization", "rx-any", "Ready despite rx-never", appliedRevision(app.revision))
        expect(conditionOf(yield* get("kustomization", "rx-never"), "Ready")?.status).toBe("False")
      }),
  )

  it.live(
    "a dependency on the same source must have applied the same revision: an older one holds the dependent",
    () =>
      Effect.gen(function* () {
        const src = yield* source("samesrc", { "cm.yaml": configMap("samesrc-app", "1") })
        // The dependency lives where no operator reconciles: the test writes its status, as its controller would.
        const other = yield* Effect.promise(() => createTestNamespace("ks-dep"))
        yield* Effect.promise(() =>
          applyYaml(
            JSON.stringify({
              apiVersion: "kustomize.toolkit.fluxcd.io/v1",
              kind: "Kustomization",
              metadata: { name: "samesrc-base", namespace: other },
              spec: {
                interval: "1h",
                prune: true,
                path: "./base",
                sourceRef: { kind: "GitRepository", name: "samesrc", namespace: ns },
              },
            }),
          ),
        )
        const dependencyApplied = (revision: string) =>
          Effect.promise(() =>
            kubectl([
              "-n",
              other,
              "patch",
              "kustomization",
              "samesrc-base",
              "--subresource=status",
              "--type=merge",
              "-p",
              JSON.stringify({
                status: {
                  observedGeneration: 1,
                  lastAppliedRevision: revision,
                  lastAttemptedRevision: revision,
                  conditions: [condition("Ready", "True", "ReconciliationSucceeded")],
                },
              }),
            ]),
          )
        yield* dependencyApplied(src.revision)
        yield* kustomization("samesrc-app", {
          ...gitSource(src.name),
          dependsOn: [{ name: "samesrc-base", namespace: other }],
        })
        yield* waitFor("kustomization", "samesrc-app", "Ready", appliedRevision(src.revision))

        // A new commit: the dependency is still Ready, but at the old revision.
        const next = yield* src.push({ "cm.yaml": configMap("samesrc-app", "2") })
        const held = yield* waitFor(
          "kustomization",
          "samesrc-app",
          "DependencyNotReady on the new revision",
          readyIs("False", "DependencyNotReady"),
        )
        expect(conditionOf(held, "Ready")?.message).toBe(
          `dependency '${other}/samesrc-base' revision is not up to date`,
        )
        expect(held.status?.lastAppliedRevision).toBe(src.revision)
        expect((yield* dataOf("configmap", "samesrc-app"))?.value).toBe("1")

        yield* dependencyApplied(next)
        // Nothing watches the other namespace: ask instead of waiting out --requeue-dependency.
        yield* requestReconcile("kustomization", "samesrc-app")
        yield* waitFor(
          "kustomization",
          "samesrc-app",
          "the new revision after its dependency",
          appliedRevision(next),
        )
        expect((yield* dataOf("configmap", "samesrc-app"))?.value).toBe("2")
      }),
    120_000,
  )

  it.live(
    "a new revision cancels a waiting health check: HealthCheckCanceled, then the new revision",
    () =>
      Effect.gen(function* () {
        const src = yield* source("cancel", { "deploy.yaml": deployment("cancel-stuck") })
        yield* kustomization("cancel", { ...gitSource(src.name), wait: true, timeout: "5m" })
        yield* deploymentApplied("cancel-stuck")
        // The health check is under way (the Deployment will never be ready).
        yield* Effect.sleep(3_000)
        expect(conditionOf(yield* get("kustomization", "cancel"), "Ready")?.status).toBe("Unknown")
        const started = Date.now()
        // The fix: the stuck Deployment goes, a ConfigMap comes.
        const next = yield* src.push({ "deploy.yaml": null, "cm.yaml": configMap("cancel-cm", "1") })
        yield* waitFor("kustomization", "cancel", "the new revision", appliedRevision(next))
        // Long before the 5 minute timeout of the first health check.
        expect(Date.now() - started).toBeLessThan(60_000)
        const canceled = yield* eventually(
          "the HealthCheckCanceled Event",
          events("cancel").pipe(Effect.map((es) => es.find((e) => e.reason === "HealthCheckCanceled"))),
        )
        expect(canceled.note).toBe(`New reconciliation triggered by GitRepository/${ns}/cancel`)
        expect(canceled.metadata.annotations?.["kustomize.toolkit.fluxcd.io/revision"]).toBe(src.revision)
        expect(yield* exists("deployment", "cancel-stuck")).toBe(false)
        const history = (yield* get("kustomization", "cancel"))?.status?.history ?? []
        expect(history.map((h) => h.lastReconciledStatus)).toContain("HealthCheckCanceled")
      }),
    120_000,
  )

  it.live(
    "spec.timeout bounds the build (BuildFailed naming the timeout, nothing applied) and the prune on deletion",
    () =>
      Effect.gen(function* () {
        // Two remote bases on a server that never answers: kustomize's own git timeout (27 s) ends each clone,
        // two in a row outlast the shortest timeout Flux allows (30 s).
        const src = yield* source("timeouts", {
          "kustomization.yaml": `resources:
  - cm.yaml
  - ${silentGitUrl}/one.git?ref=main
  - ${silentGitUrl}/two.git?ref=main
`,
          "cm.yaml": configMap("timeouts-cm", "1"),
        })
        const started = Date.now()
        yield* kustomization("timeouts", {
          ...gitSource(src.name),
          timeout: "30s",
          deletionPolicy: "WaitForTermination",
        })
        const failed = yield* waitFor(
          "kustomization",
          "timeouts",
          "BuildFailed",
          readyIs("False", "BuildFailed"),
          90_000,
        )
        expect(conditionOf(failed, "Ready")?.message).toBe(
          "build timed out: the reconcile exceeded spec.timeout (30s)",
        )
        expect(Date.now() - started).toBeGreaterThanOrEqual(30_000)
        expect(yield* exists("configmap", "timeouts-cm")).toBe(false)

        const fixed = yield* src.push({ "kustomization.yaml": null })
        yield* waitFor("kustomization", "timeouts", "Ready", appliedRevision(fixed), 90_000)
        // Something else holds the object: it cannot terminate within the timeout.
        yield* kube(
          "patch",
          "configmap",
          "timeouts-cm",
          "--type=merge",
          "-p",
          '{"metadata":{"finalizers":["test.kustodian.io/hold"]}}',
        )
        yield* kube("delete", "kustomization", "timeouts", "--wait=false")
        const warning = yield* eventually(
          "the PruneFailed Event",
          events("timeouts").pipe(
            Effect.map((es) => es.find((e) => e.reason === "PruneFailed" && e.type === "Warning")),
          ),
          60_000,
        )
        expect(warning.note).toBe("prune on deletion timed out: the reconcile exceeded spec.timeout (30s)")
        expect(yield* exists("kustomization", "timeouts")).toBe(true)
        yield* kube(
          "patch",
          "configmap",
          "timeouts-cm",
          "--type=merge",
          "-p",
          '{"metadata":{"finalizers":null}}',
        )
        yield* eventually(
          "the Kustomization gone once its object is",
          exists("kustomization", "timeouts").pipe(Effect.map((e) => (e ? undefined : true))),
          90_000,
        )
      }),
    300_000,
  )
})
