/**
 * `npm run bench:source`: 200 GitRepositories, each its own repository on the local smart-HTTP git server,
 * reconciled by an operator process running only the GitRepository controller against a private local control
 * plane. Reports the time until all are Ready, the steady-state cost per interval when nothing was pushed (git
 * requests, clones, operator CPU including its git children, API requests), and the operator's peak RSS;
 * appends the result to docs/benchmarks.md.
 */
import { execFileSync } from "node:child_process"
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { cpus, loadavg, tmpdir, totalmem } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { parse } from "yaml"
import { startCluster } from "../e2e/cluster/index.ts"
import { commitFiles, createBareRepo, startGitHttpServer } from "../e2e/support/git-server.ts"
import { freePort } from "../e2e/support/ports.ts"
import { daemon, waitReady } from "../e2e/support/process.ts"
import { gitRepositoryRef } from "../operator/src/controllers/gitrepository.ts"
import { KubeClient } from "../operator/src/kube/client.ts"
import type { KubeObject } from "../operator/src/kube/object.ts"
import { CoreResources } from "../operator/src/kube/resource.ts"
import { metricSum } from "../operator/src/runtime/fixtures/operator-process.ts"

const N = Number(process.env.BENCH_OBJECTS ?? 200)
const WORKERS = Number(process.env.BENCH_WORKERS ?? 4)
const INTERVAL_S = Number(process.env.BENCH_INTERVAL_SECONDS ?? 60)
const WINDOW_INTERVALS = Number(process.env.BENCH_WINDOW_INTERVALS ?? 2)
const FILES = Number(process.env.BENCH_FILES ?? 40)
const ns = "bench-source"
const repoRoot = join(import.meta.dirname, "..")

const procStat = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  const tick = 100
  // utime, stime, cutime, cstime: the operator plus the git children it has reaped.
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / tick
}

const vmHwmMiB = (pid: number): number => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmHWM:"))
  return line ? Number(line.replace(/\D+/g, "")) / 1024 : 0
}

