/**
 * The `kind` provider: a `kindest/node` container through testcontainers, bootstrapped with kubeadm the way kind
 * itself does (systemd boots kubelet and containerd; `kubeadm init` makes a one-node control plane). Needs a
 * Docker engine that can run privileged containers.
 *
 * NOT RUN HERE: our machines have no Docker engine, so this path has never been exercised in this repository.
 * Image: `KUSTODIAN_KIND_IMAGE` (default `kindest/node:<KUBERNETES_VERSION>`).
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { toolVersions } from "../support/tools.ts"
import { writeKubeconfig } from "./kubeconfig-file.ts"
import { ClusterError, type ClusterProvider, type StartOptions, type TestCluster } from "./provider.ts"

const fail = (reason: string) => new ClusterError({ provider: "kind", reason })

const start = Effect.fn("KindCluster.start")(function* (opts: StartOptions) {
  const { GenericContainer, Wait } = yield* Effect.tryPromise({
    try: () => import("testcontainers"),
    catch: (e) => fail(`testcontainers is not loadable: ${String(e)}`),
  })
  const image = process.env.KUSTODIAN_KIND_IMAGE || `kindest/node:${toolVersions().KUBERNETES_VERSION}`
  const timeoutMs = opts.startTimeoutMs ?? 300_000
  const dir =
    opts.stateDir ??
    (yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "kustodian-kind-"))),
      (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true })),
    ))
  mkdirSync(dir, { recursive: true })
  const container = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        new GenericContainer(image)
          .withPrivilegedMode()
          .withTmpFs({ "/run": "rw", "/tmp": "rw" })
          .withEnvironment({ container: "docker" })
          .withExposedPorts(6443)
          .withWaitStrategy(Wait.forLogMessage(/multi-user\.target|Multi-User System/))
          .withStartupTimeout(timeoutMs)
          .start(),
      catch: (e) => fail(`could not start ${image} (is a Docker engine running?): ${String(e)}`),
    }),
    (c) => Effect.promise(() => c.stop().then(() => undefined)),
  )
  const host = container.getHost()
  const port = container.getMappedPort(6443)
  const init = yield* Effect.tryPromise({
    try: () =>
      container.exec([
        "kubeadm",
        "init",
        "--skip-phases=preflight,addon/kube-proxy,addon/coredns",
        `--apiserver-cert-extra-sans=localhost,127.0.0.1,${host}`,
        "--pod-network-cidr=10.244.0.0/16",
        "--ignore-preflight-errors=all",
      ]),
    catch: (e) => fail(`kubeadm init failed: ${String(e)}`),
  })
  if (init.exitCode !== 0)
    return yield* fail(`kubeadm init exited ${init.exitCode}: ${init.output.slice(-2000)}`)
  const admin = yield* Effect.tryPromise({
    try: () => container.exec(["cat", "/etc/kubernetes/admin.conf"]),
    catch: (e) => fail(`cannot read admin.conf: ${String(e)}`),
  })
  const server = `https://${host}:${port}`
  const kubeconfigPath = join(dir, "kubeconfig")
  writeKubeconfig(kubeconfigPath, admin.stdout.replace(/server: \S+/, `server: ${server}`))
  const cluster: TestCluster = { provider: "kind", kubeconfigPath, server, pids: [] }
  return cluster
})

/** A one-node kubeadm cluster in a kindest/node container (Docker required; not run on our machines). */
export const kindProvider: ClusterProvider = { name: "kind", start }
