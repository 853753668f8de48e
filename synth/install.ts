/**
 * The install manifests as cdk8s charts: namespace, service account, RBAC, NetworkPolicies, the controller
 * Deployment and its metrics Service. `installApp` adds them (after the CRDs) to a cdk8s App; `synth/app.ts`
 * renders it twice, once per {@link Tenancy}: `dist/install.yaml` and `dist/install-multitenant.yaml`.
 *
 * RBAC is split on purpose. `kustodian-controller` (ClusterRole) is what the controller needs for its own work
 * and nothing more — no write on RBAC objects, no wildcard, impersonation of ServiceAccounts only — so applying
 * users' objects goes through impersonation of `spec.serviceAccountName` (or `--default-service-account`), and the
 * API server's own RBAC and escalation checks bound what a Kustomization can change.
 *
 * - `single-tenant` (Flux's default install): `kustodian-cluster-reconciler` binds cluster-admin for
 *   Kustomizations without a serviceAccountName, as Flux's `cluster-reconciler` binding does; it is a separate,
 *   labelled object so operators can leave it out.
 * - `multi-tenant` (Flux's multi-tenancy lockdown): no cluster-admin binding, and the controller runs with
 *   `--no-cross-namespace-refs=true --no-remote-bases=true --default-service-account=default`, so a Kustomization
 *   without serviceAccountName acts as the `default` ServiceAccount of its own namespace: a tenant's power is
 *   exactly what the platform admin granted that namespace's ServiceAccounts.
 */
import { ApiObject, type App, Chart } from "cdk8s"
import * as kplus from "cdk8s-plus-33"
import { gitRepositoryResource } from "../model/gitrepository.ts"
import { reconcileJournalResource } from "../model/journal.ts"
import { kustomizationResource } from "../model/kustomization.ts"
import { crds, partOfLabels } from "./crds.ts"

/** What varies between installations. */
export interface InstallOptions {
  readonly namespace: string
  readonly image: string
}

/** Who the install is for: one trusted team (Flux's default) or tenants who must not reach each other. */
export type Tenancy = "single-tenant" | "multi-tenant"

/**
 * The controller flags of Flux's multi-tenancy lockdown (fluxcd/flux2-multi-tenancy patches them into
 * kustomize-controller): sources and dependencies in the Kustomization's namespace only, no kustomize bases from
 * outside the source, and impersonation of the namespace's `default` ServiceAccount when none is named.
 */
export const multiTenantFlags = [
  "--no-cross-namespace-refs=true",
  "--no-remote-bases=true",
  "--default-service-account=default",
] as const

export const defaultInstallOptions: InstallOptions = {
  namespace: "kustodian-system",
  image: "ghcr.io/kustodian/kustodian:v0.1.0",
}

/** Names of the installed objects, so tests and docs refer to them without repeating strings. */
export const names = {
  serviceAccount: "kustodian-controller",
  controllerRole: "kustodian-controller",
  leaderElectionRole: "kustodian-leader-election",
  clusterReconciler: "kustodian-cluster-reconciler",
  viewRole: "kustodian-view",
  editRole: "kustodian-edit",
  deployment: "kustodian-controller",
  metricsService: "kustodian-metrics",
  artifactService: "kustodian-artifacts",
  allowEgressPolicy: "allow-egress",
  allowScrapingPolicy: "allow-scraping",
  priorityClass: "kustodian-controller",
} as const

/**
 * The pod's grace period on SIGTERM, and the controller's own deadline inside it: in-flight reconciles get
 * `--graceful-shutdown-timeout` minus 3 s, then the lease is released, and the process exits before the kubelet's
 * SIGKILL at the end of the grace period.
 */
export const shutdown = { gracePeriodSeconds: 60, controllerTimeout: "55s" } as const

/** Label that marks the cluster-admin binding, so it can be filtered out (`kubectl apply -l '…!=…'`). */
export const rbacTierLabel = "kustodian.io/rbac"

export const ports = { metrics: 8080, artifacts: 9090 } as const

/**
 * The label the leader puts on its own Pod while it leads (`operator/src/runtime/leader-pod.ts`, with
 * `--leader-pod-label`): the artifact Service selects it, so a standby (no artifacts) never gets its requests.
 */
export const leaderPodLabel = "kustodian.io/leader"

const selectorLabels = { "app.kubernetes.io/name": "kustodian", "app.kubernetes.io/component": "controller" }

/** A resource endpoint for an RBAC rule (group + plural or plural/subresource). */
const endpoint = (apiGroup: string, resourceType: string) =>
  kplus.ApiResource.custom({ apiGroup, resourceType })