const main = async () => {
  const work = mkdtempSync(join(tmpdir(), "kustodian-bench-source-"))
  const reposDir = join(work, "repos")
  const cluster = await startCluster({ startTimeoutMs: 180_000 })
  const git = await startGitHttpServer({ reposDir })
  try {
    // One repository with a realistic small tree, copied N times (each GitRepository has its own remote).
    const template = await createBareRepo(reposDir, "template")
    const files: Record<string, string> = {}
    for (let i = 0; i < FILES; i++)
      files[`apps/app-${i}/deployment.yaml`] =
        `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-${i}\nspec:\n  replicas: 1\n`
    files["kustomization.yaml"] = "resources: []\n"
    await commitFiles(template, files, { message: "initial" })
    for (let i = 0; i < N; i++) execFileSync("cp", ["-r", template, join(reposDir, `repo-${i}.git`)])

    const storagePort = await freePort()
    const probePort = await freePort()
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const client = yield* KubeClient
          const fm = { fieldManager: "bench", force: true }
          const crd = parse(
            readFileSync(join(repoRoot, "crds/source.toolkit.fluxcd.io_gitrepositories.yaml"), "utf8"),
          ) as KubeObject
          yield* client.apply(CoreResources.customResourceDefinition, crd, fm)
          yield* client.apply(
            CoreResources.namespace,
            { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
            fm,
          )
          for (let i = 0; i < 300; i++) {
            const ok = yield* client.list(gitRepositoryRef, { limit: 1 }).pipe(
              Effect.as(true),
              Effect.orElseSucceed(() => false),
            )
            if (ok) break
            yield* Effect.sleep(100)
          }
          const op = yield* daemon({
            name: "source-operator",
            command: process.execPath,
            args: [join(import.meta.dirname, "source-operator.ts")],
            logFile: join(work, "operator.log"),
            env: {
              ...process.env,
              KUBECONFIG: cluster.cluster.kubeconfigPath,
              STORAGE_DIR: join(work, "storage"),
              STORAGE_PORT: String(storagePort),
              PROBE_PORT: String(probePort),
              WORKERS: String(WORKERS),
              STATS_FILE: join(work, "memory.json"),
            },
          })
          yield* waitReady(
            op,
            () =>
              fetch(`http://127.0.0.1:${probePort}/readyz`).then(
                (r) => r.ok,
                () => false,
              ),
            60_000,
            "ready",
          )
          const metrics = () =>
            Effect.promise(() => fetch(`http://127.0.0.1:${probePort}/metrics`).then((r) => r.text()))

          const t0 = Date.now()
          yield* Effect.forEach(
            Array.from({ length: N }, (_, i) => i),
            (i) =>
              client.apply(
                gitRepositoryRef,
                {
                  apiVersion: "source.toolkit.fluxcd.io/v1",
                  kind: "GitRepository",
                  metadata: { name: `repo-${i}`, namespace: ns },
                  spec: {
                    url: git.repoUrl(`repo-${i}`),
                    interval: `${INTERVAL_S}s`,
                    ref: { branch: "main" },
                  },
                },
                fm,
              ),
            { concurrency: 16, discard: true },
          )
          const createMs = Date.now() - t0
          let readyMs = 0
          for (;;) {
            const list = yield* client.list(gitRepositoryRef, { namespace: ns })
            const ready = list.items.filter((o) =>
              (
                (o.status as { conditions?: Array<{ type: string; status: string }> } | undefined)
                  ?.conditions ?? []
              ).some((c) => c.type === "Ready" && c.status === "True"),
            ).length
            if (ready === N) {
              readyMs = Date.now() - t0
              break
            }
            if (Date.now() - t0 > 30 * 60_000) throw new Error(`only ${ready}/${N} Ready after 30 min`)
            yield* Effect.sleep(250)
          }
          const coldCpu = procStat(op.pid)
          const coldRequests = git.requests.length

          // Steady state: nothing pushed; each object polls once per interval.
          const artifactTimes = () =>
            client
              .list(gitRepositoryRef, { namespace: ns })
              .pipe(
                Effect.map((l) =>
                  l.items.map(
                    (o) =>
                      `${o.metadata.name}=${(o.status as { artifact?: { lastUpdateTime?: string } }).artifact?.lastUpdateTime}`,
                  ),
                ),
              )
          const times0 = new Set(yield* artifactTimes())
          const m0 = metricSum(yield* metrics(), "rest_client_requests_total")
          const cpu0 = procStat(op.pid)
          const counts = () => ({
            gets: git.requests.filter((r) => r.method === "GET").length,
            posts: git.requests.filter((r) => r.method === "POST").length,
          })
          // POSTs − GETs over the whole log = fetches so far (an ls-remote is GET + 1 POST, a fetch GET + 2);
          // it dips while a POST is in flight, so take the highest of a few samples.
          const fetchesSoFar = Effect.gen(function* () {
            let high = Number.NEGATIVE_INFINITY
            for (let i = 0; i < 20; i++) {
              const c = counts()
              high = Math.max(high, c.posts - c.gets)
              yield* Effect.sleep(50)
            }
            return high
          })
          const fetchesStart = yield* fetchesSoFar
          const g0 = counts()
          yield* Effect.sleep(INTERVAL_S * WINDOW_INTERVALS * 1000)
          const m1 = metricSum(yield* metrics(), "rest_client_requests_total")
          const rewritten = (yield* artifactTimes()).filter((t) => !times0.has(t)).length
          const cpu1 = procStat(op.pid)
          const g1 = counts()
          const fetchesEnd = yield* fetchesSoFar
          const storedTarballs = execFileSync("find", [join(work, "storage"), "-name", "*.tar.gz"])
            .toString()
            .trim()
            .split("\n").length
          return {
            createMs,
            readyMs,
            coldCpu,
            coldRequests,
            perInterval: {
              lsRemote: (g1.gets - g0.gets) / WINDOW_INTERVALS,
              fetches: (fetchesEnd - fetchesStart) / WINDOW_INTERVALS,
              cpuSeconds: (cpu1 - cpu0) / WINDOW_INTERVALS,
              apiRequests: (m1 - m0) / WINDOW_INTERVALS,
            },
            peakRssMiB: vmHwmMiB(op.pid),
            memory: JSON.parse(readFileSync(join(work, "memory.json"), "utf8")) as Record<string, number>,
            load: loadavg()[0] ?? 0,
            storedTarballs,
            rewritten,
          }
        }),
      ).pipe(Effect.provide(KubeClient.layer({ _tag: "File", path: cluster.cluster.kubeconfigPath }))),
    )
    const date = new Date().toISOString().slice(0, 16).replace("T", " ")
    const machine = `${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, "polyglot"`
    const f1 = (n: number) => n.toFixed(1)
    const section = `
## Source: GitRepository controller (\`npm run bench:source\`) — ${date} UTC, ${machine}

${N} GitRepositories (branch \`main\`, interval ${INTERVAL_S}s), each its own repository (${FILES + 1} files) on
the local smart-HTTP git server (\`git http-backend\`); one operator process with only the GitRepository
controller (${WORKERS} workers) against the local kube-apiserver + etcd. Node ${process.version}, git ${execFileSync("git", ["--version"]).toString().trim().replace("git version ", "")}.

| measure | value |
|---|---|
| create ${N} objects (client side, 16 in flight) | ${f1(result.createMs / 1000)} s |
| time from first create to all ${N} Ready | ${f1(result.readyMs / 1000)} s (${f1((N * 1000) / result.readyMs)} repos/s) |
| operator CPU (incl. git children) until all Ready | ${f1(result.coldCpu)} s |
| steady state, per interval, no new commits: ls-remote calls | ${f1(result.perInterval.lsRemote)} (one per object) |
| steady state, per interval: fetches/clones (git server log: POSTs beyond one per ls-remote) | ${f1(result.perInterval.fetches)} |
| steady state: artifacts rewritten during the window (status.artifact.lastUpdateTime changed) | ${result.rewritten} of ${N} |
| steady state, per interval: operator CPU incl. git | ${result.perInterval.cpuSeconds.toFixed(2)} s (${((result.perInterval.cpuSeconds / INTERVAL_S) * 100).toFixed(1)} % of one core) |
| steady state, per interval: API requests | ${f1(result.perInterval.apiRequests)} |
| operator peak RSS (VmHWM; git children not included) | ${f1(result.peakRssMiB)} MiB |
| of which peak JS heap used / heap total / external | ${f1((result.memory.heapUsed ?? 0) / 2 ** 20)} / ${f1((result.memory.heapTotal ?? 0) / 2 ** 20)} / ${f1((result.memory.external ?? 0) / 2 ** 20)} MiB |
| machine load average (1 min) at the end — other work shared the 2 cores | ${result.load.toFixed(1)} |
| tarballs in storage at the end | ${result.storedTarballs} |
`
    appendFileSync(join(repoRoot, "docs/benchmarks.md"), section)
    console.log(section)
  } finally {
    await git.stop()
    await cluster.stop()
    rmSync(work, { recursive: true, force: true })
  }
}

await main()
