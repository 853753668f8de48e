/**
 * `npm run bench:reconcile [-- --sizes=100,500,1000,2000] [--peer=flux] [--peers=kustodian,kustodian-image,flux]
 * [--tmpfs] [--no-write]`: the whole
 * operator end to end, optionally side by side with Flux's real controllers. For each size N and each peer, on a
 * FRESH local control plane (kube-apiserver + etcd): ONE git repository (smart HTTP on loopback) with N
 * directories, each holding one sops/age-encrypted Secret (its own data key), a ConfigMap and a Deployment; ONE
 * GitRepository (Ready before the clock starts); N Kustomizations (one per directory, all decrypting with the same
 * `sops-age` Secret, interval 60m as in Flux's MTTP benchmark, no `wait`), `--concurrent=4`. Kustodian runs
 * first (`kustodian controller`), then, with `--peer=flux`, Flux's source-controller + kustomize-controller
 * (bench/peers/flux.ts); `kustodian-image` runs the operator image in a container configured like the install's
 * pod, with the install's memory limit (bench/peers/kustodian-image.ts). Measured the same way for all
 * (bench/peers/measure.ts): time from applying the
 * Kustomizations until all are Ready; peak RSS (summed VmRSS of the peer's processes and their children,
 * sampled every 250 ms); CPU seconds (utime+stime incl. reaped children); API requests per Kustomization (the
 * kube-apiserver's `apiserver_request_total`, minus the bench's own); and a no-change reconcile of all N
 * (`reconcile.fluxcd.io/requestedAt`, no new commit) until every `status.lastHandledReconcileAt` matches: its
 * time, requests, persisted writes, CPU and kustomize processes. Prints one table with both peers and the
 * Kustodian/Flux ratio, and appends it to docs/benchmarks.md unless `--no-write`. A peer in a container is also
 * measured from its cgroup, as a kubelet sees it (bench/peers/cgroup.ts): its CPU seconds are the cgroup's, and
 * its memory rows add the cgroup's usage (incl. page cache and the /tmp tmpfs), the kubelet's working set, and
 * anonymous + tmpfs memory.
 *
 * Env: `BENCH_CONCURRENT` (4), `BENCH_TIMEOUT_MINUTES` (per phase; default 2 min + 2 s per Kustomization),
 * `BENCH_FLUX_FLAGS` (extra flags for both Flux controllers). Everything started is stopped with its scope, on
 * Ctrl-C too; the control plane's reaper also kills the peers' process groups if the bench is SIGKILLed.
 */

import { execFile } from "node:child_process"
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { rm } from "node:fs/promises"
import { cpus, loadavg, totalmem } from "node:os"
import { dirname, join } from "node:path"
import { promisify } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Stream } from "effect"
import { parse } from "yaml"
import { startCluster } from "../e2e/cluster/index.ts"
import { commitFiles, createBareRepo, gitHttpServer } from "../e2e/support/git-server.ts"
import { killAllSync } from "../e2e/support/process.ts"
import { generateAgeKey, scratchDir } from "../e2e/support/seed.ts"
import { repoRoot, toolPath } from "../e2e/support/tools.ts"
import { gitRepositoryRef } from "../operator/src/controllers/gitrepository.ts"
import { kustomizationRef } from "../operator/src/controllers/kustomization.ts"
import { KubeClient } from "../operator/src/kube/client.ts"
import type { KubeObject } from "../operator/src/kube/object.ts"
import { CoreResources } from "../operator/src/kube/resource.ts"
import { cgroupSampler, type MemorySample } from "./peers/cgroup.ts"
import { fluxPeer } from "./peers/flux.ts"
import { kustodianPeer } from "./peers/kustodian.ts"
import { kustodianImagePeer } from "./peers/kustodian-image.ts"
import {
  apiserverGetter,
  apiserverRequests,
  cpuOf,
  ownRequests,
  type Requests,
  requestDelta,
  rssSampler,
  statusMiB,
} from "./peers/measure.ts"
import type { Peer } from "./peers/peer.ts"

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const sizesArg = arg("sizes")
const SIZES = (sizesArg ?? "100,500,1000,2000").split(",").map(Number)
if (SIZES.some((n) => !Number.isInteger(n) || n < 1))
  throw new Error(`--sizes: not a list of counts: ${sizesArg}`)
