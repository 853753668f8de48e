import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { parseAllDocuments } from "yaml"
import { parseControllerFlags } from "../operator/src/cli/controller.ts"
import { renderAll } from "./app.ts"
import {
  defaultInstallOptions,
  leaderPodLabel,
  multiTenantFlags,
  names,
  ports,
  rbacTierLabel,
  shutdown,
} from "./install.ts"

const root = join(import.meta.dirname, "..")
const files = renderAll(defaultInstallOptions)
const docs = (path: string) =>
  parseAllDocuments(files.get(path) ?? "").map((d) => d.toJS() as Record<string, unknown> & { kind: string })

const installs = ["dist/install.yaml", "dist/install-multitenant.yaml"] as const
/** What the Deployment's downward API gives the container. */
const podEnv = { RUNTIME_NAMESPACE: "kustodian-system", POD_NAME: "kustodian-controller-0" }
const nameOf = (d: Record<string, unknown>) => (d.metadata as { name: string }).name
type Rule = {
  apiGroups: Array<string>
  resources: Array<string>
  verbs: Array<string>
  resourceNames?: Array<string>
}
type Binding = {
  metadata: { name: string; labels?: Record<string, string> }
  roleRef: { kind: string; name: string }
}
const bindings = (path: string) =>
  docs(path).filter(
    (d) => d.kind === "ClusterRoleBinding" || d.kind === "RoleBinding",
  ) as unknown as Array<Binding>
/** The controller container's args, `controller` first. */
const argsOf = (path: string): Array<string> => {
  const deployment = docs(path).find((d) => d.kind === "Deployment") as unknown as {
    spec: { template: { spec: { containers: Array<{ args: Array<string> }> } } }
  }
  return deployment.spec.template.spec.containers[0]?.args ?? []
}

/** Every node of a JSON tree with its path. */
const walk = function* (node: unknown, path = ""): Generator<[string, Record<string, unknown>]> {
  if (Array.isArray(node)) for (const [i, n] of node.entries()) yield* walk(n, `${path}[${i}]`)
  else if (typeof node === "object" && node !== null) {
    yield [path, node as Record<string, unknown>]
    for (const [k, v] of Object.entries(node)) yield* walk(v, `${path}.${k}`)
  }
}

