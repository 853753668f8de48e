/**
 * `spec.kubeConfig`: a Kustomization that applies to another cluster. The run's control plane is the management
 * cluster (Kustomizations, sources, Secrets, status, Events); this file starts a **second local control plane**
 * (etcd + kube-apiserver, `e2e/cluster/local.ts`) as the remote one, and stops it at the end.
 *
 * Two operators, each watching a namespace of its own: one with Flux's defaults, one with
 * `--insecure-kubeconfig-exec --insecure-kubeconfig-tls`. The remote cluster has namespaces of the same names, so
 * "nothing on the management cluster" is checked in the very namespace the objects would have landed in.
 */
import { chmod, readFile, writeFile } from "node:fs/promises"
import { createServer as createNetServer } from "node:net"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { KubeConfig } from "@kubernetes/client-node"
import { Effect, Exit, Option, Scope } from "effect"
import { stringify } from "yaml"
import { localProvider } from "../../../e2e/cluster/local.ts"
import type { TestCluster } from "../../../e2e/cluster/provider.ts"
import {
  applyYaml,
  createServiceAccount,
  createTestNamespace,
  installFluxCrds,
  kubectl,
  runKubectl,
  serviceAccountToken,
  testKubeconfigPath,
} from "../../../e2e/support/cluster.ts"
import { eventually } from "../../../e2e/support/eventually.ts"
import { applyKustomization } from "../../../e2e/support/flux-objects.ts"
import {
  commitFiles,
  createBareRepo,
  type GitHttpServer,
  gitHttpServer,
} from "../../../e2e/support/git-server.ts"
import type { Obj } from "../../../e2e/support/kube-objects.ts"
import { type OperatorProcess, operatorProcess } from "../../../e2e/support/operator-process.ts"
import { freePort } from "../../../e2e/support/ports.ts"
import { logTail } from "../../../e2e/support/process.ts"
import { scratchDir } from "../../../e2e/support/seed.ts"
import { CoreResources } from "../kube/resource.ts"
import type { SecretData } from "../stages/build/config-lookup.ts"
import { controllerIdentity } from "../stages/cluster/impersonation.ts"
import { makeRemoteClusters } from "../stages/cluster/remote-cluster.ts"

// ------------------------------------------------------------------------------------------ two clusters, two operators

/** Flux's defaults: no exec plugins, no insecure TLS. */
let strict = ""
/** `--insecure-kubeconfig-exec --insecure-kubeconfig-tls`. */
let permissive = ""
let server: GitHttpServer
let remote: TestCluster
let remoteAdminYaml = ""
const operators: Record<string, OperatorProcess> = {}
const scope = Effect.runSync(Scope.make())

beforeAll(async () => {
  await installFluxCrds()
  strict = await createTestNamespace("remote-strict")
  permissive = await createTestNamespace("remote-permissive")
  const run = <A, E>(e: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Scope.provide(scope)(e))
  // The second control plane starts while the git server and the operators do.
  const [cluster, git, a, b] = await Promise.all([
    run(localProvider.start({})),
    run(gitHttpServer()),
    run(operatorProcess({ kubeconfig: testKubeconfigPath(), namespace: strict })),
    run(
      operatorProcess({
        kubeconfig: testKubeconfigPath(),
        namespace: permissive,
        flags: ["--insecure-kubeconfig-exec", "--insecure-kubeconfig-tls=true"],
      }),
    ),
  ])
  remote = cluster
  server = git
  operators[strict] = a
  operators[permissive] = b
  remoteAdminYaml = await readFile(remote.kubeconfigPath, "utf8")
  for (const ns of [strict, permissive]) await onRemote(["create", "namespace", ns])
}, 300_000)

afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), 60_000)

const onRemote = (args: ReadonlyArray<string>, input?: string) =>
  kubectl(args, { kubeconfig: remote.kubeconfigPath, ...(input === undefined ? {} : { input }) })

const remoteKubeConfig = () => {
  const kc = new KubeConfig()
  kc.loadFromFile(remote.kubeconfigPath)
  return kc
}

// ------------------------------------------------------------------------------------------ what a user looks at

