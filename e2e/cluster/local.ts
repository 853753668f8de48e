/**
 * The `local` provider: etcd and kube-apiserver as plain processes on 127.0.0.1 (the envtest model). TLS from a
 * throwaway CA, an admin client certificate (CN admin, O system:masters), RBAC, ServiceAccount issuer + signing
 * key (TokenRequest works), admission defaults minus ServiceAccount (the controller manager runs without the
 * ServiceAccount controller, so no `default` ServiceAccounts exist for that plugin to require), and no endpoint
 * reconciler (no need for a routable advertise address). With `workloads`, kube-controller-manager,
 * kube-scheduler and kwok's simulated nodes run too (./workloads.ts): Deployments roll out for real.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { request } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { freePort } from "../support/ports.ts"
import {
  type Daemon,
  daemon,
  type ProcessError,
  spawnReaper,
  stopGroup,
  waitReady,
} from "../support/process.ts"
import { issueCert, makeCa, makeKeyPair } from "../support/tls.ts"
import { toolPath } from "../support/tools.ts"
import { kubeconfigYaml, writeKubeconfig } from "./kubeconfig-file.ts"
import { ClusterError, type ClusterProvider, type StartOptions, type TestCluster } from "./provider.ts"
import { startWorkloads } from "./workloads.ts"

/** What `state.json` in the state dir records, so `cluster:down` (another process) can stop the processes. */
export interface LocalClusterState {
  readonly kubeconfigPath: string
  readonly server: string
  readonly processes: ReadonlyArray<{
    readonly name: string
    readonly pid: number
    readonly startTime: string
  }>
  /**
   * Milliseconds spent making certificates, from etcd spawn to healthy, from kube-apiserver spawn to /readyz, and
   * from there to a Ready kwok node (0 without workloads).
   */
  readonly timings: {
    readonly certsMs: number
    readonly etcdMs: number
    readonly apiserverMs: number
    readonly workloadsMs: number
  }
}

/** GET over HTTPS trusting `ca`; resolves with the status code. */
export const httpsStatus = (url: string, ca: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", ca, timeout: 2_000 }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on("timeout", () => req.destroy(new Error("timeout")))
    req.on("error", reject)
    req.end()
  })

const stateDirFor = (opts: StartOptions) =>
  opts.stateDir === undefined
    ? Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "kustodian-cluster-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true })),
      )
    : Effect.sync(() => {
        rmSync(opts.stateDir!, { recursive: true, force: true })
        mkdirSync(opts.stateDir!, { recursive: true })
        return opts.stateDir!
      })

const portTaken = (e: ProcessError): boolean => /address already in use/i.test(e.logTail)

