/**
 * dist/install-multitenant.yaml against a real API server, with the operator running as the install's
 * ServiceAccount (its own token, the install's RBAC, the install's lockdown flags): tenant A's repository cannot
 * change tenant B's objects, cannot lift its own rights, and cannot use B's source.
 *
 * The install is re-rendered by the same synthesis for a namespace of this file's own, and its cluster-scoped
 * objects get a suffix, so it does not touch the objects synth/install.e2e.test.ts applies to the shared control
 * plane (that file briefly binds cluster-admin to `kustodian-system/kustodian-controller`). The rules, the
 * bindings and the controller flags are the synthesized ones, unchanged.
 *
 * The tenant's ServiceAccount is bound to a ClusterRole of this file rather than the built-in `edit`: the test
 * control plane has no kube-controller-manager, so the built-in aggregated roles have no rules. It grants what
 * `edit` plus `admin`'s RoleBinding management grant for the objects used here, in A's namespace only.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Option, Scope } from "effect"
import { parseAllDocuments, stringify } from "yaml"
import {
  applyYaml,
  createServiceAccount,
  createTestNamespace,
  kubeconfigYamlForToken,
  kubectl,
  runKubectl,
  serviceAccountToken,
  waitForCrds,
} from "../e2e/support/cluster.ts"
import { eventually } from "../e2e/support/eventually.ts"
import { commitFiles, createBareRepo, type GitHttpServer, gitHttpServer } from "../e2e/support/git-server.ts"
import { type OperatorProcess, operatorProcess } from "../e2e/support/operator-process.ts"
import { logTail } from "../e2e/support/process.ts"
import { renderAll } from "./app.ts"
import { defaultInstallOptions, multiTenantFlags, names } from "./install.ts"

type Doc = Record<string, unknown> & {
  kind: string
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> }
  roleRef?: { kind: string; name: string }
}

interface Condition {
  readonly type: string
  readonly status: string
  readonly reason: string
  readonly message: string
}

interface Live {
  readonly metadata: {
    readonly resourceVersion: string
    readonly generation?: number
    readonly managedFields?: ReadonlyArray<{ manager: string }>
  }
  readonly spec?: unknown
  readonly data?: unknown
  readonly status?: {
    readonly conditions?: ReadonlyArray<Condition>
    readonly observedGeneration?: number
    readonly artifact?: { readonly url: string }
  }
}

const suffix = Date.now().toString(36)
/** This file's operator reconciles only objects with this label, so other files' operators and it never meet. */
const shardLabel = "kustodian.test/tenancy"
const yamlOf = (list: ReadonlyArray<unknown>) => list.map((d) => stringify(d)).join("---\n")

let systemNs = ""
let tenantA = ""
let tenantB = ""
let dir = ""
let controllerKubeconfig = ""
let server: GitHttpServer
let operator: OperatorProcess
let installArgs: Array<string> = []
const scope = Effect.runSync(Scope.make())

/** The multi-tenant install for `namespace`, with cluster-scoped names made unique to this run. */
const isolatedInstall = (namespace: string): Array<Doc> => {
  const text = renderAll({ ...defaultInstallOptions, namespace }).get("dist/install-multitenant.yaml") ?? ""
  const ours = new Set<string>()
  const docs = parseAllDocuments(text).map((d) => d.toJS() as Doc)
  for (const d of docs) {
    if (d.kind === "ClusterRole" || d.kind === "ClusterRoleBinding") {
      ours.add(`${d.kind}/${d.metadata.name}`)
      d.metadata.name = `${d.metadata.name}-${suffix}`
    }
  }
  for (const d of docs)
    if (d.kind === "ClusterRoleBinding" && d.roleRef !== undefined) {
      // Every ClusterRoleBinding of the multi-tenant install binds one of its own ClusterRoles.
      expect(ours).toContain(`ClusterRole/${d.roleRef.name}`)
      d.roleRef.name = `${d.roleRef.name}-${suffix}`
    }
  return docs
}

/** kubectl as the controller's ServiceAccount; resolves with the exit code and output. */
const asController = (args: ReadonlyArray<string>) =>
  Effect.promise(() => runKubectl(args, { kubeconfig: controllerKubeconfig }))