/** The object on the management cluster (`remote: false`) or on the remote one. */
const get = (ns: string, kind: string, name: string, where: "management" | "remote" = "management") =>
  Effect.promise(async (): Promise<Obj | undefined> => {
    const r = await runKubectl(
      ["-n", ns, "get", kind, name, "-o", "json"],
      where === "remote" ? { kubeconfig: remote.kubeconfigPath } : {},
    )
    return r.code === 0 ? (JSON.parse(r.stdout) as Obj) : undefined
  })

const conditionOf = (obj: Obj | undefined, type: string) =>
  obj?.status?.conditions?.find((c) => c.type === type)

const waitFor = <A>(ns: string, what: string, check: Effect.Effect<A | undefined>, timeoutMs = 90_000) =>
  eventually(what, check.pipe(Effect.map(Option.fromNullishOr)), timeoutMs, 300).pipe(
    Effect.catchDefect((defect) =>
      Effect.promise(async () => {
        const objects = await runKubectl(["-n", ns, "get", "kustomization", "-o", "yaml"])
        throw new Error(
          `${String(defect)}\n--- objects ---\n${objects.stdout}\n--- operator log ---\n${logTail(operators[ns]!.logFile, 30)}`,
        )
      }),
    ),
  )

const waitForKs = (ns: string, name: string, what: string, predicate: (o: Obj) => boolean) =>
  waitFor(
    ns,
    `Kustomization ${ns}/${name}: ${what}`,
    get(ns, "kustomization", name).pipe(Effect.map((o) => (o !== undefined && predicate(o) ? o : undefined))),
  )

const readyIs = (status: string) => (o: Obj) => conditionOf(o, "Ready")?.status === status

const appliedRevision = (revision: string) => (o: Obj) =>
  readyIs("True")(o) &&
  o.status?.observedGeneration === o.metadata.generation &&
  o.status?.lastAppliedRevision === revision

/** Ready=False with a message containing `text`. */
const failedWith = (text: string) => (o: Obj) =>
  readyIs("False")(o) && (conditionOf(o, "Ready")?.message ?? "").includes(text)

const requestReconcile = (ns: string, kind: string, name: string) =>
  Effect.promise(() =>
    kubectl([
      "-n",
      ns,
      "annotate",
      "--overwrite",
      kind,
      name,
      `reconcile.fluxcd.io/requestedAt=${new Date().toISOString()}`,
    ]),
  )

// ------------------------------------------------------------------------------------------ sources and objects

