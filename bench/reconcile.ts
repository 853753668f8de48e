/**
 * `npm run bench:reconcile [-- --sizes=100,500,1000]`: the whole operator end to end. For each size N, on a
 * fresh local control plane (kube-apiserver + etcd) with `kustodian controller` as its own process: ONE git
 * repository (smart HTTP on loopback) with N directories, each holding one sops/age-encrypted Secret, a
 * ConfigMap and a Deployment; ONE GitRepository; N Kustomizations (one per directory, all decrypting with the
 * same `sops-age` Secret, interval 60m as in Flux's MTTP benchmark, no `wait`). Reports the time from applying
 * the Kustomizations until all are Ready, the operator's peak RSS (VmHWM), API requests per reconcile, and the
 * cost of a no-change reconcile of all N (`reconcile.fluxcd.io/requestedAt`, no new commit); appends the
 * result to docs/benchmarks.md. Everything it starts is stopped with its scope.
 */

import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { rm } from "node:fs/promises"
import { cpus, loadavg, totalmem } from "node:os"
import { join } from "node:path"
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { parse } from "yaml"
import { startCluster } from "../e2e/cluster/index.ts"
import { commitFiles, createBareRepo, gitHttpServer } from "../e2e/support/git-server.ts"
import { operatorProcess } from "../e2e/support/operator-process.ts"
import { generateAgeKey, run, scratchDir } from "../e2e/support/seed.ts"
import { repoRoot, toolPath } from "../e2e/support/tools.ts"
import { gitRepositoryRef } from "../operator/src/controllers/gitrepository.ts"
import { kustomizationRef } from "../operator/src/controllers/kustomization.ts"
import { KubeClient } from "../operator/src/kube/client.ts"
import { CoreResources, type KubeObject } from "../operator/src/kube/resource.ts"

const sizesArg = process.argv.find((a) => a.startsWith("--sizes="))?.slice("--sizes=".length)
const SIZES = (sizesArg ?? "100,500,1000").split(",").map(Number)
if (SIZES.some((n) => !Number.isInteger(n) || n < 1))
  throw new Error(`--sizes: not a list of counts: ${sizesArg}`)
/** `--no-write`: print the section but leave docs/benchmarks.md alone (trial runs). */
const WRITE = !process.argv.includes("--no-write")
/**
 * `--tmpfs`: the operator's TMPDIR (artifact downloads, build directories, storage) on /dev/shm, as Flux's
 * scaling guide advises for /tmp; every build extracts the whole artifact, which on this machine's disk costs
 * about 1 ms of kernel time per file.
 */
const TMPFS = process.argv.includes("--tmpfs")
const CONCURRENT = Number(process.env.BENCH_CONCURRENT ?? 4)
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MINUTES ?? 30) * 60_000
const ns = "flux-system"
const appsNs = "bench-apps"
const fm = { fieldManager: "bench", force: true }

type Conditions = { conditions?: Array<{ type: string; status: string }>; lastHandledReconcileAt?: string }

const say = (line: string) => Effect.sync(() => process.stdout.write(`${line}\n`))

const vmHwmMiB = (pid: number): number => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmHWM:"))
  return line ? Number(line.replace(/\D+/g, "")) / 1024 : 0
}

/** utime + stime + children's, in seconds (kustomize/git children the operator reaped included). */
const cpuSeconds = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100
}

/** Prometheus text → { "verb code" or other label set: value } for one metric name. */
const series = (text: string, name: string): Map<string, number> => {
  const out = new Map<string, number>()
  for (const l of text.split("\n")) {
    if (!(l.startsWith(`${name}{`) || l.startsWith(`${name} `))) continue
    const labels = l.slice(name.length, l.lastIndexOf(" "))
    out.set(labels, (out.get(labels) ?? 0) + Number(l.slice(l.lastIndexOf(" ") + 1)))
  }
  return out
}
const sum = (m: Map<string, number>, filter = "") =>
  [...m].filter(([k]) => k.includes(filter)).reduce((s, [, v]) => s + v, 0)