/** Adds the ClusterRole with what the controller needs for its own work. */
const controllerRules = (role: kplus.ClusterRole) => {
  for (const resource of [gitRepositoryResource, kustomizationResource]) {
    // Read and watch the objects, add/remove the finalizer (a metadata patch).
    role.allow(["get", "list", "watch", "patch", "update"], endpoint(resource.group, resource.plural))
    // Write the status subresource (server-side apply or merge patch).
    role.allow(["get", "patch", "update"], endpoint(resource.group, `${resource.plural}/status`))
    // Setting blockOwnerDeletion on owner references needs update on finalizers.
    role.allow(["update"], endpoint(resource.group, `${resource.plural}/finalizers`))
  }
  // The journal of each object's reconciles (runtime/journal-store.ts): created, replaced with optimistic
  // concurrency, deleted with the object.
  role.allow(
    ["get", "list", "watch", "create", "update", "delete"],
    endpoint(reconcileJournalResource.group, reconcileJournalResource.plural),
  )
  // Git credentials, decryption keys, kubeconfigs and substituteFrom live in Secrets and ConfigMaps.
  role.allow(["get", "list", "watch"], endpoint("", "secrets"), endpoint("", "configmaps"))
  // Kubernetes Events for every reconcile.
  role.allow(["create", "patch"], endpoint("events.k8s.io", "events"))
  // Applying, pruning and health-checking as spec.serviceAccountName.
  role.allow(["impersonate"], endpoint("", "serviceaccounts"))
}

/**
 * Lets users who may view or edit a namespace (the built-in view/edit/admin roles) see or manage its
 * GitRepositories and Kustomizations, through ClusterRole aggregation, as Flux's install does.
 */
const userRoles = (chart: Chart) => {
  const kinds = [gitRepositoryResource, kustomizationResource]
  const view = new kplus.ClusterRole(chart, "view", {
    metadata: {
      name: names.viewRole,
      labels: {
        "rbac.authorization.k8s.io/aggregate-to-view": "true",
        "rbac.authorization.k8s.io/aggregate-to-edit": "true",
        "rbac.authorization.k8s.io/aggregate-to-admin": "true",
      },
    },
  })
  view.allow(["get", "list", "watch"], ...kinds.map((k) => endpoint(k.group, k.plural)))
  // `kustodian history` reads the journals; only the controller writes them.
  view.allow(
    ["get", "list", "watch"],
    endpoint(reconcileJournalResource.group, reconcileJournalResource.plural),
  )
  const edit = new kplus.ClusterRole(chart, "edit", {
    metadata: {
      name: names.editRole,
      labels: {
        "rbac.authorization.k8s.io/aggregate-to-edit": "true",
        "rbac.authorization.k8s.io/aggregate-to-admin": "true",
      },
    },
  })
  edit.allow(
    ["create", "delete", "deletecollection", "patch", "update"],
    ...kinds.map((k) => endpoint(k.group, k.plural)),
  )
}

/** Adds the cluster-scoped objects: ClusterRoles and bindings (cluster-admin only for a single tenant). */
const clusterChart = (app: App, tenancy: Tenancy, sa: kplus.IServiceAccount) => {
  const chart = new Chart(app, "cluster", { disableResourceNameHashes: true, labels: partOfLabels })
  // Above workloads (which have 0), below the system-* classes: under memory pressure the scheduler preempts
  // tenants' pods before the controller that deploys them, never the cluster's own components.
  new ApiObject(chart, "priority-class", {
    apiVersion: "scheduling.k8s.io/v1",
    kind: "PriorityClass",
    metadata: { name: names.priorityClass },
    value: 1_000_000,
    globalDefault: false,
    preemptionPolicy: "PreemptLowerPriority",
    description: "The Kustodian GitOps controller: scheduled ahead of the workloads it deploys.",
  })
  const role = new kplus.ClusterRole(chart, "controller-role", { metadata: { name: names.controllerRole } })
  controllerRules(role)
  new kplus.ClusterRoleBinding(chart, "controller-binding", {
    metadata: { name: names.controllerRole },
    role,
  }).addSubjects(sa)
  userRoles(chart)
  if (tenancy === "multi-tenant") return
  new kplus.ClusterRoleBinding(chart, "cluster-reconciler", {
    metadata: {
      name: names.clusterReconciler,
      labels: { [rbacTierLabel]: "cluster-reconciler" },
      annotations: {
        "kustodian.io/description":
          "Lets the controller apply Kustomizations that set no spec.serviceAccountName with cluster-admin, " +
          "as Flux does by default. Leave this binding out to require spec.serviceAccountName everywhere.",
      },
    },
    role: kplus.ClusterRole.fromClusterRoleName(chart, "cluster-admin", "cluster-admin"),
  }).addSubjects(sa)
}