const get = (ns: string, kind: string, name: string) =>
  Effect.promise(async (): Promise<Live | undefined> => {
    const r = await runKubectl(["-n", ns, "get", kind, name, "-o", "json", "--show-managed-fields"])
    return r.code === 0 ? (JSON.parse(r.stdout) as Live) : undefined
  })

const readyOf = (o: Live | undefined) => o?.status?.conditions?.find((c) => c.type === "Ready")

/** Waits for the Kustomization's Ready condition to satisfy `check` for its current generation. */
const waitReady = (name: string, what: string, check: (c: Condition) => boolean, timeoutMs = 90_000) =>
  eventually(
    `Kustomization ${tenantA}/${name}: ${what}`,
    get(tenantA, "kustomization", name).pipe(
      Effect.map((o) => {
        const ready = readyOf(o)
        return ready !== undefined && o?.status?.observedGeneration === o?.metadata.generation && check(ready)
          ? Option.some(ready)
          : Option.none()
      }),
    ),
    timeoutMs,
    300,
  ).pipe(
    Effect.catchDefect((defect) =>
      Effect.gen(function* () {
        const objects = yield* Effect.promise(() =>
          runKubectl(["-n", tenantA, "get", "kustomization,gitrepository", "-o", "yaml"]),
        )
        return yield* Effect.die(
          new Error(
            `${String(defect)}\n--- objects ---\n${objects.stdout}\n--- operator log ---\n${logTail(operator.logFile, 40)}`,
          ),
        )
      }),
    ),
  )

const kustomization = (name: string, spec: Record<string, unknown>) =>
  Effect.promise(() =>
    applyYaml(
      stringify({
        apiVersion: "kustomize.toolkit.fluxcd.io/v1",
        kind: "Kustomization",
        metadata: { name, namespace: tenantA, labels: { [shardLabel]: suffix } },
        // No serviceAccountName anywhere: --default-service-account=default decides who applies.
        spec: {
          interval: "1h",
          prune: true,
          sourceRef: { kind: "GitRepository", name: "tenant-a" },
          ...spec,
        },
      }),
    ),
  )

/** What must not change in B: the object's version, its spec or data, and who manages its fields. */
const fingerprint = (o: Live | undefined) =>
  o === undefined
    ? undefined
    : {
        resourceVersion: o.metadata.resourceVersion,
        spec: o.spec,
        data: o.data,
        managers: (o.metadata.managedFields ?? []).map((f) => f.manager).sort(),
      }