describe("generated files", () => {
  it("are committed and up to date (run `npm run synth` when this fails)", () => {
    expect([...files.keys()].sort()).toEqual([
      "crds/kustodian.io_reconcilejournals.yaml",
      "crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml",
      "crds/source.toolkit.fluxcd.io_gitrepositories.yaml",
      "dist/install-multitenant.yaml",
      "dist/install.yaml",
    ])
    for (const [path, content] of files) {
      expect(readFileSync(join(root, path), "utf8"), `${path} is stale: run npm run synth`).toBe(content)
    }
  })

  it("CRD schemas are structural: no $ref, anyOf/oneOf/allOf, or additionalProperties beside properties", () => {
    for (const path of [...files.keys()].filter((p) => p.startsWith("crds/"))) {
      const [crd] = docs(path)
      for (const [at, node] of walk(crd)) {
        if (!at.includes("openAPIV3Schema")) continue
        for (const forbidden of ["$ref", "anyOf", "oneOf", "allOf", "$defs"]) {
          expect(node, `${path}${at}`).not.toHaveProperty(forbidden)
        }
        if (
          "properties" in node &&
          typeof node.properties === "object" &&
          at.endsWith("properties") === false
        ) {
          expect(node, `${path}${at}`).not.toHaveProperty("additionalProperties")
        }
      }
    }
  })

  it("install.yaml holds the CRDs and the controller's objects in apply order", () => {
    const kinds = docs("dist/install.yaml").map((d) => d.kind)
    expect(kinds.slice(0, 4)).toEqual([
      "CustomResourceDefinition",
      "CustomResourceDefinition",
      "CustomResourceDefinition",
      "Namespace",
    ])
    expect(new Set(kinds)).toEqual(
      new Set([
        "CustomResourceDefinition",
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
        "NetworkPolicy",
        "PriorityClass",
      ]),
    )
  })

  it.each(installs)(
    "%s: a rollout hands over through the lease, within a 60 s grace period, at the controller's priority",
    (path) => {
      const deployment = docs(path).find((d) => d.kind === "Deployment") as unknown as {
        spec: {
          strategy: unknown
          template: { spec: { terminationGracePeriodSeconds: number; priorityClassName: string } }
        }
      }
      expect(deployment.spec.strategy).toEqual({
        type: "RollingUpdate",
        rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
      })
      expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBe(shutdown.gracePeriodSeconds)
      // The controller's own deadline ends before the kubelet's SIGKILL.
      const options = parseControllerFlags(argsOf(path).slice(1), podEnv)
      expect(options.shutdownGraceMs).toBeLessThan(shutdown.gracePeriodSeconds * 1000)
      expect(options.shutdownGraceMs).toBe(55_000)
      const priority = docs(path).find((d) => d.kind === "PriorityClass")
      expect(deployment.spec.template.spec.priorityClassName).toBe(priority && nameOf(priority))
      expect(priority).toMatchObject({ value: 1_000_000, globalDefault: false })
    },
  )

  it.each(installs)("%s takes image and namespace as parameters", (path) => {
    const custom = renderAll({ namespace: "gitops", image: "registry.local/kustodian:test" }).get(path)
    expect(custom).toContain("image: registry.local/kustodian:test")
    expect(custom).toContain("namespace: gitops")
    expect(custom).not.toContain("kustodian-system")
  })

  it.each(installs)(
    "%s: the controller's roles grant no wildcards, no RBAC writes, no writes to Secrets or ConfigMaps, and impersonation of ServiceAccounts only",
    (path) => {
      const controllerRoles = docs(path).filter(
        (d) =>
          (d.kind === "ClusterRole" || d.kind === "Role") &&
          [names.controllerRole, names.leaderElectionRole].some((n) => n === nameOf(d)),
      ) as unknown as Array<{ rules: Array<Rule> }>
      expect(controllerRoles).toHaveLength(2)
      const rules = controllerRoles.flatMap((r) => r.rules)
      for (const rule of rules) {
        expect([...rule.apiGroups, ...rule.resources, ...rule.verbs]).not.toContain("*")
        // Neither the controller nor anyone it impersonates gets more through the controller's own role.
        expect(rule.apiGroups).not.toContain("rbac.authorization.k8s.io")
        expect(rule.verbs).not.toContain("escalate")
        expect(rule.verbs).not.toContain("bind")
        // Deletes only the journals of the objects it reconciles (the test control plane runs no garbage collector).
        if (!(rule.apiGroups.length === 1 && rule.apiGroups[0] === "kustodian.io"))
          expect(rule.verbs).not.toContain("delete")
        else expect(rule.resources).toEqual(["reconcilejournals"])
        if (rule.resources.some((r) => r === "secrets" || r === "configmaps")) {
          expect(rule.verbs.sort()).toEqual(["get", "list", "watch"])
        }
        if (rule.verbs.includes("impersonate")) {
          // Any ServiceAccount (names and namespaces come from the Kustomizations), never users or groups.
          const { resourceNames = [], ...rest } = rule
          expect(resourceNames).toEqual([])
          expect(rest).toEqual({ apiGroups: [""], resources: ["serviceaccounts"], verbs: ["impersonate"] })
        }
        // Minting tokens would be a way around impersonation's audit trail.
        expect(rule.resources).not.toContain("serviceaccounts/token")
      }
      expect(rules.filter((r) => r.verbs.includes("impersonate"))).toHaveLength(1)
    },
  )

  it("install.yaml binds cluster-admin only through the labelled cluster-reconciler binding", () => {
    const admins = bindings("dist/install.yaml").filter((b) => b.roleRef.name === "cluster-admin")
    expect(admins.map((b) => [b.metadata.name, b.metadata.labels?.[rbacTierLabel]])).toEqual([
      [names.clusterReconciler, "cluster-reconciler"],
    ])
  })

  it("install-multitenant.yaml binds no cluster-admin, admin or edit role and runs with Flux's lockdown flags", () => {
    const path = "dist/install-multitenant.yaml"
    for (const b of bindings(path)) {
      expect(["cluster-admin", "admin", "edit"], b.metadata.name).not.toContain(b.roleRef.name)
      expect(b.metadata.labels ?? {}, b.metadata.name).not.toHaveProperty(rbacTierLabel)
    }
    expect(docs(path).map(nameOf)).not.toContain(names.clusterReconciler)
    const args = argsOf(path)
    expect(args).toEqual(expect.arrayContaining([...multiTenantFlags]))
    expect(argsOf("dist/install.yaml")).not.toEqual(expect.arrayContaining([multiTenantFlags[0]]))
    // The operator accepts the install's arguments as they are (Flux's `--flag=true` form included).
    const options = parseControllerFlags(args.slice(1), podEnv)
    expect(options).toMatchObject({
      noCrossNamespaceRefs: true,
      noRemoteBases: true,
      defaultServiceAccount: "default",
      leaderElectionNamespace: "kustodian-system",
    })
  })

  it("the two installs are one synthesis: multi-tenant = single-tenant - the cluster-admin binding + the lockdown flags", () => {
    const strip = (path: string) =>
      docs(path)
        .filter((d) => nameOf(d) !== names.clusterReconciler)
        .map((d) =>
          d.kind === "Deployment"
            ? JSON.parse(
                JSON.stringify(d).replace(multiTenantFlags.map((f) => `,${JSON.stringify(f)}`).join(""), ""),
              )
            : d,
        )
    expect(strip("dist/install-multitenant.yaml")).toEqual(strip("dist/install.yaml"))
  })

  it.each(installs)(
    "%s: NetworkPolicies like Flux's: egress anywhere, ingress from the namespace, metrics from any namespace",
    (path) => {
      const policies = Object.fromEntries(
        docs(path)
          .filter((d) => d.kind === "NetworkPolicy")
          .map((d) => [nameOf(d), d.spec]),
      )
      expect(policies).toEqual({
        [names.allowEgressPolicy]: {
          podSelector: {},
          policyTypes: ["Ingress", "Egress"],
          ingress: [{ from: [{ podSelector: {} }] }],
          egress: [{}],
        },
        [names.allowScrapingPolicy]: {
          podSelector: {},
          policyTypes: ["Ingress"],
          ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ protocol: "TCP", port: ports.metrics }] }],
        },
      })
    },
  )

  it.each(installs)(
    "%s: the artifact Service routes to the leader's Pod only, and the leader may label no Pod outside its namespace",
    (path) => {
      const args = argsOf(path)
      expect(args).toContain(`--storage-addr=:${ports.artifacts}`)
      expect(args).toContain("--leader-pod-label")
      const options = parseControllerFlags(args.slice(1), {
        RUNTIME_NAMESPACE: "kustodian-system",
        POD_NAME: "kustodian-controller-0",
      })
      expect(options.source).toMatchObject({
        storageAddr: `:${ports.artifacts}`,
        storageAdvAddr: `${names.artifactService}.$(RUNTIME_NAMESPACE).svc.cluster.local.`,
      })
      expect(options.leaderPod).toEqual({ namespace: "kustodian-system", name: "kustodian-controller-0" })
      const deployment = docs(path).find((d) => d.kind === "Deployment") as unknown as {
        spec: {
          template: {
            metadata: { labels: Record<string, string> }
            spec: { containers: Array<{ ports: Array<{ name: string; containerPort: number }> }> }
          }
        }
      }
      const podLabels = deployment.spec.template.metadata.labels
      // The Pod template does not carry the label: only the running leader adds it to its own Pod.
      expect(podLabels).not.toHaveProperty(leaderPodLabel)
      expect(deployment.spec.template.spec.containers[0]?.ports).toContainEqual(
        expect.objectContaining({ name: "http", containerPort: ports.artifacts }),
      )
      const services = docs(path).filter((d) => d.kind === "Service") as unknown as Array<{
        metadata: { name: string }
        spec: { selector: Record<string, string>; ports: Array<{ port: number; targetPort: string }> }
      }>
      expect(services.map((s) => s.metadata.name).sort()).toEqual(
        [names.artifactService, names.metricsService].sort(),
      )
      const artifacts = services.find((s) => s.metadata.name === names.artifactService)!
      expect(artifacts.spec.selector).toEqual({
        ...Object.fromEntries(
          Object.entries(services.find((s) => s.metadata.name === names.metricsService)!.spec.selector),
        ),
        [leaderPodLabel]: "true",
      })
      for (const [k, v] of Object.entries(artifacts.spec.selector))
        if (k !== leaderPodLabel) expect(podLabels[k]).toBe(v)
      expect(artifacts.spec.ports).toEqual([{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }])
      // Pods: only in the controller's namespace (a Role, not the ClusterRole), and never create or delete.
      const podRules = docs(path)
        .filter((d) => d.kind === "Role" || d.kind === "ClusterRole")
        .flatMap((r) =>
          ((r as unknown as { rules: Array<Rule> }).rules ?? [])
            .filter((rule) => rule.resources.includes("pods"))
            .map((rule) => [r.kind, nameOf(r), rule.verbs.sort()]),
        )
      expect(podRules).toEqual([["Role", names.leaderElectionRole, ["get", "list", "patch"]]])
    },
  )

  it("aggregates view and edit rights on both kinds into the built-in user roles", () => {
    const roles = docs("dist/install.yaml").filter((d) => d.kind === "ClusterRole") as unknown as Array<{
      metadata: { name: string; labels: Record<string, string> }
      rules: Array<{ verbs: Array<string>; resources: Array<string> }>
    }>
    const view = roles.find((r) => r.metadata.name === names.viewRole)
    const edit = roles.find((r) => r.metadata.name === names.editRole)
    expect(view?.metadata.labels["rbac.authorization.k8s.io/aggregate-to-view"]).toBe("true")
    expect(edit?.metadata.labels["rbac.authorization.k8s.io/aggregate-to-edit"]).toBe("true")
    expect(edit?.metadata.labels).not.toHaveProperty("rbac.authorization.k8s.io/aggregate-to-view")
    expect(view?.rules.flatMap((r) => r.verbs)).not.toContain("delete")
    expect(view?.rules.flatMap((r) => r.resources)).toEqual([
      "gitrepositories",
      "kustomizations",
      "reconcilejournals",
    ])
  })
})