/** Adds the namespaced objects. */
const namespacedChart = (app: App, options: InstallOptions, tenancy: Tenancy) => {
  const chart = new Chart(app, "controller", {
    namespace: options.namespace,
    disableResourceNameHashes: true,
    labels: partOfLabels,
  })
  const sa = new kplus.ServiceAccount(chart, "sa", {
    metadata: { name: names.serviceAccount },
    automountToken: true,
  })
  // Leader election reads, creates and renews (updates) a Lease in the controller's own namespace only, and the
  // leader labels its own Pod (patch), and on taking over unlabels a previous leader that could not (list, patch).
  const lease = new kplus.Role(chart, "leader-election", { metadata: { name: names.leaderElectionRole } })
  lease.allow(["get", "create", "update"], endpoint("coordination.k8s.io", "leases"))
  lease.allow(["get", "list", "patch"], endpoint("", "pods"))
  new kplus.RoleBinding(chart, "leader-election-binding", {
    metadata: { name: names.leaderElectionRole },
    role: lease,
  }).addSubjects(sa)

  new ApiObject(chart, "deployment", {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: names.deployment, labels: selectorLabels },
    spec: deploymentSpec(options, tenancy),
  })
  new ApiObject(chart, "metrics", {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: names.metricsService, labels: selectorLabels },
    spec: {
      type: "ClusterIP",
      selector: selectorLabels,
      ports: [{ name: "http-prom", port: ports.metrics, targetPort: "http-prom", protocol: "TCP" }],
    },
  })
  // Artifacts for consumers in the namespace (as Flux's source-controller Service: port 80 → 9090), served only by
  // the leader: a standby's storage is empty, so the selector also asks for the label the leader puts on its own
  // Pod (--leader-pod-label) and takes off when it steps down. Flux's Service selects every replica, and its
  // standby does not even listen on 9090 (the file server starts once elected), so during a rollout some of its
  // requests are refused.
  new ApiObject(chart, "artifacts", {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: names.artifactService, labels: selectorLabels },
    spec: {
      type: "ClusterIP",
      selector: { ...selectorLabels, [leaderPodLabel]: "true" },
      ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
    },
  })
  networkPolicies(chart)
  return sa
}

/**
 * Flux's two policies for its namespace, on our ports: every pod of the namespace may connect anywhere (git
 * servers, the API server, remote bases) and accept connections from the namespace only (`allow-egress`), and
 * metrics/probes on 8080 are reachable from any namespace, for Prometheus (`allow-scraping`). Artifacts (9090) are
 * reachable from the namespace only, as Flux's. Kubelet probes come from the node, which NetworkPolicies always
 * admit.
 */
const networkPolicies = (chart: Chart) => {
  new ApiObject(chart, "allow-egress", {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: names.allowEgressPolicy },
    spec: {
      podSelector: {},
      policyTypes: ["Ingress", "Egress"],
      ingress: [{ from: [{ podSelector: {} }] }],
      egress: [{}],
    },
  })
  new ApiObject(chart, "allow-scraping", {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: names.allowScrapingPolicy },
    spec: {
      podSelector: {},
      policyTypes: ["Ingress"],
      ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ protocol: "TCP", port: ports.metrics }] }],
    },
  })
}