/**
 * `--peer=flux` adds Flux after Kustodian; `--peers=flux` (or `kustodian,flux`, `kustodian,kustodian-image`)
 * picks exactly, in that order.
 */
const PEERS = (arg("peers") ?? ["kustodian", arg("peer")].filter((p) => p !== undefined).join(",")).split(",")
const PEER_NAMES = ["kustodian", "kustodian-image", "flux"]
if (PEERS.some((p) => !PEER_NAMES.includes(p)) || PEERS.length === 0)
  throw new Error(`--peer/--peers: some of ${PEER_NAMES.join(", ")}, not ${PEERS.join(",")}`)
/** `--no-write`: print the section but leave docs/benchmarks.md alone (trial runs). */
const WRITE = !process.argv.includes("--no-write")
/**
 * `--tmpfs`: the peers' TMPDIR (artifact downloads, build directories, storage) on /dev/shm, as Flux's scaling
 * guide advises for /tmp.
 */
const TMPFS = process.argv.includes("--tmpfs")
const CONCURRENT = Number(process.env.BENCH_CONCURRENT ?? 4)
/** Per phase (all Ready; the no-change round): proportional to N unless set. */
const timeoutMs = (n: number) =>
  process.env.BENCH_TIMEOUT_MINUTES === undefined
    ? 120_000 + 2_000 * n
    : Number(process.env.BENCH_TIMEOUT_MINUTES) * 60_000
const execFileAsync = promisify(execFile)
const ns = "flux-system"
const appsNs = "bench-apps"
const fm = { fieldManager: "bench", force: true }