const startEtcd = Effect.fn("LocalControlPlane.startEtcd")(function* (dir: string, timeoutMs: number) {
  const client = yield* Effect.promise(freePort)
  const peer = yield* Effect.promise(freePort)
  // A retry after a port race must not inherit the membership the failed attempt wrote.
  rmSync(join(dir, "etcd-data"), { recursive: true, force: true })
  const clientUrl = `http://127.0.0.1:${client}`
  const peerUrl = `http://127.0.0.1:${peer}`
  const etcd = yield* daemon({
    name: "etcd",
    command: toolPath("etcd"),
    args: [
      "--name=default",
      `--data-dir=${join(dir, "etcd-data")}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      // Test data is thrown away: skip fsync, it dominates etcd latency on shared disks.
      "--unsafe-no-fsync=true",
      "--log-level=warn",
    ],
    logFile: join(dir, "etcd.log"),
    groupsFile: join(dir, "pgids"),
  })
  yield* waitReady(
    etcd,
    async () => {
      const res = await fetch(`${clientUrl}/health`)
      return res.ok && ((await res.json()) as { health?: string }).health === "true"
    },
    timeoutMs,
    "healthy",
  )
  return { etcd, clientUrl }
})

const startApiserver = Effect.fn("LocalControlPlane.startApiserver")(function* (
  dir: string,
  etcdUrl: string,
  timeoutMs: number,
) {
  const certs = join(dir, "certs")
  const port = yield* Effect.promise(freePort)
  const server = `https://127.0.0.1:${port}`
  const ca = yield* Effect.sync(() => readCa(certs))
  const apiserver = yield* daemon({
    name: "kube-apiserver",
    command: toolPath("kube-apiserver"),
    args: [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${port}`,
      `--cert-dir=${certs}`,
      `--tls-cert-file=${join(certs, "apiserver.crt")}`,
      `--tls-private-key-file=${join(certs, "apiserver.key")}`,
      `--client-ca-file=${join(certs, "ca.crt")}`,
      `--service-account-issuer=${server}`,
      `--service-account-key-file=${join(certs, "sa.pub")}`,
      `--service-account-signing-key-file=${join(certs, "sa.key")}`,
      "--authorization-mode=RBAC",
      "--service-cluster-ip-range=10.0.0.0/24",
      "--allow-privileged=true",
      "--disable-admission-plugins=ServiceAccount",
      "--endpoint-reconciler-type=none",
      "--profiling=false",
    ],
    logFile: join(dir, "kube-apiserver.log"),
    groupsFile: join(dir, "pgids"),
  })
  yield* waitReady(
    apiserver,
    async () => (await httpsStatus(`${server}/readyz`, ca)) === 200,
    timeoutMs,
    "ready",
  )
  return { apiserver, server, ca }
})

const readCa = (certs: string): string => readFileSync(join(certs, "ca.crt"), "utf8")

const writeCerts = (dir: string) => {
  const certs = join(dir, "certs")
  mkdirSync(certs, { recursive: true })
  const ca = makeCa("kustodian-test-cluster-ca")
  const serving = issueCert(ca, {
    commonName: "kube-apiserver",
    dnsNames: ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
    ipAddresses: ["127.0.0.1", "10.0.0.1"],
    usage: "server",
  })
  const admin = issueCert(ca, { commonName: "admin", organizations: ["system:masters"], usage: "client" })
  const sa = makeKeyPair()
  const put = (name: string, content: string) => writeFileSync(join(certs, name), content, { mode: 0o600 })
  put("ca.crt", ca.cert)
  put("ca.key", ca.key)
  put("apiserver.crt", serving.cert)
  put("apiserver.key", serving.key)
  put("admin.crt", admin.cert)
  put("admin.key", admin.key)
  put("sa.key", sa.privateKey)
  put("sa.pub", sa.publicKey)
  return { ca, admin }
}

const start = Effect.fn("LocalControlPlane.start")(function* (opts: StartOptions) {
  const timeoutMs = opts.startTimeoutMs ?? 120_000
  const dir = yield* stateDirFor(opts)
  const t0 = Date.now()
  const { ca, admin } = yield* Effect.try({
    try: () => writeCerts(dir),
    catch: (e) =>
      new ClusterError({
        provider: "local",
        reason: `could not make certificates with openssl: ${String(e)}`,
      }),
  })
  // Started first so that a runner killed mid-start still has its processes (listed in pgids) cleaned up.
  const owner = opts.ownerPid ?? process.pid
  const reaper =
    owner === "none"
      ? undefined
      : yield* Effect.acquireRelease(
          Effect.sync(() =>
            spawnReaper(
              owner,
              join(dir, "pgids"),
              "/dev/null",
              opts.stateDir === undefined ? dir : undefined,
            ),
          ),
          (r) => Effect.promise(() => stopGroup(r.pid, r.startTime, 1_000)),
        )
  // Free ports can be taken between probing and binding: start again on "address already in use".
  const retryOnPortRace = { times: 3, while: portTaken }
  const t1 = Date.now()
  const { etcd, clientUrl } = yield* startEtcd(dir, timeoutMs).pipe(Effect.retry(retryOnPortRace))
  const t2 = Date.now()
  const { apiserver, server } = yield* startApiserver(dir, clientUrl, timeoutMs).pipe(
    Effect.retry(retryOnPortRace),
  )
  const t3 = Date.now()
  const kubeconfigPath = join(dir, "kubeconfig")
  writeKubeconfig(
    kubeconfigPath,
    kubeconfigYaml({
      clusterName: "kustodian-test",
      server,
      caPem: ca.cert,
      user: { name: "admin", clientCertificate: admin.cert, clientKey: admin.key },
    }),
  )
  const workloads =
    opts.workloads === true ? yield* startWorkloads(dir, kubeconfigPath, join(dir, "certs"), timeoutMs) : []
  const t4 = Date.now()
  const daemons: Array<Daemon> = [etcd, apiserver, ...workloads, ...(reaper === undefined ? [] : [reaper])]
  const state: LocalClusterState = {
    kubeconfigPath,
    server,
    processes: daemons.map((d) => ({ name: d.name, pid: d.pid, startTime: d.startTime })),
    timings: { certsMs: t1 - t0, etcdMs: t2 - t1, apiserverMs: t3 - t2, workloadsMs: t4 - t3 },
  }
  writeFileSync(join(dir, "state.json"), `${JSON.stringify(state, null, 2)}\n`)
  const cluster: TestCluster = { provider: "local", kubeconfigPath, server, pids: daemons.map((d) => d.pid) }
  return cluster
})

/** etcd + kube-apiserver (+ workloads) as local processes; needs the binaries from scripts/tools.sh. */
export const localProvider: ClusterProvider = { name: "local", start }