/** The controller's pod: hardened, with tmpfs for builds and an emptyDir for stored artifacts. */
const deploymentSpec = (options: InstallOptions, tenancy: Tenancy) => ({
  replicas: 1,
  // The new pod starts before the old one stops: it is Ready as a standby (as controller-runtime's are), so the
  // old one is then sent SIGTERM, releases the lease on its way out, and the new one takes over within a retry
  // period. Never two leaders: the Lease decides, not the rollout.
  strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
  selector: { matchLabels: selectorLabels },
  template: {
    metadata: {
      // `app: kustomize-controller` is what flux2-monitoring-example's PodMonitor (`app In [… kustomize-controller …]`,
      // port `http-prom`) and its Loki dashboard (`app=~"$controller"`) select Flux's pods by; this one pod is both
      // of Flux's controllers it replaces, and is listed as the kustomize-controller.
      labels: { ...selectorLabels, ...partOfLabels, app: "kustomize-controller" },
      annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": String(ports.metrics) },
    },
    spec: {
      serviceAccountName: names.serviceAccount,
      automountServiceAccountToken: true,
      terminationGracePeriodSeconds: shutdown.gracePeriodSeconds,
      priorityClassName: names.priorityClass,
      nodeSelector: { "kubernetes.io/os": "linux" },
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 65532,
        runAsGroup: 65532,
        fsGroup: 65532,
        seccompProfile: { type: "RuntimeDefault" },
      },
      containers: [
        {
          name: "manager",
          image: options.image,
          imagePullPolicy: "IfNotPresent",
          args: [
            "controller",
            `--metrics-addr=:${ports.metrics}`,
            `--health-addr=:${ports.metrics}`,
            // Artifact URLs name the Service, which routes to the leader only (see namespacedChart).
            `--storage-addr=:${ports.artifacts}`,
            "--storage-path=/data",
            `--storage-adv-addr=${names.artifactService}.$(RUNTIME_NAMESPACE).svc.cluster.local.`,
            "--watch-all-namespaces=true",
            "--log-level=info",
            "--log-encoding=json",
            "--enable-leader-election",
            "--leader-pod-label",
            `--graceful-shutdown-timeout=${shutdown.controllerTimeout}`,
            ...(tenancy === "multi-tenant" ? multiTenantFlags : []),
          ],
          env: [
            { name: "RUNTIME_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
            { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
            { name: "TMPDIR", value: "/tmp" },
          ],
          ports: [
            { name: "http", containerPort: ports.artifacts, protocol: "TCP" },
            { name: "http-prom", containerPort: ports.metrics, protocol: "TCP" },
          ],
          // Liveness: the process works (and a leader still renews its lease). Readiness: it serves, as leader or
          // as standby, so a rolling update with maxUnavailable 0 completes; who leads is the Pod label's business
          // (and /readyz/leader's, which answers 503 on a standby).
          livenessProbe: { httpGet: { path: "/healthz", port: "http-prom" }, periodSeconds: 10 },
          readinessProbe: { httpGet: { path: "/readyz", port: "http-prom" }, periodSeconds: 5 },
          // From the operator image in a container with this memory limit, measured from its cgroup as a kubelet
          // sees it (`npm run bench:reconcile -- --peers=kustodian,kustodian-image --sizes=300 --tmpfs`,
          // docs/benchmarks.md, 2026-12-08 01:44 UTC, 2 cores): 164 MiB idle; a peak of 290 MiB (page cache and the
          // /tmp tmpfs included; working set 285 MiB) with 300 Kustomizations (--concurrent=4); 17.6 CPU seconds for
          // their first round in 18.3 s (about one core), 1.8 s for a no-change round of all 300. The request covers
          // the 300-object peak; the limit leaves room above it (1,000 objects not yet measured in the container: the
          // bundle's process RSS peaked at 472-566 MiB there). The heap is capped at 75% of the limit (the
          // Dockerfile's flag); the /tmp emptyDir (builds, extracted artifacts) counts against the same memory.
          resources: {
            requests: { cpu: "250m", memory: "320Mi" },
            limits: { cpu: "2", memory: "1Gi" },
          },
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ["ALL"] },
            seccompProfile: { type: "RuntimeDefault" },
          },
          volumeMounts: [
            { name: "tmp", mountPath: "/tmp" },
            { name: "data", mountPath: "/data" },
          ],
        },
      ],
      volumes: [
        // Builds (checkouts, decrypted files) stay in memory and vanish with the pod.
        { name: "tmp", emptyDir: { medium: "Memory", sizeLimit: "512Mi" } },
        { name: "data", emptyDir: { sizeLimit: "1Gi" } },
      ],
    },
  },
})

/** Adds the CRDs (or only the one written to `file`) to an app, one chart per CRD. */
export const crdCharts = (app: App, file?: string) => {
  for (const crd of crds.filter((c) => file === undefined || c.file === file)) {
    const chart = new Chart(app, crd.file, { disableResourceNameHashes: true })
    new ApiObject(chart, "crd", crd.manifest)
  }
}

/** Adds everything `dist/install.yaml` (or, multi-tenant, `dist/install-multitenant.yaml`) holds, in apply order. */
export const installApp = (app: App, options: InstallOptions, tenancy: Tenancy) => {
  crdCharts(app)
  const ns = new Chart(app, "namespace", { disableResourceNameHashes: true, labels: partOfLabels })
  new kplus.Namespace(ns, "namespace", {
    metadata: {
      name: options.namespace,
      labels: { "pod-security.kubernetes.io/enforce": "restricted" },
    },
  })
  const sa = namespacedChart(app, options, tenancy)
  clusterChart(app, tenancy, sa)
}