type Status = {
  conditions?: Array<{ type: string; status: string }>
  lastHandledReconcileAt?: string
}
const isReady = (s: Status | undefined) =>
  (s?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True")

const say = (line: string) => Effect.sync(() => process.stdout.write(`${line}\n`))

/** The repository content for `n` apps: apps/app-i/{kustomization,secret.sops,configmap,deployment}.yaml. */
const makeRepoFiles = (n: number, recipient: string, work: string) =>
  Effect.promise(async () => {
    const files: Record<string, string> = {}
    const dir = join(work, "plain")
    mkdirSync(dir, { recursive: true })
    let next = 0
    const encryptOne = async (i: number) => {
      const file = join(dir, `secret-${i}.yaml`)
      const b64 = (s: string) => Buffer.from(s).toString("base64")
      // What `kubectl create secret generic … --dry-run=client -o yaml` prints, written directly (1000 kubectl
      // runs would only measure kubectl).
      writeFileSync(
        file,
        `apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-${i}\n  namespace: ${appsNs}\ndata:\n  user: ${b64(`user-${i}`)}\n  password: ${b64(`pw-${i}-${Math.random().toString(36).slice(2)}`)}\n`,
      )
      // Not seed.ts's `run`: it writes to the child's stdin, which can fail with an unhandled EPIPE when sops
      // has already exited (seen here under load); sops needs no input.
      await execFileAsync(toolPath("sops"), [
        `--age=${recipient}`,
        "--encrypted-regex",
        "^(data|stringData)$",
        "--encrypt",
        "--in-place",
        file,
      ])
      files[`apps/app-${i}/secret.sops.yaml`] = readFileSync(file, "utf8")
    }
    // Two sops processes at a time: the machine has two cores.
    await Promise.all(
      [0, 1].map(async () => {
        for (let i = next++; i < n; i = next++) await encryptOne(i)
      }),
    )
    for (let i = 0; i < n; i++) {
      files[`apps/app-${i}/kustomization.yaml`] =
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - secret.sops.yaml\n  - configmap.yaml\n  - deployment.yaml\n"
      files[`apps/app-${i}/configmap.yaml`] =
        `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-${i}\n  namespace: ${appsNs}\ndata:\n  app.properties: |\n    name=app-${i}\n    replicas=1\n`
      files[`apps/app-${i}/deployment.yaml`] =
        `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-${i}\n  namespace: ${appsNs}\n  labels:\n    app: app-${i}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: app-${i}\n  template:\n    metadata:\n      labels:\n        app: app-${i}\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/stefanprodan/podinfo:6.5.0\n          envFrom:\n            - configMapRef:\n                name: app-${i}\n            - secretRef:\n                name: app-${i}\n`
    }
    return files
  })

/** A scratch TMPDIR for a peer: on /dev/shm with `--tmpfs`, else under `work`; removed with the scope. */
const peerTmpdir = (work: string) =>
  TMPFS
    ? Effect.acquireRelease(
        Effect.sync(() => mkdtempSync("/dev/shm/kustodian-bench-reconcile-")),
        (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
      )
    : Effect.sync(() => {
        const d = join(work, "tmp")
        mkdirSync(d, { recursive: true })
        return d
      })

/**
 * The Kustomizations' statuses by name, kept current by one watch (a list of N objects every few hundred ms
 * would cost the shared kube-apiserver more than the peers' own requests at N = 2000).
 */
const kustomizationStatuses = Effect.gen(function* () {
  const client = yield* KubeClient
  const state = new Map<string, Status | undefined>()
  let rv: string | undefined
  const relist = Effect.gen(function* () {
    const l = yield* client.list(kustomizationRef, { namespace: ns })
    state.clear()
    for (const o of l.items) state.set(o.metadata.name, o.status as Status | undefined)
    rv = l.metadata.resourceVersion
  })
  yield* relist
  const watchOnce = Effect.suspend(() =>
    client.watch(kustomizationRef, { namespace: ns, resourceVersion: rv, timeoutSeconds: 300 }).pipe(
      Stream.runForEach((ev) =>
        Effect.sync(() => {
          rv = ev.object.metadata.resourceVersion ?? rv
          if (ev.type === "ADDED" || ev.type === "MODIFIED")
            state.set(ev.object.metadata.name, ev.object.status as Status | undefined)
          else if (ev.type === "DELETED") state.delete(ev.object.metadata.name)
        }),
      ),
    ),
  )
  // A closed watch resumes from the last resourceVersion; an expired one (410) or an error relists.
  yield* Effect.forkScoped(
    Effect.forever(
      watchOnce.pipe(Effect.catch(() => Effect.andThen(Effect.sleep(1_000), relist.pipe(Effect.ignore)))),
    ),
  )
  return state
})

/** Polls `count` every 250 ms until it reaches `n` or the phase times out; returns the time taken, or undefined. */
const waitFor = (what: string, n: number, t0: number, count: () => number) =>
  Effect.gen(function* () {
    let lastReport = Date.now()
    for (;;) {
      const c = count()
      if (c >= n) return { ms: Date.now() - t0, count: c }
      if (Date.now() - t0 > timeoutMs(n)) {
        yield* say(`  ${what}: only ${c}/${n} after ${(timeoutMs(n) / 60_000).toFixed(1)} min, giving up`)
        return { ms: undefined, count: c }
      }
      if (Date.now() - lastReport > 15_000) {
        lastReport = Date.now()
        yield* say(`  ${what}: ${c}/${n} after ${((Date.now() - t0) / 1000).toFixed(0)} s`)
      }
      yield* Effect.sleep(250)
    }
  })

interface NoChange {
  readonly ms: number | undefined
  readonly handled: number
  readonly reconciles: number
  readonly requests: Requests
  readonly cpuS: number
  readonly kustomizeRuns: number | undefined
}

interface PeerResult {
  readonly peer: string
  readonly n: number
  readonly commandLines: ReadonlyArray<string>
  readonly applyMs: number
  /** undefined: not all Ready within the phase's timeout (`ready` says how many were). */
  readonly readyMs: number | undefined
  readonly ready: number
  /** Summed RSS once started and the GitRepository is Ready, before any Kustomization. */
  readonly idleRssMiB: number
  readonly peakRssMiB: number
  /** VmHWM of the long-running processes (children not included), summed. */
  readonly hwmMiB: number
  readonly cpuS: number
  readonly reconciles: number
  readonly kustomizeRuns: number | undefined
  readonly cold: Requests
  readonly noChange: NoChange | undefined
  /** A peer in a container: its cgroup's memory (MiB) once idle and at its peaks. */
  readonly container:
    | {
        readonly limitMiB: number | undefined
        readonly idle: MemorySample
        /** Each measure's largest sample (every 250 ms). */
        readonly peak: MemorySample
        /** The kernel's high-water mark of usage since the container started (v2 memory.peak, v1 max_usage). */
        readonly kernelPeakMiB: number | undefined
      }
    | undefined
  readonly load: string
}

const runPeer = (peer: Peer, n: number, files: Record<string, string>, ageKeyFile: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const work = yield* scratchDir(
        `kustodian-bench-reconcile-${peer.name.toLowerCase().replaceAll(/\W+/g, "-")}-${n}-`,
      )
      const tmpdir = yield* peerTmpdir(work)
      const cluster = yield* Effect.acquireRelease(
        Effect.promise(() => startCluster({ startTimeoutMs: 180_000 })),
        (c) => Effect.promise(() => c.stop()),
      )
      const kubeconfig = cluster.cluster.kubeconfigPath
      const apiserver = apiserverGetter(kubeconfig)
      const git = yield* gitHttpServer({ reposDir: join(work, "repos") })
      const bare = yield* Effect.promise(() => createBareRepo(join(work, "repos"), "apps"))
      yield* Effect.promise(() => commitFiles(bare, files, { message: "apps" }))

      return yield* Effect.gen(function* () {
        const client = yield* KubeClient
        const crds = peer.crdFiles().map((f) => parse(readFileSync(f, "utf8")) as KubeObject)
        for (const crd of crds) yield* client.apply(CoreResources.customResourceDefinition, crd, fm)
        for (const name of [ns, appsNs])
          yield* client.apply(
            CoreResources.namespace,
            { apiVersion: "v1", kind: "Namespace", metadata: { name } },
            fm,
          )
        for (const crd of crds)
          for (let i = 0; ; i++) {
            const got = yield* client.get(CoreResources.customResourceDefinition, crd.metadata.name)
            const conditions = (got.status as Status | undefined)?.conditions ?? []
            if (conditions.some((c) => c.type === "Established" && c.status === "True")) break
            if (i > 300) return yield* Effect.die(new Error(`CRD ${crd.metadata.name} not Established`))
            yield* Effect.sleep(100)
          }
        yield* client.apply(
          CoreResources.secret,
          {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "sops-age", namespace: ns },
            stringData: { "age.agekey": readFileSync(ageKeyFile, "utf8") },
          },
          fm,
        )

        const p = yield* peer.start({
          kubeconfig,
          work,
          tmpdir,
          groupsFile: join(dirname(kubeconfig), "pgids"),
          concurrent: CONCURRENT,
          namespace: ns,
        })
        const rss = yield* rssSampler(p.pids)
        const mem = p.cgroup === undefined ? undefined : yield* cgroupSampler(p.cgroup)
        const cpu = () => (p.cgroup === undefined ? cpuOf(p.pids) : p.cgroup.cpuSeconds())
        // The source first, so the measured time is the Kustomizations' own (Flux's MTTP also starts from a
        // ready source).
        yield* client.apply(
          gitRepositoryRef,
          {
            apiVersion: "source.toolkit.fluxcd.io/v1",
            kind: "GitRepository",
            metadata: { name: "apps", namespace: ns },
            spec: { url: git.repoUrl("apps"), interval: "60m", ref: { branch: "main" } },
          },
          fm,
        )
        for (let t = Date.now(); ; ) {
          const repo = yield* client.get(gitRepositoryRef, "apps", ns)
          if (isReady(repo.status as Status | undefined)) break
          if (Date.now() - t > 120_000)
            return yield* Effect.die(new Error("GitRepository not Ready after 2 min"))
          yield* Effect.sleep(200)
        }
        const statuses = yield* kustomizationStatuses
        yield* Effect.sleep(1_000)
        const idleRssMiB = rss.peak()
        const idleContainer = p.cgroup?.memory()

        const snapshot = Effect.gen(function* () {
          const text = yield* apiserver("/metrics")
          return {
            server: apiserverRequests(text),
            own: yield* ownRequests,
            reconciles: yield* p.kustomizationReconciles,
            cpu: cpu(),
            kustomize: p.kustomizeRuns(),
          }
        })
        const between = (a: Effect.Success<typeof snapshot>, b: Effect.Success<typeof snapshot>) => ({
          requests: requestDelta([a.server, b.server], [a.own, b.own]),
          reconciles: b.reconciles - a.reconciles,
          cpuS: b.cpu - a.cpu,
          kustomizeRuns:
            a.kustomize === undefined || b.kustomize === undefined ? undefined : b.kustomize - a.kustomize,
        })

        const s0 = yield* snapshot
        const t0 = Date.now()
        yield* Effect.forEach(
          Array.from({ length: n }, (_, i) => i),
          (i) =>
            client.apply(
              kustomizationRef,
              {
                apiVersion: "kustomize.toolkit.fluxcd.io/v1",
                kind: "Kustomization",
                metadata: { name: `app-${i}`, namespace: ns },
                spec: {
                  interval: "60m",
                  sourceRef: { kind: "GitRepository", name: "apps" },
                  path: `./apps/app-${i}`,
                  prune: true,
                  decryption: { provider: "sops", secretRef: { name: "sops-age" } },
                },
              },
              fm,
            ),
          { concurrency: 8, discard: true },
        )
        const applyMs = Date.now() - t0
        const ready = yield* waitFor(
          `${peer.name} ${n} Ready`,
          n,
          t0,
          () => [...statuses.values()].filter(isReady).length,
        )
        const s1 = yield* snapshot
        const cold = between(s0, s1)

        let noChange: NoChange | undefined
        if (ready.ms !== undefined) {
          // Let stragglers (status-update echoes, Events) settle before the no-change round.
          yield* Effect.sleep(3_000)
          const s2 = yield* snapshot
          const token = new Date().toISOString()
          const t1 = Date.now()
          yield* Effect.forEach(
            Array.from({ length: n }, (_, i) => i),
            (i) =>
              client.patch(
                kustomizationRef,
                { name: `app-${i}`, namespace: ns },
                { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": token } } },
                "merge",
              ),
            { concurrency: 8, discard: true },
          )
          const handled = yield* waitFor(
            `${peer.name} ${n} no-change`,
            n,
            t1,
            () => [...statuses.values()].filter((s) => s?.lastHandledReconcileAt === token).length,
          )
          // Requests still in flight for the last few (Events, status) land within a moment.
          yield* Effect.sleep(2_000)
          const s3 = yield* snapshot
          const d = between(s2, s3)
          noChange = {
            ms: handled.ms,
            handled: handled.count,
            reconciles: d.reconciles,
            requests: d.requests,
            cpuS: d.cpuS,
            kustomizeRuns: d.kustomizeRuns,
          }
        }
        yield* rss.stop
        if (mem !== undefined) yield* mem.stop
        return {
          peer: peer.name,
          n,
          commandLines: p.commandLines,
          applyMs,
          readyMs: ready.ms,
          ready: ready.count,
          idleRssMiB,
          peakRssMiB: rss.peak(),
          hwmMiB: p.pids.reduce((s, pid) => s + statusMiB(pid, "VmHWM"), 0),
          cpuS: cold.cpuS,
          reconciles: cold.reconciles,
          kustomizeRuns: cold.kustomizeRuns,
          cold: cold.requests,
          noChange,
          container:
            p.cgroup === undefined || mem === undefined || idleContainer === undefined
              ? undefined
              : {
                  limitMiB: p.cgroup.limitMiB,
                  idle: idleContainer,
                  peak: mem.peak(),
                  kernelPeakMiB: p.cgroup.kernelPeakMiB(),
                },
          load: loadavg()
            .map((l) => l.toFixed(2))
            .join(" "),
        } satisfies PeerResult
      }).pipe(Effect.provide(KubeClient.layer({ _tag: "File", path: kubeconfig })))
    }),
  )