const WRITE_VERBS = [
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "post",
  "put",
  "patch",
  "delete",
  "create",
  "update",
  "apply",
]
interface Requests {
  readonly total: number
  readonly writes: number
  readonly byVerb: Record<string, number>
}
const requestDelta = (before: Map<string, number>, after: Map<string, number>): Requests => {
  const byVerb: Record<string, number> = {}
  for (const [k, v] of after) {
    const verb = /verb="([^"]+)"/.exec(k)?.[1] ?? "?"
    byVerb[verb] = (byVerb[verb] ?? 0) + v - (before.get(k) ?? 0)
  }
  const total = Object.values(byVerb).reduce((a, b) => a + b, 0)
  const writes = Object.entries(byVerb)
    .filter(([v]) => WRITE_VERBS.includes(v))
    .reduce((a, [, b]) => a + b, 0)
  return { total, writes, byVerb }
}

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
      await run(toolPath("sops"), [
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

/**
 * Runs `start` (which spawns the operator with this process's environment) with TMPDIR on a fresh /dev/shm
 * directory when `--tmpfs` is given; the directory is removed with the scope.
 */
const withOperatorTmpdir = <A, E, R>(start: Effect.Effect<A, E, R>) =>
  TMPFS
    ? Effect.gen(function* () {
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync("/dev/shm/kustodian-bench-reconcile-")),
          (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
        )
        const saved = process.env.TMPDIR
        return yield* Effect.acquireUseRelease(
          Effect.sync(() => {
            process.env.TMPDIR = dir
          }),
          () => start,
          () =>
            Effect.sync(() => {
              if (saved === undefined) delete process.env.TMPDIR
              else process.env.TMPDIR = saved
            }),
        )
      })
    : start

interface SizeResult {
  readonly n: number
  readonly applyMs: number
  readonly readyMs: number
  readonly peakRssMiB: number
  readonly cpuS: number
  readonly reconciles: number
  readonly cold: Requests
  readonly noChangeMs: number
  readonly noChangeReconciles: number
  readonly noChange: Requests
  readonly noChangeCpuS: number
  readonly load: string
}

const runSize = (n: number, files: Record<string, string>, ageKeyFile: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const work = yield* scratchDir(`kustodian-bench-reconcile-${n}-`)
      const cluster = yield* Effect.acquireRelease(
        Effect.promise(() => startCluster({ startTimeoutMs: 180_000 })),
        (c) => Effect.promise(() => c.stop()),
      )
      const kubeconfig = cluster.cluster.kubeconfigPath
      const git = yield* gitHttpServer({ reposDir: join(work, "repos") })
      const bare = yield* Effect.promise(() => createBareRepo(join(work, "repos"), "apps"))
      yield* Effect.promise(() => commitFiles(bare, files, { message: "apps" }))

      return yield* Effect.gen(function* () {
        const client = yield* KubeClient
        for (const f of [
          "source.toolkit.fluxcd.io_gitrepositories.yaml",
          "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
        ])
          yield* client.apply(
            CoreResources.customResourceDefinition,
            parse(readFileSync(join(repoRoot, "crds", f), "utf8")) as KubeObject,
            fm,
          )
        for (const name of [ns, appsNs])
          yield* client.apply(
            CoreResources.namespace,
            { apiVersion: "v1", kind: "Namespace", metadata: { name } },
            fm,
          )
        for (let i = 0; i < 300; i++) {
          const ok = yield* client.list(kustomizationRef, { limit: 1 }).pipe(
            Effect.as(true),
            Effect.orElseSucceed(() => false),
          )
          if (ok) break
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

        const op = yield* withOperatorTmpdir(
          operatorProcess({
            kubeconfig,
            flags: [`--concurrent=${CONCURRENT}`],
            logFile: join(work, "operator.log"),
          }),
        )
        const metrics = Effect.promise(() => fetch(`${op.probeUrl}/metrics`).then((r) => r.text()))
        const snapshot = Effect.map(metrics, (t) => ({
          requests: series(t, "rest_client_requests_total"),
          reconciles: series(t, "controller_runtime_reconcile_total"),
        }))

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
        for (;;) {
          const repo = yield* client.get(gitRepositoryRef, "apps", ns)
          if (
            ((repo.status as Conditions | undefined)?.conditions ?? []).some(
              (c) => c.type === "Ready" && c.status === "True",
            )
          )
            break
          yield* Effect.sleep(200)
        }

        const ksList = () => client.list(kustomizationRef, { namespace: ns }).pipe(Effect.map((l) => l.items))
        const s0 = yield* snapshot
        const cpu0 = cpuSeconds(op.pid)
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
        let readyMs = 0
        let lastReport = 0
        for (;;) {
          const items = yield* ksList()
          const ready = items.filter((o) =>
            ((o.status as Conditions | undefined)?.conditions ?? []).some(
              (c) => c.type === "Ready" && c.status === "True",
            ),
          ).length
          if (ready === n) {
            readyMs = Date.now() - t0
            break
          }
          if (Date.now() - lastReport > 15_000) {
            lastReport = Date.now()
            yield* say(`  ${n}: ${ready}/${n} Ready after ${((Date.now() - t0) / 1000).toFixed(0)} s`)
          }
          if (Date.now() - t0 > TIMEOUT_MS)
            return yield* Effect.die(new Error(`only ${ready}/${n} Ready after ${TIMEOUT_MS / 60_000} min`))
          yield* Effect.sleep(500)
        }
        const s1 = yield* snapshot
        const cpu1 = cpuSeconds(op.pid)

        // Let stragglers (status-update echoes) settle before the no-change round.
        yield* Effect.sleep(3_000)
        const s2 = yield* snapshot
        const cpu2 = cpuSeconds(op.pid)
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
        let noChangeMs = 0
        for (;;) {
          const items = yield* ksList()
          const handled = items.filter(
            (o) => (o.status as Conditions | undefined)?.lastHandledReconcileAt === token,
          ).length
          if (handled === n) {
            noChangeMs = Date.now() - t1
            break
          }
          if (Date.now() - t1 > TIMEOUT_MS)
            return yield* Effect.die(
              new Error(`only ${handled}/${n} handled the request after ${TIMEOUT_MS / 60_000} min`),
            )
          yield* Effect.sleep(250)
        }
        // Requests still in flight for the last few (events, status) land within a moment.
        yield* Effect.sleep(2_000)
        const s3 = yield* snapshot
        const cpu3 = cpuSeconds(op.pid)
        const ksReconciles = (m: Map<string, number>) => sum(m, 'kind="Kustomization"')
        return {
          n,
          applyMs,
          readyMs,
          peakRssMiB: vmHwmMiB(op.pid),
          cpuS: cpu1 - cpu0,
          reconciles: ksReconciles(s1.reconciles) - ksReconciles(s0.reconciles),
          cold: requestDelta(s0.requests, s1.requests),
          noChangeMs,
          noChangeReconciles: ksReconciles(s3.reconciles) - ksReconciles(s2.reconciles),
          noChange: requestDelta(s2.requests, s3.requests),
          noChangeCpuS: cpu3 - cpu2,
          load: loadavg()
            .map((l) => l.toFixed(2))
            .join(" "),
        } satisfies SizeResult
      }).pipe(Effect.provide(KubeClient.layer({ _tag: "File", path: kubeconfig })))
    }),
  )

