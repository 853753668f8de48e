/**
 * The local test cluster's workloads: kube-controller-manager (Deployments make ReplicaSets and Pods, Namespaces
 * finish deleting, garbage collection follows ownerReferences), kube-scheduler (Pods get a node) and kwok, which
 * simulates the nodes: it keeps Nodes annotated `kwok.x-k8s.io/node: fake` Ready and moves the Pods bound to them
 * through their lifecycle (Running, Ready) with its default "fast" stages. No kubelet, no container runtime: a
 * Deployment rolls out in about a second, and one whose Pods cannot be scheduled stays unavailable, as on a
 * real cluster.
 *
 * @module
 */
import { request } from "node:https"
import { readdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { Effect } from "effect"
import { kubectl, testKubeconfigPath } from "../support/cluster.ts"
import { freePort } from "../support/ports.ts"
import { type Daemon, daemon, waitReady } from "../support/process.ts"
import { toolPath } from "../support/tools.ts"
import { ClusterError } from "./provider.ts"

/**
 * The controllers the tests need, named as kube-controller-manager names them. Left out on purpose: the
 * ServiceAccount and root-CA publishers (every namespace would gain a `default` ServiceAccount and a
 * `kube-root-ca.crt` ConfigMap that tests listing a namespace would have to skip), IPAM (kwok
 * owns the nodes), and the cloud, CSR and volume controllers (nothing to drive them here).
 */
export const workloadControllers = [
  "deployment-controller",
  "replicaset-controller",
  "statefulset-controller",
  "daemonset-controller",
  "job-controller",
  "cronjob-controller",
  "garbage-collector-controller",
  "namespace-controller",
  "endpointslice-controller",
  "resourcequota-controller",
  // Removes the not-ready taint admission puts on every new Node once kwok reports it Ready.
  "node-lifecycle-controller",
] as const

/** The simulated node every Pod can land on; tests add more (with labels) to make Pods schedulable later. */
export const kwokNodeName = "kwok-node-0"

/** A Node kwok simulates: the annotation is what kwok's `--manage-nodes-with-annotation-selector` selects. */
export const kwokNode = (name: string, labels: Readonly<Record<string, string>> = {}) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: {
    name,
    annotations: { "node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake" },
    labels: {
      "kubernetes.io/arch": "amd64",
      "kubernetes.io/os": "linux",
      "kubernetes.io/hostname": name,
      type: "kwok",
      ...labels,
    },
  },
  spec: {},
  status: {
    allocatable: { cpu: "32", memory: "256Gi", pods: "110" },
    capacity: { cpu: "32", memory: "256Gi", pods: "110" },
    nodeInfo: { architecture: "amd64", operatingSystem: "linux", kubeletVersion: "fake" },
  },
})

/** GET /healthz of a component's self-signed serving endpoint (its certificate is made at start, untrusted). */
const healthz = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const req = request(
      `https://127.0.0.1:${port}/healthz`,
      { rejectUnauthorized: false, timeout: 2_000 },
      (res) => {
        res.resume()
        resolve(res.statusCode === 200)
      },
    )
    req.on("timeout", () => req.destroy())
    req.on("error", () => resolve(false))
    req.end()
  })

const kubectlAt = (kubeconfig: string, args: ReadonlyArray<string>, input?: string) =>
  Effect.tryPromise({
    try: () => kubectl(args, input === undefined ? { kubeconfig } : { kubeconfig, input }),
    catch: (e) => new ClusterError({ provider: "local", reason: String(e) }),
  })

/** Creates a kwok node (status included: kwok takes over its heartbeats) and waits until it is Ready. */
export const addKwokNode = Effect.fn("Workloads.addKwokNode")(function* (
  kubeconfigPath: string,
  name: string,
  labels: Readonly<Record<string, string>> = {},
  timeoutMs = 60_000,
) {
  yield* kubectlAt(kubeconfigPath, ["create", "-f", "-"], JSON.stringify(kwokNode(name, labels)))
  yield* kubectlAt(kubeconfigPath, [
    "wait",
    "--for=condition=Ready",
    `node/${name}`,
    `--timeout=${Math.ceil(timeoutMs / 1000)}s`,
  ])
})