// ---------------------------------------------------------------------------------------------- the table

const s1 = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000)
const fmt = (v: number | undefined, digits = 1) => (v === undefined ? "—" : v.toFixed(digits))
const verbs = (r: Requests, per: number) =>
  Object.entries(r.byVerb)
    .filter(([, v]) => v > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k.toLowerCase()} ${(v / per).toFixed(1)}`)
    .join(", ")

interface Metric {
  readonly name: string
  readonly value: (r: PeerResult) => number | undefined
  readonly show?: (r: PeerResult) => string
  readonly digits?: number
}

const METRICS: ReadonlyArray<Metric> = [
  {
    name: "applied → all Ready",
    value: (r) => s1(r.readyMs),
    show: (r) =>
      r.readyMs === undefined
        ? `${r.ready}/${r.n} Ready at timeout`
        : `${fmt(s1(r.readyMs))} s (${fmt(s1(r.applyMs))} s to apply)`,
  },
  {
    name: "Kustomizations Ready per second",
    value: (r) => (r.readyMs ? r.n / (r.readyMs / 1000) : undefined),
    digits: 2,
  },
  { name: "RSS idle, before any Kustomization (MiB)", value: (r) => r.idleRssMiB, digits: 0 },
  { name: "peak RSS, all processes incl. children (MiB)", value: (r) => r.peakRssMiB, digits: 0 },
  {
    name: "container memory idle, cgroup usage / working set (MiB)",
    value: (r) => r.container?.idle.usage,
    show: (r) =>
      r.container === undefined
        ? "—"
        : `${fmt(r.container.idle.usage, 0)} / ${fmt(r.container.idle.workingSet, 0)}`,
  },
  {
    name: "container memory peak, cgroup usage incl. page cache and /tmp tmpfs (MiB; the kernel's high-water mark)",
    value: (r) => r.container?.kernelPeakMiB ?? r.container?.peak.usage,
    show: (r) =>
      r.container === undefined
        ? "—"
        : `${fmt(r.container.kernelPeakMiB ?? r.container.peak.usage, 0)} of ${fmt(r.container.limitMiB, 0)} (sampled ${fmt(r.container.peak.usage, 0)})`,
  },
  {
    name: "container peak working set, usage − inactive file, as the kubelet (MiB)",
    value: (r) => r.container?.peak.workingSet,
    digits: 0,
  },
  {
    name: "container peak anonymous + tmpfs memory, unreclaimable (MiB)",
    value: (r) => r.container?.peak.anonShmem,
    digits: 0,
  },
  {
    name: "CPU until all Ready, incl. children (s; a container's: its cgroup's)",
    value: (r) => r.cpuS,
  },
  {
    name: "API requests per Kustomization until all Ready",
    value: (r) => r.cold.total / r.n,
    show: (r) =>
      `${fmt(r.cold.total / r.n)} (writes ${fmt(r.cold.writes / r.n)}, dry runs ${fmt(r.cold.dryRuns / r.n)}; ${verbs(r.cold, r.n)})`,
  },
  {
    name: "kustomize processes until all Ready",
    value: (r) => r.kustomizeRuns,
    show: (r) => (r.kustomizeRuns === undefined ? "0 (in process)" : String(r.kustomizeRuns)),
  },
  {
    name: "no-change reconcile of all: time",
    value: (r) => s1(r.noChange?.ms),
    show: (r) =>
      r.noChange === undefined
        ? "not run"
        : r.noChange.ms === undefined
          ? `${r.noChange.handled}/${r.n} handled at timeout`
          : `${fmt(s1(r.noChange.ms))} s (${r.noChange.reconciles} reconciles)`,
  },
  {
    name: "no-change: API requests per Kustomization",
    value: (r) => (r.noChange ? r.noChange.requests.total / r.n : undefined),
    show: (r) =>
      r.noChange === undefined
        ? "—"
        : `${fmt(r.noChange.requests.total / r.n)} (dry runs ${fmt(r.noChange.requests.dryRuns / r.n)}; ${verbs(r.noChange.requests, r.n)})`,
  },
  {
    name: "no-change: write requests, all N (not dry runs)",
    value: (r) => r.noChange?.requests.writes,
    digits: 0,
  },
  { name: "no-change: CPU incl. children (s)", value: (r) => r.noChange?.cpuS },
  {
    name: "no-change: kustomize processes",
    value: (r) => r.noChange?.kustomizeRuns,
    show: (r) =>
      r.noChange === undefined
        ? "—"
        : r.noChange.kustomizeRuns === undefined
          ? "0 (builds in process)"
          : String(r.noChange.kustomizeRuns),
  },
]

/** One column per peer run; the Kustodian/Flux ratio when both ran. */
const table = (results: ReadonlyArray<PeerResult>): string => {
  const sizes = [...new Set(results.map((r) => r.n))]
  const peers = [...new Set(results.map((r) => r.peer))]
  const ratio = peers.includes("Kustodian") && peers.includes("Flux")
  const of = (peer: string, n: number) => results.find((r) => r.peer === peer && r.n === n)
  const rows: Array<string> = []
  for (const n of sizes) {
    const k = of("Kustodian", n)
    const f = of("Flux", n)
    for (const m of METRICS) {
      const cell = (r: PeerResult | undefined) =>
        r === undefined ? "—" : m.show ? m.show(r) : fmt(m.value(r), m.digits ?? 1)
      const kv = k && m.value(k)
      const fv = f && m.value(f)
      const cells = peers.map((p) => cell(of(p, n)))
      if (ratio) cells.push(kv !== undefined && fv !== undefined && fv !== 0 ? (kv / fv).toFixed(2) : "—")
      rows.push(`| ${n} | ${m.name} | ${cells.join(" | ")} |`)
    }
  }
  const header = ["N", "measure", ...peers, ...(ratio ? ["Kustodian/Flux"] : [])]
  return [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows].join("\n")
}

const main = Effect.gen(function* () {
  const max = Math.max(...SIZES)
  const work = yield* scratchDir("kustodian-bench-reconcile-")
  const peers: Array<Peer> = PEERS.map((p) =>
    p === "flux" ? fluxPeer : p === "kustodian-image" ? kustodianImagePeer : kustodianPeer(work),
  )
  // Fail before the long sops step when a peer's binaries are missing.
  if (PEERS.includes("flux")) {
    toolPath("source-controller")
    toolPath("kustomize-controller")
  }
  const age = yield* Effect.promise(() => generateAgeKey(work))
  const t = Date.now()
  const files = yield* makeRepoFiles(max, age.recipient, work)
  yield* say(`encrypted ${max} Secrets with sops in ${((Date.now() - t) / 1000).toFixed(1)} s`)
  const results: Array<PeerResult> = []
  for (const n of SIZES) {
    // Each size gets a repository with exactly its N directories.
    const subset = Object.fromEntries(
      Object.entries(files).filter(([p]) => Number(/app-(\d+)\//.exec(p)?.[1]) < n),
    )
    for (const peer of peers) {
      yield* say(`${peer.name}, N = ${n}: fresh control plane ...`)
      const r = yield* runPeer(peer, n, subset, age.keyFile)
      results.push(r)
      yield* say(JSON.stringify(r))
    }
  }
  const date = new Date().toISOString().slice(0, 16).replace("T", " ")
  const commandLines = [...new Set(results.flatMap((r) => r.commandLines))]
  const section = `
## Reconcile side by side — \`npm run bench:reconcile -- --sizes=${SIZES.join(",")} --peers=${PEERS.join(",")}${TMPFS ? " --tmpfs" : ""}\` (${date} UTC)

Machine: "polyglot", ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}. Each peer on a fresh local
control plane; TMPDIR ${TMPFS ? "on tmpfs (/dev/shm)" : "on the disk"}. Load average (1/5/15 min) after each run:
${results.map((r) => `${r.peer} ${r.n}: ${r.load}`).join("; ")}.

${table(results)}

Command lines: ${commandLines.map((c) => `\`${c}\``).join("; ")}.
`
  if (WRITE) appendFileSync(join(repoRoot, "docs/benchmarks.md"), section)
  yield* say(section)
})

// Last line of defence on a synchronous exit (the scopes stop everything on Ctrl-C already).
process.on("exit", killAllSync)
NodeRuntime.runMain(Effect.scoped(main))