const fmtVerbs = (r: Requests, per: number) =>
  Object.entries(r.byVerb)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${(v / per).toFixed(1)}`)
    .join(", ")

const main = Effect.gen(function* () {
  const max = Math.max(...SIZES)
  const work = yield* scratchDir("kustodian-bench-reconcile-")
  const age = yield* Effect.promise(() => generateAgeKey(work))
  const t = Date.now()
  const files = yield* makeRepoFiles(max, age.recipient, work)
  yield* say(`encrypted ${max} Secrets with sops in ${((Date.now() - t) / 1000).toFixed(1)} s`)
  const results: Array<SizeResult> = []
  for (const n of SIZES) {
    // Each size gets a repository with exactly its N directories.
    const subset = Object.fromEntries(
      Object.entries(files).filter(([p]) => Number(/app-(\d+)\//.exec(p)?.[1]) < n),
    )
    const r = yield* runSize(n, subset, age.keyFile)
    results.push(r)
    yield* say(JSON.stringify(r))
  }
  const date = new Date().toISOString().slice(0, 16).replace("T", " ")
  const rows = results.map((r) => {
    const per = Math.max(r.reconciles, 1)
    return `| ${r.n} | ${(r.readyMs / 1000).toFixed(1)} s (${(r.applyMs / 1000).toFixed(1)} s to apply) | ${r.peakRssMiB.toFixed(0)} MiB | ${r.cpuS.toFixed(0)} s | ${r.reconciles} | ${(r.cold.total / per).toFixed(1)} (write verbs ${(r.cold.writes / per).toFixed(1)}; ${fmtVerbs(r.cold, per)}) | ${(r.noChangeMs / 1000).toFixed(1)} s, ${r.noChangeReconciles} reconciles, ${(r.noChange.total / Math.max(r.noChangeReconciles, 1)).toFixed(1)} requests / ${(r.noChange.writes / Math.max(r.noChangeReconciles, 1)).toFixed(1)} write verbs each (${fmtVerbs(r.noChange, Math.max(r.noChangeReconciles, 1))}), CPU ${r.noChangeCpuS.toFixed(1)} s | ${r.load} |`
  })
  const section = `
## Reconcile (end to end) — \`npm run bench:reconcile -- --sizes=${SIZES.join(",")}\` (${date} UTC)

Machine: "polyglot", ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, shared with other work. Setup as in the
first "Reconcile (end to end)" section: one repository with N directories (sops/age Secret + ConfigMap +
Deployment each), one GitRepository, N Kustomizations, \`kustodian controller --concurrent=${CONCURRENT}\` as its own
process, its TMPDIR ${TMPFS ? "on tmpfs (/dev/shm, `--tmpfs`)" : "on the disk (ext4 /tmp)"}. Flux 2.2 for comparison (16-core runner, podinfo): 100 → 27 s / 32 MiB, 500 → 2m2s / 72 MiB,
1000 → 4m15s / 112 MiB.

| Kustomizations | applied → all Ready | peak RSS (VmHWM) | operator CPU (incl. children) | Kustomization reconciles | API requests per reconcile | no-change reconcile of all | load avg (1/5/15 min) at end |
|---|---|---|---|---|---|---|---|
${rows.join("\n")}

"Write verbs" count apply/create/patch/update/delete requests, server-side dry runs included (the operator's
counter does not tell them apart); see the first "Reconcile (end to end)" section for which of them persist.
`
  if (WRITE) appendFileSync(join(repoRoot, "docs/benchmarks.md"), section)
  yield* say(section)
})

NodeRuntime.runMain(Effect.scoped(main))
