/**
 * The install manifests as cdk8s charts: namespace, service account, RBAC, the controller Deployment and its
 * Services. `installApp` adds them (after the CRDs) to a cdk8s App; `synth/app.ts` renders it to YAML.
 *
 * RBAC is split on purpose. `kustodian-controller` (ClusterRole) is what the controller needs for its own work
 * and nothing more; applying users' objects goes through impersonation of `spec.serviceAccountName`.
 * `kustodian-cluster-reconciler` binds cluster-admin for Kustomizations without a serviceAccountName, as Flux's
 * `cluster-reconciler` binding does; it is a separate object so operators can leave it out.
 */
import { ApiObject, type App, Chart } from "cdk8s"
import * as kplus from "cdk8s-plus-33"
import { gitRepositoryResource } from "../model/gitrepository.ts"
import { kustomizationResource } from "../model/kustomization.ts"
import { crds, partOfLabels } from "./crds.ts"

/** What varies between installations. */
export interface InstallOptions {
  readonly namespace: string
  readonly image: string
}

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
} as const

/** Label that marks the cluster-admin binding, so it can be filtered out (`kubectl apply -l '…!=…'`). */
export const rbacTierLabel = "kustodian.io/rbac"

export const ports = { metrics: 8080, artifacts: 9090 } as const

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

/** Adds the cluster-scoped objects: ClusterRoles and bindings. */
const clusterChart = (app: App, options: InstallOptions, sa: kplus.IServiceAccount) => {
  const chart = new Chart(app, "cluster", { disableResourceNameHashes: true, labels: partOfLabels })
  const role = new kplus.ClusterRole(chart, "controller-role", { metadata: { name: names.controllerRole } })
  controllerRules(role)
  new kplus.ClusterRoleBinding(chart, "controller-binding", {
    metadata: { name: names.controllerRole },
    role,
  }).addSubjects(sa)
  userRoles(chart)
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
  return options
}

/** Adds the namespaced objects. */
const namespacedChart = (app: App, options: InstallOptions) => {
  const chart = new Chart(app, "controller", {
    namespace: options.namespace,
    disableResourceNameHashes: true,
    labels: partOfLabels,
  })
  const sa = new kplus.ServiceAccount(chart, "sa", {
    metadata: { name: names.serviceAccount },
    automountToken: true,
  })
  // Leader election reads, creates and renews (updates) a Lease in the controller's own namespace only.
  const lease = new kplus.Role(chart, "leader-election", { metadata: { name: names.leaderElectionRole } })
  lease.allow(["get", "create", "update"], endpoint("coordination.k8s.io", "leases"))
  new kplus.RoleBinding(chart, "leader-election-binding", {
    metadata: { name: names.leaderElectionRole },
    role: lease,
  }).addSubjects(sa)

  new ApiObject(chart, "deployment", {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: names.deployment, labels: selectorLabels },
    spec: deploymentSpec(options),
  })
  new ApiObject(chart, "metrics", {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: names.metricsService, labels: selectorLabels },
    spec: {
      type: "ClusterIP",
      selector: selectorLabels,
      ports: [{ name: "http-metrics", port: ports.metrics, targetPort: "http-metrics", protocol: "TCP" }],
    },
  })
  // Artifacts are served like source-controller's storage: port 80 of a Service in front of :9090.
  new ApiObject(chart, "artifacts", {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: names.artifactService, labels: selectorLabels },
    spec: {
      type: "ClusterIP",
      selector: selectorLabels,
      ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
    },
  })
  return sa
}

/** The controller's pod: hardened, with tmpfs for builds and an emptyDir for stored artifacts. */
const deploymentSpec = (options: InstallOptions) => ({
  replicas: 1,
  selector: { matchLabels: selectorLabels },
  template: {
    metadata: {
      labels: { ...selectorLabels, ...partOfLabels },
      annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": String(ports.metrics) },
    },
    spec: {
      serviceAccountName: names.serviceAccount,
      automountServiceAccountToken: true,
      terminationGracePeriodSeconds: 10,
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
            `--storage-addr=:${ports.artifacts}`,
            "--storage-path=/data",
            `--storage-adv-addr=${names.artifactService}.$(RUNTIME_NAMESPACE).svc.cluster.local.`,
            "--watch-all-namespaces=true",
            "--log-level=info",
            "--enable-leader-election",
          ],
          env: [
            { name: "RUNTIME_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
            { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
            { name: "TMPDIR", value: "/tmp" },
          ],
          ports: [
            { name: "http-metrics", containerPort: ports.metrics, protocol: "TCP" },
            { name: "http", containerPort: ports.artifacts, protocol: "TCP" },
          ],
          livenessProbe: { httpGet: { path: "/healthz", port: "http-metrics" }, periodSeconds: 10 },
          readinessProbe: { httpGet: { path: "/readyz", port: "http-metrics" }, periodSeconds: 5 },
          resources: {
            requests: { cpu: "100m", memory: "128Mi" },
            limits: { cpu: "1", memory: "1Gi" },
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

/** Adds everything `dist/install.yaml` holds, in apply order. */
export const installApp = (app: App, options: InstallOptions) => {
  crdCharts(app)
  const ns = new Chart(app, "namespace", { disableResourceNameHashes: true, labels: partOfLabels })
  new kplus.Namespace(ns, "namespace", {
    metadata: {
      name: options.namespace,
      labels: { "pod-security.kubernetes.io/enforce": "restricted" },
    },
  })
  const sa = namespacedChart(app, options)
  clusterChart(app, options, sa)
}
