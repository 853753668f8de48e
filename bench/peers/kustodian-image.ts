/**
 * Kustodian as the install runs it: the operator image (scripts/image.sh through e2e/support/podman.ts; built
 * unless an image for these sources exists) in a podman container configured like dist/install.yaml's pod —
 * in-cluster configuration (a ServiceAccount token from TokenRequest, with the CA and namespace, mounted at
 * /var/run/secrets/kubernetes.io/serviceaccount; KUBERNETES_SERVICE_HOST/PORT), the image's non-root user, a
 * read-only root filesystem, all capabilities dropped and no privilege escalation, /tmp a tmpfs of the install's
 * `tmp` emptyDir size (`medium: Memory`, so it counts against the memory limit as in the pod), /data a directory on
 * disk (the install's `data` emptyDir), and the install's memory limit (`--memory`, no swap), so the image's heap
 * cap (75% of the limit, the Dockerfile's flag) applies as in a pod. Host network: the container reaches the
 * bench's loopback kube-apiserver and git server, and the bench its /metrics.
 *
 * Measured from its cgroup (bench/peers/cgroup.ts), the way a kubelet sees a container: memory including the /tmp
 * tmpfs and page cache, CPU of everything that ran in it. kustomize runs are counted by the bundle peer's two-line
 * sandbox wrapper, bind-mounted read-only and named by `KUSTODIAN_SANDBOX`. Bench-only: the ServiceAccount is bound
 * to cluster-admin (the install's RBAC is tested by synth/install.e2e.test.ts); no leader election, as for the other
 * peers. The limits come from dist/install.yaml; `BENCH_IMAGE_MEMORY` (e.g. `768Mi`) tries another memory limit.
 *
 * The container is stopped (SIGTERM, the graceful shutdown) and removed with the scope, its log kept in the run's
 * work directory while it lasts. A bench killed with SIGKILL leaves it running:
 * `podman --cgroup-manager=cgroupfs ps -a --filter label=kustodian-bench` lists it.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { KubeConfig, RbacAuthorizationV1Api } from "@kubernetes/client-node"
import { Effect } from "effect"
import { parseAllDocuments } from "yaml"
import { createServiceAccount, serviceAccountToken } from "../../e2e/support/cluster.ts"
import { operatorImage, podman, runLimits } from "../../e2e/support/podman.ts"
import { freePort } from "../../e2e/support/ports.ts"
import { repoRoot } from "../../e2e/support/tools.ts"
import { containerCgroup } from "./cgroup.ts"
import { countingSandbox, kustodianCrdFiles } from "./kustodian.ts"
import { label, series } from "./measure.ts"
import type { Peer, PeerContext } from "./peer.ts"

/** A Kubernetes memory quantity (`1Gi`, `512Mi`, `768M`, bytes) in bytes. */
export const quantityBytes = (q: string): number => {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q.trim())
  if (m === null) throw new Error(`not a memory quantity: ${q}`)
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }
  return Math.round(Number(m[1]) * (m[2] === undefined ? 1 : unit[m[2] as keyof typeof unit]))
}

interface InstallPod {
  readonly memoryLimit: string
  readonly tmpSize: string
}

/** The controller container's memory limit and the `tmp` emptyDir's size, from dist/install.yaml. */
const installPod = (): InstallPod => {
  const file = join(repoRoot, "dist/install.yaml")
  type Deployment = {
    kind?: string
    spec?: {
      template?: {
        spec?: {
          containers?: ReadonlyArray<{ resources?: { limits?: { memory?: string } } }>
          volumes?: ReadonlyArray<{ name: string; emptyDir?: { sizeLimit?: string } }>
        }
      }
    }
  }
  const deployment = parseAllDocuments(readFileSync(file, "utf8"))
    .map((d) => d.toJS() as Deployment | null)
    .find((d) => d?.kind === "Deployment")
  const pod = deployment?.spec?.template?.spec
  const memoryLimit = pod?.containers?.[0]?.resources?.limits?.memory
  const tmpSize = pod?.volumes?.find((v) => v.name === "tmp")?.emptyDir?.sizeLimit
  if (memoryLimit === undefined || tmpSize === undefined)
    throw new Error(`${file}: no Deployment with a container memory limit and a sized 'tmp' emptyDir`)
  return { memoryLimit: process.env.BENCH_IMAGE_MEMORY || memoryLimit, tmpSize }
}

const ready = (url: string) =>
  fetch(url).then(
    (r) => r.ok,
    () => false,
  )