const configMap = (ns: string, name: string, value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${ns}\ndata:\n  value: "${value}"\n`

const source = (ns: string, name: string, files: Readonly<Record<string, string>>) =>
  Effect.gen(function* () {
    const repo = `${ns}-${name}`
    const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, repo))
    const first = yield* Effect.promise(() => commitFiles(bare, files))
    yield* Effect.promise(() =>
      applyYaml(
        stringify({
          apiVersion: "source.toolkit.fluxcd.io/v1",
          kind: "GitRepository",
          metadata: { name, namespace: ns },
          spec: { interval: "1h", ref: { branch: "main" }, url: server.repoUrl(repo) },
        }),
      ),
    )
    const push = (changes: Readonly<Record<string, string | null>>) =>
      Effect.gen(function* () {
        const commit = yield* Effect.promise(() => commitFiles(bare, changes))
        yield* requestReconcile(ns, "gitrepository", name)
        return `main@sha1:${commit}`
      })
    return { name, revision: `main@sha1:${first}`, push }
  })

const kustomization = applyKustomization

/** A kubeconfig Secret on the management cluster, labelled for the watch as Flux's docs ask. */
const kubeconfigSecret = (ns: string, name: string, data: Readonly<Record<string, string>>) =>
  Effect.promise(() =>
    applyYaml(
      stringify({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name, namespace: ns, labels: { "reconcile.fluxcd.io/watch": "Enabled" } },
        stringData: data,
      }),
    ),
  )

/** The remote cluster's kubeconfig with a user of our choosing (same server and CA as its admin one). */
const remoteKubeconfigWith = (user: Record<string, unknown>, cluster: Record<string, unknown> = {}) => {
  const admin = remoteKubeConfig()
  const current = admin.getCurrentCluster()!
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "remote",
        cluster: { server: current.server, "certificate-authority-data": current.caData, ...cluster },
      },
    ],
    users: [{ name: "remote-user", user }],
    contexts: [{ name: "remote", context: { cluster: "remote", user: "remote-user" } }],
    "current-context": "remote",
  })
}

const gitSource = (name: string) => ({ sourceRef: { kind: "GitRepository", name } })

// ------------------------------------------------------------------------------------------ scenarios

describe("Kustomization spec.kubeConfig (a second control plane as the remote cluster)", () => {
  it.live(
    "applies, health-checks, undoes drift and prunes on the remote cluster only; deletion prunes the remote",
    () =>
      Effect.gen(function* () {
        const ns = strict
        yield* kubeconfigSecret(ns, "remote-admin", { value: remoteAdminYaml })
        const src = yield* source(ns, "app", {
          "a.yaml": configMap(ns, "remote-a", "1"),
          "b.yaml": configMap(ns, "remote-b", "1"),
        })
        yield* kustomization(ns, "app", {
          ...gitSource("app"),
          kubeConfig: { secretRef: { name: "remote-admin" } },
          // Health checks of what was applied: only the remote cluster has these objects.
          wait: true,
        })
        const ready = yield* waitForKs(ns, "app", "Ready", appliedRevision(src.revision))
        expect(conditionOf(ready, "Healthy")).toMatchObject({ status: "True" })
        expect((yield* get(ns, "configmap", "remote-a", "remote"))?.data).toEqual({ value: "1" })
        expect((yield* get(ns, "configmap", "remote-b", "remote"))?.metadata.labels).toMatchObject({
          "kustomize.toolkit.fluxcd.io/name": "app",
          "kustomize.toolkit.fluxcd.io/namespace": ns,
        })
        expect(yield* get(ns, "configmap", "remote-a")).toBeUndefined()
        expect(yield* get(ns, "configmap", "remote-b")).toBeUndefined()

        // Drift on the remote (the no-change path's drift check reads the remote cluster): undone.
        yield* Effect.promise(() => onRemote(["-n", ns, "delete", "configmap", "remote-a"]))
        yield* requestReconcile(ns, "kustomization", "app")
        yield* waitFor(ns, "remote-a re-created on the remote", get(ns, "configmap", "remote-a", "remote"))

        // A file removed from Git is pruned on the remote.
        const next = yield* src.push({ "b.yaml": null })
        yield* waitForKs(ns, "app", "the next revision", appliedRevision(next))
        expect(yield* get(ns, "configmap", "remote-b", "remote")).toBeUndefined()
        expect(yield* get(ns, "configmap", "remote-a", "remote")).toBeDefined()

        // Deleting the Kustomization prunes what it applied on the remote.
        yield* Effect.promise(() => kubectl(["-n", ns, "delete", "kustomization", "app", "--wait=false"]))
        yield* waitFor(
          ns,
          "the Kustomization gone",
          get(ns, "kustomization", "app").pipe(Effect.map((o) => (o === undefined ? true : undefined))),
        )
        expect(yield* get(ns, "configmap", "remote-a", "remote")).toBeUndefined()
      }),
    240_000,
  )

  it.live(
    "serviceAccountName is impersonated on the remote cluster, with the remote's RBAC, also by the finalizer",
    () =>
      Effect.gen(function* () {
        const ns = strict
        // The ServiceAccount exists on the remote cluster only, allowed ConfigMaps there and nothing else.
        yield* Effect.promise(() => createServiceAccount(ns, "deployer", remoteKubeConfig()))
        yield* Effect.promise(() =>
          onRemote(
            ["apply", "-f", "-"],
            [
              stringify({
                apiVersion: "rbac.authorization.k8s.io/v1",
                kind: "Role",
                metadata: { name: "deployer", namespace: ns },
                rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["*"] }],
              }),
              stringify({
                apiVersion: "rbac.authorization.k8s.io/v1",
                kind: "RoleBinding",
                metadata: { name: "deployer", namespace: ns },
                roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "deployer" },
                subjects: [{ kind: "ServiceAccount", name: "deployer", namespace: ns }],
              }),
            ].join("---\n"),
          ),
        )
        yield* kubeconfigSecret(ns, "remote-admin-imp", { value: remoteAdminYaml })
        const src = yield* source(ns, "imp", {
          "cm/cm.yaml": configMap(ns, "imp-cm", "1"),
          "secret/secret.yaml": `apiVersion: v1\nkind: Secret\nmetadata:\n  name: imp-secret\n  namespace: ${ns}\n`,
        })
        const spec = {
          ...gitSource("imp"),
          kubeConfig: { secretRef: { name: "remote-admin-imp" } },
          serviceAccountName: "deployer",
        }
        yield* kustomization(ns, "imp-ok", { ...spec, path: "./cm" })
        yield* kustomization(ns, "imp-denied", { ...spec, path: "./secret" })
        yield* waitForKs(ns, "imp-ok", "Ready", appliedRevision(src.revision))
        expect((yield* get(ns, "configmap", "imp-cm", "remote"))?.metadata.labels).toMatchObject({
          "kustomize.toolkit.fluxcd.io/name": "imp-ok",
        })
        expect(yield* get(ns, "configmap", "imp-cm")).toBeUndefined()
        const denied = yield* waitForKs(ns, "imp-denied", "forbidden", readyIs("False"))
        expect(conditionOf(denied, "Ready")?.message).toMatch(/forbidden/i)
        expect(yield* get(ns, "secret", "imp-secret", "remote")).toBeUndefined()

        // The finalizer checks the ServiceAccount and prunes as it on the remote cluster.
        yield* Effect.promise(() => kubectl(["-n", ns, "delete", "kustomization", "imp-ok", "--wait=false"]))
        yield* waitFor(
          ns,
          "imp-cm pruned on the remote",
          get(ns, "configmap", "imp-cm", "remote").pipe(
            Effect.map((o) => (o === undefined ? true : undefined)),
          ),
        )
      }),
    240_000,
  )

  it.live(
    "a server that accepts connections and never answers: the cluster stage ends at spec.timeout, naming it",
    () =>
      Effect.gen(function* () {
        const ns = strict
        const blackHole = createNetServer(() => {
          // Accept and say nothing: TLS never starts.
        })
        const port = yield* Effect.acquireRelease(
          Effect.promise(
            () =>
              new Promise<number>((resolve) =>
                blackHole.listen(0, "127.0.0.1", () =>
                  resolve((blackHole.address() as { port: number }).port),
                ),
              ),
          ),
          () => Effect.sync(() => blackHole.close()),
        )
        yield* kubeconfigSecret(ns, "kc-black-hole", {
          value: remoteKubeconfigWith({ token: "t" }, { server: `https://127.0.0.1:${port}` }),
        })
        yield* source(ns, "hole", { "cm.yaml": configMap(ns, "hole-cm", "1") })
        yield* kustomization(ns, "black-hole", {
          ...gitSource("hole"),
          // Kustodian's floor for spec.timeout; each request to the server is also cut at 30 s.
          timeout: "30s",
          kubeConfig: { secretRef: { name: "kc-black-hole" } },
        })
        // Without the deadline the stage outlived spec.timeout: a server answering each request just inside the
        // request timeout held the worker for discovery's every request in turn.
        yield* waitFor(
          ns,
          "black-hole fails naming spec.timeout",
          get(ns, "kustomization", "black-hole").pipe(
            Effect.map((o) =>
              o !== undefined && failedWith("cluster timed out: the reconcile exceeded spec.timeout (30s)")(o)
                ? o
                : undefined,
            ),
          ),
          50_000,
        )
      }).pipe(Effect.scoped),
    90_000,
  )

  it.live(
    "a missing Secret or key, a bad, refused or unreachable kubeconfig: Ready=False naming the Secret and key, never its content; a fixed Secret is picked up",
    () =>
      Effect.gen(function* () {
        const ns = strict
        const token = yield* Effect.promise(async () => {
          await createServiceAccount(ns, "exec-user", remoteKubeConfig())
          return serviceAccountToken(ns, "exec-user", {}, remoteKubeConfig())
        })
        const closedPort = yield* Effect.promise(freePort)
        yield* kubeconfigSecret(ns, "kc-other-key", { config: remoteAdminYaml })
        yield* kubeconfigSecret(ns, "kc-yaml-key", { "value.yaml": remoteAdminYaml })
        yield* kubeconfigSecret(ns, "kc-unreachable", {
          value: remoteKubeconfigWith({ token }, { server: `https://127.0.0.1:${closedPort}` }),
        })
        yield* kubeconfigSecret(ns, "kc-wrong-token", {
          value: remoteKubeconfigWith({ token: "not-a-token" }),
        })
        yield* kubeconfigSecret(ns, "kc-exec", {
          value: remoteKubeconfigWith({
            exec: {
              apiVersion: "client.authentication.k8s.io/v1",
              command: "/bin/true",
              interactiveMode: "Never",
            },
          }),
        })
        yield* kubeconfigSecret(ns, "kc-insecure", {
          value: remoteKubeconfigWith(
            { token },
            { "insecure-skip-tls-verify": true, "certificate-authority-data": undefined },
          ),
        })
        yield* kubeconfigSecret(ns, "kc-token-file", {
          value: remoteKubeconfigWith({ tokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token" }),
        })
        yield* kubeconfigSecret(ns, "kc-not-yaml", { value: `clusters: [\n  token: ${token}\n  {{{` })
        const src = yield* source(ns, "bad", { "cm.yaml": configMap(ns, "bad-cm", "1") })
        const cases = [
          ["bad-missing", { name: "nope" }, `KubeConfig secret '${ns}/nope' not found`],
          [
            "bad-key",
            { name: "kc-other-key", key: "other" },
            `KubeConfig secret '${ns}/kc-other-key' does not contain a 'other' key`,
          ],
          [
            "bad-default-key",
            { name: "kc-other-key" },
            `KubeConfig secret '${ns}/kc-other-key' does not contain a 'value' key`,
          ],
          [
            "bad-unreachable",
            { name: "kc-unreachable" },
            `KubeConfig secret '${ns}/kc-unreachable' key 'value' points at a cluster that cannot be reached (connect ECONNREFUSED`,
          ],
          [
            "bad-token",
            { name: "kc-wrong-token" },
            `KubeConfig secret '${ns}/kc-wrong-token' key 'value' has credentials the remote cluster refused (401 Unauthorized)`,
          ],
          ["bad-exec", { name: "kc-exec" }, "--insecure-kubeconfig-exec"],
          ["bad-insecure", { name: "kc-insecure" }, "--insecure-kubeconfig-tls"],
          ["bad-token-file", { name: "kc-token-file" }, "users[].user.tokenFile, which is refused"],
          [
            "bad-yaml",
            { name: "kc-not-yaml" },
            `KubeConfig secret '${ns}/kc-not-yaml' key 'value' is not valid YAML`,
          ],
        ] as const
        for (const [name, secretRef] of cases)
          yield* kustomization(ns, name, { ...gitSource("bad"), kubeConfig: { secretRef } })
        yield* kustomization(ns, "bad-config-map", {
          ...gitSource("bad"),
          kubeConfig: { configMapRef: { name: "cloud-cluster" } },
        })
        yield* kustomization(ns, "yaml-key", {
          ...gitSource("bad"),
          kubeConfig: { secretRef: { name: "kc-yaml-key" } },
        })

        for (const [name, , message] of cases) {
          const failed = yield* waitForKs(ns, name, message, failedWith(message))
          expect(conditionOf(failed, "Ready")?.reason).toBe("ReconciliationFailed")
          // Retried, not stalled: the Secret may be fixed without a change to the Kustomization.
          expect(conditionOf(failed, "Stalled")).toBeUndefined()
          for (const c of failed.status?.conditions ?? []) {
            expect(c.message).not.toContain(token)
            expect(c.message).not.toContain("BEGIN")
          }
        }
        const stalled = yield* waitForKs(
          ns,
          "bad-config-map",
          "Stalled",
          (o) => conditionOf(o, "Stalled")?.status === "True",
        )
        expect(conditionOf(stalled, "Ready")).toMatchObject({ status: "False", reason: "InvalidSpec" })
        expect(conditionOf(stalled, "Stalled")?.message).toContain(
          "spec.kubeConfig.configMapRef is not supported by Kustodian",
        )
        // `value.yaml` is the second default key.
        yield* waitForKs(ns, "yaml-key", "Ready", appliedRevision(src.revision))
        expect(yield* get(ns, "configmap", "bad-cm", "remote")).toBeDefined()
        expect(yield* get(ns, "configmap", "bad-cm")).toBeUndefined()

        // Nothing in the events either.
        const events = yield* Effect.promise(() =>
          kubectl(["-n", ns, "get", "events.v1.events.k8s.io", "-o", "json"]),
        )
        expect(events).not.toContain(token)

        // The labelled Secret is watched: fixing it reconciles at once, on a new connection.
        yield* kubeconfigSecret(ns, "kc-wrong-token", { value: remoteAdminYaml })
        yield* waitForKs(ns, "bad-token", "Ready after the Secret was fixed", appliedRevision(src.revision))
      }),
    240_000,
  )

  it.live(
    "one connection pool per Kustomization and Secret version: reused while the Secret is unchanged, replaced when it changes, closed on release",
    () =>
      Effect.gen(function* () {
        const ns = strict
        // A ConfigMap that exists on the remote cluster only: whoever finds it talks to the remote.
        yield* Effect.promise(() => onRemote(["-n", ns, "create", "configmap", "only-on-remote"]))
        let secret: SecretData | undefined = {
          namespace: ns,
          name: "kc",
          uid: "uid-1",
          resourceVersion: "1",
          data: { value: Buffer.from(remoteAdminYaml).toString("base64") },
        }
        const remotes = makeRemoteClusters({
          readSecret: () => Effect.succeed(Option.fromNullishOr(secret)),
          policy: {},
        })
        const owner = `${ns}/app`
        const first = yield* remotes.resolve(owner, ns, { name: "kc" })
        const client = yield* first.access.client(controllerIdentity)
        expect(Option.isSome(yield* client.getOption(CoreResources.configMap, "only-on-remote", ns))).toBe(
          true,
        )
        expect(yield* get(ns, "configmap", "only-on-remote")).toBeUndefined()
        expect(first.version).toBe("uid-1@1#value")
        expect(yield* remotes.resolve(owner, ns, { name: "kc" })).toBe(first)
        expect(remotes.size()).toBe(1)

        secret = { ...secret, resourceVersion: "2" }
        const second = yield* remotes.resolve(owner, ns, { name: "kc" })
        expect(second).not.toBe(first)
        expect(second.version).toBe("uid-1@2#value")
        expect(remotes.size()).toBe(1)

        yield* remotes.release(owner)
        expect(remotes.size()).toBe(0)
        yield* remotes.resolve(owner, ns, { name: "kc" })
        secret = undefined
        const gone = yield* remotes.resolve(owner, ns, { name: "kc" }).pipe(Effect.flip)
        expect(gone.message).toBe(`KubeConfig secret '${ns}/kc' not found`)
        expect(remotes.size()).toBe(0)
      }),
    120_000,
  )

  it.live(
    "--insecure-kubeconfig-exec and --insecure-kubeconfig-tls allow an exec plugin and skipped TLS verification",
    () =>
      Effect.gen(function* () {
        const ns = permissive
        const remoteKc = remoteKubeConfig()
        yield* Effect.promise(() => createServiceAccount(ns, "exec-admin", remoteKc))
        yield* Effect.promise(() =>
          onRemote([
            "create",
            "clusterrolebinding",
            `${ns}-exec-admin`,
            "--clusterrole=cluster-admin",
            `--serviceaccount=${ns}:exec-admin`,
          ]),
        )
        const token = yield* Effect.promise(() => serviceAccountToken(ns, "exec-admin", {}, remoteKc))
        // A credential plugin as EKS or GKE ship them: a program printing an ExecCredential.
        const dir = yield* Scope.provide(scope)(scratchDir("kustodian-exec-plugin-"))
        const plugin = join(dir, "credential-plugin")
        const credential = JSON.stringify({
          apiVersion: "client.authentication.k8s.io/v1",
          kind: "ExecCredential",
          status: { token },
        })
        yield* Effect.promise(async () => {
          await writeFile(plugin, `#!/bin/sh\ncat <<'EOF'\n${credential}\nEOF\n`)
          await chmod(plugin, 0o755)
        })
        yield* kubeconfigSecret(ns, "kc-exec-insecure", {
          value: remoteKubeconfigWith(
            {
              exec: {
                apiVersion: "client.authentication.k8s.io/v1",
                command: plugin,
                interactiveMode: "Never",
              },
            },
            { "insecure-skip-tls-verify": true, "certificate-authority-data": undefined },
          ),
        })
        const src = yield* source(ns, "exec", { "cm.yaml": configMap(ns, "exec-cm", "1") })
        yield* kustomization(ns, "exec", {
          ...gitSource("exec"),
          kubeConfig: { secretRef: { name: "kc-exec-insecure" } },
        })
        yield* waitForKs(ns, "exec", "Ready", appliedRevision(src.revision))
        const cm = yield* get(ns, "configmap", "exec-cm", "remote")
        expect(cm?.data).toEqual({ value: "1" })
        expect(yield* get(ns, "configmap", "exec-cm")).toBeUndefined()
      }),
    240_000,
  )
})