const component = Effect.fn("Workloads.component")(function* (
  dir: string,
  name: "kube-controller-manager" | "kube-scheduler",
  kubeconfigPath: string,
  extra: ReadonlyArray<string>,
  timeoutMs: number,
) {
  const port = yield* Effect.promise(freePort)
  const d = yield* daemon({
    name,
    command: toolPath(name),
    args: [
      `--kubeconfig=${kubeconfigPath}`,
      `--authentication-kubeconfig=${kubeconfigPath}`,
      `--authorization-kubeconfig=${kubeconfigPath}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${port}`,
      `--cert-dir=${join(dir, name)}`,
      "--profiling=false",
      ...extra,
    ],
    logFile: join(dir, `${name}.log`),
    groupsFile: join(dir, "pgids"),
  })
  yield* waitReady(d, () => healthz(port), timeoutMs, "healthy")
  return d
})

/**
 * Starts the controller manager, the scheduler and kwok against the cluster `kubeconfigPath` reaches, and one
 * Ready node. Each process is stopped when the enclosing Scope closes.
 */
export const startWorkloads = Effect.fn("Workloads.start")(function* (
  dir: string,
  kubeconfigPath: string,
  certs: string,
  timeoutMs: number,
) {
  const controllerManager = yield* component(
    dir,
    "kube-controller-manager",
    kubeconfigPath,
    [
      `--controllers=${workloadControllers.join(",")}`,
      `--root-ca-file=${join(certs, "ca.crt")}`,
      `--service-account-private-key-file=${join(certs, "sa.key")}`,
      // Tests wait on rollouts and deletions: sync sooner than the production defaults.
      "--concurrent-gc-syncs=5",
      "--namespace-sync-period=10s",
    ],
    timeoutMs,
  )
  const scheduler = yield* component(dir, "kube-scheduler", kubeconfigPath, [], timeoutMs)
  const kwokPort = yield* Effect.promise(freePort)
  // kwok's own "fast" stages, copied next to its binary by scripts/tools.sh (the binary embeds none).
  const stagesDir = join(dirname(toolPath("kwok")), "stages")
  const stages = readdirSync(stagesDir)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => `--config=${join(stagesDir, f)}`)
  const kwok = yield* daemon({
    name: "kwok",
    command: toolPath("kwok"),
    args: [
      `--kubeconfig=${kubeconfigPath}`,
      "--manage-all-nodes=false",
      "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
      "--cidr=10.244.0.0/16",
      "--node-ip=10.0.0.2",
      `--server-address=127.0.0.1:${kwokPort}`,
      "--node-lease-duration-seconds=40",
      ...stages,
    ],
    logFile: join(dir, "kwok.log"),
    groupsFile: join(dir, "pgids"),
  })
  yield* addKwokNode(kubeconfigPath, kwokNodeName, {}, timeoutMs)
  const daemons: ReadonlyArray<Daemon> = [controllerManager, scheduler, kwok]
  return daemons
})

/** The node label a test's Deployments select, so their Pods run only once the test adds a node for them. */
export const poolLabel = "kustodian.test/pool"

/**
 * A kwok node in `pool` on the test cluster, removed when the enclosing Scope closes: the capacity that lets a
 * Deployment selecting that pool roll out.
 */
export const kwokPoolNode = (pool: string) =>
  Effect.acquireRelease(
    addKwokNode(testKubeconfigPath(), `kwok-${pool}`, { [poolLabel]: pool }).pipe(Effect.as(`kwok-${pool}`)),
    (node) =>
      Effect.promise(() =>
        kubectl(["delete", "node", node, "--ignore-not-found", "--wait=false"]).catch(() => undefined),
      ),
  )
