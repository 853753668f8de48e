/**
 * dist/install.yaml against a real API server: it applies with server-side apply, and the controller's
 * ServiceAccount, acting with its own token under the synthesized RBAC, can do the controller's work and
 * nothing more. Applying users' objects goes through impersonation of spec.serviceAccountName, or through the
 * separate cluster-admin binding.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { parseAllDocuments, stringify } from "yaml"
import {
  createServiceAccount,
  createTestNamespace,
  kubeconfigYamlForToken,
  kubectl,
  serviceAccountToken,
} from "../e2e/support/cluster.ts"
import { names, rbacTierLabel } from "./install.ts"

type Doc = Record<string, unknown> & {
  kind: string
  metadata: { name: string; labels?: Record<string, string> }
}

const root = join(import.meta.dirname, "..")
const docs = parseAllDocuments(readFileSync(join(root, "dist/install.yaml"), "utf8")).map(
  (d) => d.toJS() as Doc,
)
const systemNamespace = docs.find((d) => d.kind === "Namespace")!.metadata.name
const isDeployment = (d: Doc) => d.kind === "Deployment"
const isClusterAdmin = (d: Doc) => d.metadata.labels?.[rbacTierLabel] === "cluster-reconciler"
const yamlOf = (list: ReadonlyArray<Doc>) => list.map((d) => stringify(d)).join("---\n")

const admin = (args: ReadonlyArray<string>, input?: string) =>
  Effect.promise(() => kubectl(args, input === undefined ? {} : { input }))

let dir = ""
const leaseName = `kustodian-leader-${Date.now().toString(36)}`
let ns = ""
let controllerKubeconfig = ""

/** kubectl as the controller's ServiceAccount; fails with kubectl's error text. */
const asController = (args: ReadonlyArray<string>, input?: string) =>
  Effect.tryPromise({
    try: () => kubectl(args, { kubeconfig: controllerKubeconfig, ...(input === undefined ? {} : { input }) }),
    catch: (e) => (e as Error).message,
  })

const allowed = (args: ReadonlyArray<string>, input?: string) =>
  asController(args, input).pipe(
    Effect.mapError((m) => new Error(`expected allowed: ${args.join(" ")}\n${m}`)),
  )

const forbidden = (args: ReadonlyArray<string>, input?: string) =>
  Effect.gen(function* () {
    const message = yield* Effect.flip(asController(args, input)).pipe(
      Effect.mapError(() => new Error(`expected forbidden, but allowed: ${args.join(" ")}`)),
    )
    expect(message, args.join(" ")).toMatch(/forbidden|cannot/i)
  })

beforeAll(async () => {
  // Everything but the Deployment (no scheduler or kubelet here) and the cluster-admin binding (tested last).
  const applied = docs.filter((d) => !isDeployment(d) && !isClusterAdmin(d))
  await kubectl(["apply", "--server-side", "--field-manager=kustodian-e2e", "-f", "-"], {
    input: yamlOf(applied),
  })
  await kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/kustomizations.kustomize.toolkit.fluxcd.io",
  ])
  await kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/gitrepositories.source.toolkit.fluxcd.io",
  ])

  ns = await createTestNamespace("rbac")
  await kubectl(["create", "-n", ns, "secret", "generic", "git-auth", "--from-literal=username=u"])
  await kubectl(["create", "-n", ns, "configmap", "vars", "--from-literal=cluster=test"])
  await kubectl(["create", "-f", "-"], {
    input: yamlOf([
      {
        apiVersion: "kustomize.toolkit.fluxcd.io/v1",
        kind: "Kustomization",
        metadata: { name: "apps", namespace: ns },
        spec: {
          interval: "10m",
          prune: true,
          sourceRef: { kind: "GitRepository", name: "repo" },
          serviceAccountName: "deployer",
        },
      },
      {
        apiVersion: "source.toolkit.fluxcd.io/v1",
        kind: "GitRepository",
        metadata: { name: "repo", namespace: ns },
        spec: { interval: "1m", url: "https://example.com/repo.git" },
      },
    ] as unknown as Array<Doc>),
  })
  // The tenant's ServiceAccount a Kustomization names: may manage ConfigMaps in its namespace, nothing else.
  await createServiceAccount(ns, "deployer")
  await kubectl([
    "create",
    "-n",
    ns,
    "role",
    "deployer",
    "--verb=get,list,create,patch,delete",
    "--resource=configmaps",
  ])
  await kubectl([
    "create",
    "-n",
    ns,
    "rolebinding",
    "deployer",
    "--role=deployer",
    `--serviceaccount=${ns}:deployer`,
  ])

  const token = await serviceAccountToken(systemNamespace, names.serviceAccount)
  dir = mkdtempSync(join(tmpdir(), "kustodian-rbac-"))
  controllerKubeconfig = join(dir, "kubeconfig")
  writeFileSync(controllerKubeconfig, kubeconfigYamlForToken(token), { mode: 0o600 })
})