beforeAll(async () => {
  systemNs = `kustodian-mt-${suffix}`
  const install = isolatedInstall(systemNs)
  const crds = install.filter((d) => d.kind === "CustomResourceDefinition")
  // CRDs are shared by every test file: applied as the other files do; the rest is this file's own.
  await applyYaml(yamlOf(crds))
  await waitForCrds(crds.map((d) => d.metadata.name))
  const rest = install.filter((d) => d.kind !== "CustomResourceDefinition" && d.kind !== "Deployment")
  await kubectl(["apply", "--server-side", "--field-manager=kustodian-e2e", "-f", "-"], {
    input: yamlOf(rest),
  })
  const deployment = install.find((d) => d.kind === "Deployment") as unknown as {
    spec: { template: { spec: { containers: Array<{ args: Array<string> }> } } }
  }
  installArgs = deployment.spec.template.spec.containers[0]?.args ?? []

  const token = await serviceAccountToken(systemNs, names.serviceAccount)
  dir = mkdtempSync(join(tmpdir(), "kustodian-multitenant-"))
  controllerKubeconfig = join(dir, "kubeconfig")
  writeFileSync(controllerKubeconfig, kubeconfigYamlForToken(token), { mode: 0o600 })

  tenantA = await createTestNamespace("tenant-a")
  tenantB = await createTestNamespace("tenant-b")
  const tenantRole = `tenant-edit-${suffix}`
  await applyYaml(
    yamlOf([
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: tenantRole },
        rules: [
          {
            apiGroups: [""],
            resources: ["configmaps", "secrets"],
            verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
          },
          {
            apiGroups: ["source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io"],
            resources: ["gitrepositories", "kustomizations"],
            verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
          },
          {
            apiGroups: ["rbac.authorization.k8s.io"],
            resources: ["rolebindings"],
            verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
          },
        ],
      },
      ...[tenantA, tenantB].map((ns) => ({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "default-edit", namespace: ns },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: tenantRole },
        subjects: [{ kind: "ServiceAccount", name: "default", namespace: ns }],
      })),
    ]),
  )
  // No kube-controller-manager makes `default` ServiceAccounts here; a real cluster has them.
  await Promise.all([createServiceAccount(tenantA, "default"), createServiceAccount(tenantB, "default")])

  server = await Effect.runPromise(Scope.provide(scope)(gitHttpServer()))
  // B's own objects: a GitRepository and a ConfigMap. Not in this operator's shard, so only A's attempts could
  // change them.
  await applyYaml(
    yamlOf([
      {
        apiVersion: "source.toolkit.fluxcd.io/v1",
        kind: "GitRepository",
        metadata: { name: "tenant-b", namespace: tenantB },
        spec: { interval: "1h", url: server.repoUrl("tenant-b"), ref: { branch: "main" } },
      },
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "settings", namespace: tenantB },
        data: { owner: "bravo-team" },
      },
    ]),
  )

  // A's repository: one directory per attempt, and one with what A may do in its own namespace.
  const bare = await createBareRepo(server.reposDir, "tenant-a")
  await commitFiles(bare, {
    "own/configmap.yaml": stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "settings", namespace: tenantA },
      data: { owner: "alpha-team" },
    }),
    "own/gitrepository.yaml": stringify({
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name: "mirror", namespace: tenantA },
      spec: { interval: "1h", url: server.repoUrl("tenant-a"), ref: { branch: "main" } },
    }),
    // Re-point B's source at A's repository: server-side apply of a partial object is a patch.
    "patch-source/gitrepository.yaml": stringify({
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name: "tenant-b", namespace: tenantB },
      spec: { interval: "1m", url: server.repoUrl("tenant-a"), ref: { branch: "main" } },
    }),
    "overwrite-config/configmap.yaml": stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "settings", namespace: tenantB },
      data: { owner: "alpha-team" },
    }),
    // A may manage RoleBindings in its namespace, but not grant rights it does not hold.
    "escalate/rolebinding.yaml": stringify({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "take-over", namespace: tenantA },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
      subjects: [{ kind: "ServiceAccount", name: "default", namespace: tenantA }],
    }),
  })
  await applyYaml(
    stringify({
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "GitRepository",
      metadata: { name: "tenant-a", namespace: tenantA, labels: { [shardLabel]: suffix } },
      spec: { interval: "1h", url: server.repoUrl("tenant-a"), ref: { branch: "main" } },
    }),
  )

  // The install's own controller arguments, minus the addresses, paths, leader election and the leader's Pod
  // label that the test process sets for itself (free loopback ports, a temp storage directory, no Pod).
  const local = [
    "--metrics-addr=",
    "--health-addr=",
    "--storage-addr=",
    "--storage-path=",
    "--storage-adv-addr=",
    "--enable-leader-election",
    "--leader-pod-label",
  ]
  const flags = installArgs.slice(1).filter((a) => !local.some((l) => a.startsWith(l)))
  operator = await Effect.runPromise(
    Scope.provide(scope)(
      operatorProcess({
        kubeconfig: controllerKubeconfig,
        flags: [...flags, `--watch-label-selector=${shardLabel}=${suffix}`],
      }),
    ),
  )
}, 300_000)

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  if (dir !== "") rmSync(dir, { recursive: true, force: true })
  // Cluster-scoped objects outlive namespaces: remove this run's.
  await runKubectl([
    "delete",
    "--ignore-not-found",
    `clusterrole/${names.controllerRole}-${suffix}`,
    `clusterrole/${names.viewRole}-${suffix}`,
    `clusterrole/${names.editRole}-${suffix}`,
    `clusterrolebinding/${names.controllerRole}-${suffix}`,
    `clusterrole/tenant-edit-${suffix}`,
  ])
}, 60_000)