export const kustodianImagePeer: Peer = {
  name: "Kustodian image",
  crdFiles: kustodianCrdFiles,
  start: (ctx: PeerContext) =>
    Effect.gen(function* () {
      const limits = installPod()
      const image = yield* operatorImage
      // Everything the container mounts, readable (and /data, the counter writable) by the image's user 65532.
      const pod = join(ctx.work, "pod")
      const sa = join(pod, "serviceaccount")
      const data = join(pod, "data")
      const bench = join(pod, "bench")
      for (const d of [sa, data, bench]) mkdirSync(d, { recursive: true })
      chmodSync(ctx.work, 0o755)
      chmodSync(pod, 0o755)
      chmodSync(sa, 0o755)
      chmodSync(bench, 0o755)
      chmodSync(data, 0o777)
      const runs = countingSandbox({
        wrapper: join(bench, "kustodian-sandbox"),
        counter: join(bench, "kustomize-runs"),
        counterAs: "/bench/kustomize-runs",
        real: "/usr/local/bin/kustodian-sandbox",
      })
      chmodSync(join(bench, "kustomize-runs"), 0o666)

      // In-cluster configuration, as the kubelet mounts it for the install's ServiceAccount.
      const kc = new KubeConfig()
      kc.loadFromFile(ctx.kubeconfig)
      const server = new URL(kc.getCurrentCluster()!.server)
      const ca = Buffer.from(kc.getCurrentCluster()!.caData!, "base64").toString()
      const account = "kustodian-controller"
      yield* Effect.promise(async () => {
        await createServiceAccount(ctx.namespace, account, kc)
        await kc.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
          body: {
            metadata: { name: "kustodian-bench-image" },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
            subjects: [{ kind: "ServiceAccount", name: account, namespace: ctx.namespace }],
          },
        })
        const token = await serviceAccountToken(ctx.namespace, account, {}, kc)
        writeFileSync(join(sa, "token"), token, { mode: 0o644 })
        writeFileSync(join(sa, "ca.crt"), ca, { mode: 0o644 })
        writeFileSync(join(sa, "namespace"), ctx.namespace, { mode: 0o644 })
      })

      const [probe, storage] = yield* Effect.promise(() => Promise.all([freePort(), freePort()]))
      const flags = [
        `--concurrent=${ctx.concurrent}`,
        `--metrics-addr=127.0.0.1:${probe}`,
        `--storage-addr=127.0.0.1:${storage}`,
        `--storage-adv-addr=127.0.0.1:${storage}`,
        "--storage-path=/data",
        "--watch-all-namespaces=true",
        "--log-level=info",
        "--log-encoding=json",
        // As the bundle peer runs it: a kernel without Landlock fails loudly.
        "--kustomize-sandbox=required",
      ]
      const name = `kustodian-bench-${process.pid}-${Date.now()}`
      const runArgs = [
        "run",
        "--detach",
        `--name=${name}`,
        "--label=kustodian-bench=reconcile",
        "--network=host",
        "--read-only",
        `--tmpfs=/tmp:rw,size=${quantityBytes(limits.tmpSize)},mode=1777`,
        `--memory=${quantityBytes(limits.memoryLimit)}`,
        `--memory-swap=${quantityBytes(limits.memoryLimit)}`,
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        ...runLimits,
        `--volume=${sa}:/var/run/secrets/kubernetes.io/serviceaccount:ro`,
        `--volume=${data}:/data`,
        `--volume=${bench}:/bench`,
        `--env=KUBERNETES_SERVICE_HOST=${server.hostname}`,
        `--env=KUBERNETES_SERVICE_PORT=${server.port}`,
        `--env=RUNTIME_NAMESPACE=${ctx.namespace}`,
        "--env=POD_NAME=kustodian-bench",
        "--env=TMPDIR=/tmp",
        "--env=KUSTODIAN_SANDBOX=/bench/kustodian-sandbox",
        image,
        "controller",
        ...flags,
      ]
      const logFile = join(ctx.work, "kustodian-image.log")
      const id = yield* Effect.acquireRelease(podman(runArgs).pipe(Effect.map((out) => out.trim())), (id) =>
        Effect.gen(function* () {
          yield* podman(["stop", "--time=30", id], 60_000).pipe(Effect.ignore)
          const logs = yield* podman(["logs", id]).pipe(Effect.orElseSucceed(() => ""))
          writeFileSync(logFile, logs)
          yield* podman(["rm", "--force", id]).pipe(Effect.ignore)
        }),
      )
      const probeUrl = `http://127.0.0.1:${probe}`
      const state = () =>
        podman(["inspect", "--format", "{{.State.Status}} {{.State.Pid}} {{.State.CgroupPath}}", id]).pipe(
          Effect.map((out) => {
            const [status, pid, cgroupPath] = out.trim().split(" ")
            return { status: status!, pid: Number(pid), cgroupPath: cgroupPath! }
          }),
        )
      // Ready: serving, caches synced (no leader election). A container that exited fails within 2 s, with its log.
      for (let t = Date.now(), i = 0; ; i++) {
        if (yield* Effect.promise(() => ready(`${probeUrl}/readyz`))) break
        yield* Effect.sleep(250)
        // podman inspect every 2 s, not every poll: each is a process of its own.
        if (i % 8 !== 7) continue
        const s = yield* state()
        if (s.status !== "running" || Date.now() - t > 120_000) {
          const logs = yield* podman(["logs", "--tail=30", id]).pipe(Effect.orElseSucceed(() => ""))
          return yield* Effect.fail(
            new Error(
              `the operator container is ${s.status}, not ready after ${Date.now() - t} ms:\n${logs}`,
            ),
          )
        }
      }
      const s = yield* state()
      const cgroup = yield* Effect.try(() => containerCgroup(s.cgroupPath))
      const metrics = Effect.promise(() => fetch(`${probeUrl}/metrics`).then((r) => r.text()))
      return {
        // tini, the container's init: node and its kustomize children are its descendants.
        pids: [s.pid],
        cgroup,
        kustomizationReconciles: Effect.map(metrics, (t) =>
          [...series(t, "controller_runtime_reconcile_total")]
            .filter(([k]) => label(k, "controller") === "kustomization")
            .reduce((sum, [, v]) => sum + v, 0),
        ),
        kustomizeRuns: runs,
        commandLines: [
          `kustodian controller ${flags.join(" ")} (the image ${image} in a container: --memory=${limits.memoryLimit} without swap, /tmp a ${limits.tmpSize} tmpfs, read-only root, in-cluster ServiceAccount token; ${cgroup.describe})`,
        ],
      }
    }),
}