afterAll(() => {
  if (dir !== "") rmSync(dir, { recursive: true, force: true })
})

describe("dist/install.yaml", () => {
  it.effect("applies with server-side apply; the Deployment passes a server-side dry run", () =>
    Effect.gen(function* () {
      // Re-applying is a no-op for SSA and proves the whole file (minus the Deployment) is accepted as is.
      yield* admin(
        ["apply", "--server-side", "--field-manager=kustodian-e2e", "-f", "-"],
        yamlOf(docs.filter((d) => !isDeployment(d) && !isClusterAdmin(d))),
      )
      const out = yield* admin(
        [
          "apply",
          "--server-side",
          "--dry-run=server",
          "--field-manager=kustodian-e2e",
          "-o",
          "json",
          "-f",
          "-",
        ],
        yamlOf(docs.filter(isDeployment)),
      )
      const deployment = JSON.parse(out) as {
        spec: { template: { spec: { containers: Array<{ securityContext: Record<string, unknown> }> } } }
      }
      expect(deployment.spec.template.spec.containers[0]?.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
      })
      const binding = yield* admin(
        [
          "apply",
          "--server-side",
          "--dry-run=server",
          "--field-manager=kustodian-e2e",
          "-o",
          "name",
          "-f",
          "-",
        ],
        yamlOf(docs.filter(isClusterAdmin)),
      )
      expect(binding.trim()).toBe(`clusterrolebinding.rbac.authorization.k8s.io/${names.clusterReconciler}`)
    }),
  )
})