describe("dist/install-multitenant.yaml with the operator running as its ServiceAccount", () => {
  it("runs the controller with Flux's lockdown flags and binds no cluster-admin", () => {
    expect(installArgs).toEqual(expect.arrayContaining([...multiTenantFlags]))
    expect(isolatedInstall(systemNs).map((d) => d.roleRef?.name)).not.toContain("cluster-admin")
  })

  it.live(
    "a tenant's Kustomization without serviceAccountName acts as its namespace's default ServiceAccount: it may change its own namespace, not another tenant's, and cannot lift its rights",
    () =>
      Effect.gen(function* () {
        const before = {
          source: fingerprint(yield* get(tenantB, "gitrepository", "tenant-b")),
          config: fingerprint(yield* get(tenantB, "configmap", "settings")),
        }
        expect(before.source?.spec).toMatchObject({ url: server.repoUrl("tenant-b") })
        // The controller itself can change nothing of B: whatever is applied is applied as a tenant.
        const direct = yield* asController([
          "-n",
          tenantB,
          "patch",
          "configmap/settings",
          "--type=merge",
          "-p",
          '{"data":{"owner":"controller"}}',
        ])
        expect(direct.code).not.toBe(0)
        expect(direct.stderr).toMatch(/forbidden/i)

        // Positive control: the same kinds in A's own namespace apply as A's default ServiceAccount.
        yield* kustomization("own", { path: "./own" })
        yield* kustomization("patch-source", { path: "./patch-source" })
        yield* kustomization("overwrite-config", { path: "./overwrite-config" })
        yield* kustomization("escalate", { path: "./escalate" })

        const own = yield* waitReady("own", "Ready=True", (c) => c.status === "True")
        expect(own.message).toMatch(/^Applied revision: main@sha1:/u)
        const applied = yield* get(tenantA, "configmap", "settings")
        expect(applied?.data).toEqual({ owner: "alpha-team" })
        expect(applied?.metadata.managedFields?.map((f) => f.manager)).toContain("kustomize-controller")
        expect(yield* get(tenantA, "gitrepository", "mirror")).toBeDefined()
        // The artifact server is bound to loopback, and the URL it advertises is the one that reaches it.
        const url = (yield* get(tenantA, "gitrepository", "tenant-a"))?.status?.artifact?.url
        expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/gitrepository\//u)
        expect((yield* Effect.promise(() => fetch(url ?? ""))).status).toBe(200)

        // The operator's words and the API server's: values of the applied objects are redacted from messages,
        // so the test's values are chosen not to occur in names.
        const identities = [`ServiceAccount ${tenantA}/default`, `system:serviceaccount:${tenantA}:default`]
        for (const [name, object] of [
          ["patch-source", /GitRepository.*tenant-b|tenant-b.*GitRepository|gitrepositories/iu],
          ["overwrite-config", /ConfigMap.*settings|configmaps/iu],
        ] as const) {
          const ready = yield* waitReady(name, "Ready=False", (c) => c.status === "False")
          expect(ready.reason, name).toBe("ReconciliationFailed")
          // Names the object refused, the namespace it is in, and who was refused.
          expect(ready.message, name).toMatch(object)
          expect(ready.message, name).toContain(tenantB)
          expect(ready.message, name).toMatch(/forbidden/iu)
          for (const identity of identities) expect(ready.message, name).toContain(identity)
        }
        const escalate = yield* waitReady("escalate", "Ready=False", (c) => c.status === "False")
        expect(escalate.reason).toBe("ReconciliationFailed")
        expect(escalate.message).toContain("take-over")
        expect(escalate.message).toMatch(/forbidden|escalat|not currently held/iu)
        expect(yield* get(tenantA, "rolebinding", "take-over")).toBeUndefined()

        // B's objects are exactly as they were: same version, same spec and data, no new field manager.
        expect(fingerprint(yield* get(tenantB, "gitrepository", "tenant-b"))).toEqual(before.source)
        expect(fingerprint(yield* get(tenantB, "configmap", "settings"))).toEqual(before.config)
      }),
    180_000,
  )

  it.live(
    "a Kustomization whose sourceRef is another namespace's GitRepository is refused under --no-cross-namespace-refs",
    () =>
      Effect.gen(function* () {
        const before = fingerprint(yield* get(tenantB, "gitrepository", "tenant-b"))
        yield* kustomization("borrow-source", {
          path: "./",
          sourceRef: { kind: "GitRepository", name: "tenant-b", namespace: tenantB },
        })
        const ready = yield* waitReady("borrow-source", "Ready=False", (c) => c.status === "False")
        expect(ready.reason).toBe("AccessDenied")
        expect(ready.message).toContain("--no-cross-namespace-refs")
        expect(ready.message).toContain(`GitRepository 'tenant-b' in namespace '${tenantB}'`)
        expect(fingerprint(yield* get(tenantB, "gitrepository", "tenant-b"))).toEqual(before)
      }),
    120_000,
  )
})