describe("the controller's ServiceAccount with its own token", () => {
  it.effect("watches and reads both kinds cluster-wide and writes their status and finalizers", () =>
    Effect.gen(function* () {
      expect(yield* allowed(["get", "ks,gitrepo", "-A", "-o", "name"])).toContain(
        "kustomization.kustomize.toolkit.fluxcd.io/apps",
      )
      yield* allowed([
        "get",
        "--raw",
        "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations?watch=1&timeoutSeconds=1",
      ])
      yield* allowed([
        "get",
        "--raw",
        "/apis/source.toolkit.fluxcd.io/v1/gitrepositories?watch=1&timeoutSeconds=1",
      ])
      yield* allowed([
        "patch",
        "-n",
        ns,
        "kustomization/apps",
        "--type=merge",
        "-p",
        JSON.stringify({ metadata: { finalizers: ["finalizers.fluxcd.io"] } }),
      ])
      const status = {
        status: {
          observedGeneration: 1,
          conditions: [
            {
              type: "Ready",
              status: "Unknown",
              reason: "Progressing",
              message: "Reconciliation in progress",
              lastTransitionTime: "2026-11-27T12:00:00Z",
            },
          ],
        },
      }
      for (const target of ["kustomization/apps", "gitrepository/repo"]) {
        yield* allowed([
          "patch",
          "-n",
          ns,
          target,
          "--subresource=status",
          "--type=merge",
          "-p",
          JSON.stringify(status),
        ])
      }
      const live = JSON.parse(yield* admin(["get", "-n", ns, "kustomization/apps", "-o", "json"])) as {
        status: { conditions: Array<{ reason: string }> }
      }
      expect(live.status.conditions[0]?.reason).toBe("Progressing")
    }),
  )

  it.effect("reads Secrets and ConfigMaps, records Events and holds its leader-election Lease", () =>
    Effect.gen(function* () {
      yield* allowed(["get", "-n", ns, "secret/git-auth", "-o", "name"])
      yield* allowed(["get", "secrets", "-A", "-o", "name"])
      yield* allowed(["get", "-n", ns, "configmap/vars", "-o", "name"])
      yield* allowed(
        ["create", "-f", "-"],
        stringify({
          apiVersion: "events.k8s.io/v1",
          kind: "Event",
          metadata: { name: "apps.reconciled", namespace: ns },
          eventTime: "2026-11-27T12:00:00.000000Z",
          reportingController: "kustodian",
          reportingInstance: "kustodian-controller-0",
          action: "Reconcile",
          reason: "ReconciliationSucceeded",
          type: "Normal",
          note: "Reconciliation finished",
          regarding: {
            apiVersion: "kustomize.toolkit.fluxcd.io/v1",
            kind: "Kustomization",
            name: "apps",
            namespace: ns,
          },
        }),
      )
      const lease = (namespace: string) =>
        stringify({
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: leaseName, namespace },
          spec: { holderIdentity: "kustodian-controller-0", leaseDurationSeconds: 15 },
        })
      yield* allowed(["create", "-f", "-"], lease(systemNamespace))
      yield* allowed(["get", "-n", systemNamespace, `lease/${leaseName}`])
      yield* allowed(["replace", "-f", "-"], lease(systemNamespace))
      yield* forbidden(["create", "-f", "-"], lease(ns))
      yield* forbidden(["delete", "-n", systemNamespace, `lease/${leaseName}`])
      // --leader-pod-label: the leader labels its own Pod, and clears a dead leader's, in its namespace only.
      const pod = `kustodian-controller-${Date.now().toString(36)}`
      const podManifest = (name: string) =>
        stringify({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name, namespace: systemNamespace },
          spec: {
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 65532,
              seccompProfile: { type: "RuntimeDefault" },
            },
            containers: [
              {
                name: "manager",
                image: "kustodian:test",
                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
              },
            ],
          },
        })
      yield* admin(["create", "-f", "-"], podManifest(pod))
      const label = [
        "--type=merge",
        "-p",
        JSON.stringify({ metadata: { labels: { "kustodian.io/leader": "true" } } }),
      ]
      yield* allowed(["patch", "-n", systemNamespace, `pod/${pod}`, ...label])
      yield* allowed(["get", "-n", systemNamespace, "pods", "-l", "kustodian.io/leader=true", "-o", "name"])
      yield* forbidden(["patch", "-n", ns, `pod/${pod}`, ...label])
      yield* forbidden(["delete", "-n", systemNamespace, `pod/${pod}`])
      yield* forbidden([
        "run",
        "-n",
        systemNamespace,
        `${pod}-2`,
        "--image=kustodian:test",
        "--restart=Never",
      ])
      yield* admin(["delete", "-n", systemNamespace, `pod/${pod}`, "--wait=false"])
    }),
  )

  it.effect("applies users' objects only by impersonating spec.serviceAccountName", () =>
    Effect.gen(function* () {
      const as = `--as=system:serviceaccount:${ns}:deployer`
      yield* forbidden(["create", "-n", ns, "configmap", "direct", "--from-literal=a=b"])
      yield* allowed([as, "create", "-n", ns, "configmap", "impersonated", "--from-literal=a=b"])
      // The impersonated identity's own limits still hold.
      yield* forbidden([as, "create", "-n", ns, "secret", "generic", "nope", "--from-literal=a=b"])
      // The API server gives an impersonated ServiceAccount its groups itself (system:serviceaccounts[:<ns>]),
      // so RBAC bound to those groups applies; sending Impersonate-Group would need impersonate on groups.
      yield* admin([
        "create",
        "-n",
        ns,
        "role",
        "sa-group-reader",
        "--verb=get,list",
        "--resource=configmaps",
      ])
      yield* admin([
        "create",
        "-n",
        ns,
        "rolebinding",
        "sa-group-reader",
        "--role=sa-group-reader",
        `--group=system:serviceaccounts:${ns}`,
      ])
      yield* allowed([`--as=system:serviceaccount:${ns}:someone-else`, "get", "-n", ns, "configmap/vars"])
      yield* forbidden([as, `--as-group=system:serviceaccounts:${ns}`, "get", "-n", ns, "configmaps"])
      // Impersonating anything but a ServiceAccount is not granted.
      yield* forbidden(["--as=admin", "get", "-n", ns, "configmaps"])
      yield* forbidden([as, "--as-group=system:masters", "get", "-n", ns, "configmaps"])
    }),
  )

  it.effect("cannot do more than that", () =>
    Effect.gen(function* () {
      yield* forbidden(["delete", "-n", ns, "secret/git-auth"])
      yield* forbidden(["create", "-n", ns, "secret", "generic", "stolen", "--from-literal=a=b"])
      yield* forbidden([
        "patch",
        "-n",
        ns,
        "secret/git-auth",
        "--type=merge",
        "-p",
        '{"data":{"username":"eA=="}}',
      ])
      yield* forbidden([
        "patch",
        "-n",
        ns,
        "configmap/vars",
        "--type=merge",
        "-p",
        '{"data":{"cluster":"x"}}',
      ])
      yield* forbidden(["delete", "-n", ns, "kustomization/apps"])
      yield* forbidden(["delete", "-n", ns, "gitrepository/repo"])
      yield* forbidden(["get", "-n", ns, "pods"])
      yield* forbidden(["get", "deployments", "-A"])
      yield* forbidden(["get", "namespaces"])
      yield* forbidden([
        "create",
        "clusterrolebinding",
        "escalate",
        "--clusterrole=cluster-admin",
        "--user=me",
      ])
      yield* forbidden(["create", "-n", ns, "token", "deployer"])
    }),
  )

  it.effect(
    "with the separate cluster-reconciler binding, applies objects of Kustomizations without serviceAccountName",
    () =>
      Effect.gen(function* () {
        yield* forbidden(["create", "-n", ns, "configmap", "as-controller", "--from-literal=a=b"])
        yield* admin(
          ["apply", "--server-side", "--field-manager=kustodian-e2e", "-f", "-"],
          yamlOf(docs.filter(isClusterAdmin)),
        )
        // RBAC changes reach the authorizer's cache asynchronously; retry briefly.
        yield* allowed(["create", "-n", ns, "configmap", "as-controller", "--from-literal=a=b"]).pipe(
          Effect.retry({ times: 20, schedule: Schedule.spaced("250 millis") }),
          Effect.ensuring(admin(["delete", "clusterrolebinding", names.clusterReconciler])),
        )
      }),
  )
})
