/**
 * `npm run bench:apply`: the apply/prune stages alone (no controller, no build) against a private local
 * control plane. K sets shaped like the reconcile benchmark's Kustomizations (a Secret, a ConfigMap and a
 * Deployment each, own namespace), applied 4 at a time like `--concurrent=4`: first apply (create), a
 * no-change apply (the steady state every interval), an apply with one drifted object per set, and the
 * prune of everything. Reports wall time, per-set p50/p99, API requests per set, and peak RSS; appends the
 * result to docs/benchmarks.md.
 */
import { appendFileSync, existsSync } from "node:fs"
import { cpus, totalmem } from "node:os"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { startCluster } from "../e2e/cluster/index.ts"
import { KubeClient } from "../operator/src/kube/client.ts"
import { type Connection, connect } from "../operator/src/kube/connection.ts"
import type { KubeObject } from "../operator/src/kube/object.ts"
import { RESTMapper } from "../operator/src/kube/restmapper.ts"
import { Applier } from "../operator/src/stages/apply/staged-apply.ts"
import { KubeAccess } from "../operator/src/stages/cluster/impersonation.ts"
import type { Inventory } from "../operator/src/stages/cluster/inventory.ts"
import { Pruner } from "../operator/src/stages/prune/prune.ts"

const SIZES = (process.env.BENCH_SETS ?? "100,500").split(",").map(Number)
const CONCURRENCY = 4

const objects = (i: number, value: string): ReadonlyArray<KubeObject> => {
  const ns = `bench-apply-${i}`
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "creds", namespace: ns },
      stringData: { username: "admin", password: `p-${i}` },
    },
    { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings", namespace: ns }, data: { value } },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: {
            containers: [
              { name: "web", image: "ghcr.io/stefanprodan/podinfo:6.5.0", ports: [{ containerPort: 9898 }] },
            ],
          },
        },
      },
    },
  ]
}

const percentile = (xs: ReadonlyArray<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0
}

interface Phase {
  readonly name: string
  readonly wallMs: number
  readonly p50: number
  readonly p99: number
  readonly requestsPerSet: number
}

const run = (counted: { n: number }) =>
  Effect.gen(function* () {
    const applier = yield* Applier
    const pruner = yield* Pruner
    const results: Array<{ sets: number; phases: ReadonlyArray<Phase> }> = []
    for (const [round, k] of SIZES.entries()) {
      // Namespaces never go away without kube-controller-manager: every round uses fresh ones.
      const ids = Array.from({ length: k }, (_, i) => round * 100_000 + i)
      const owner = (i: number) => ({ name: `ks-${i}`, namespace: "flux-system" })
      const inventories = new Map<number, Inventory>()
      const phase = (name: string, one: (i: number) => Effect.Effect<unknown, unknown>) =>
        Effect.gen(function* () {
          const before = counted.n
          const t0 = performance.now()
          const times = yield* Effect.forEach(
            ids,
            (i) =>
              Effect.gen(function* () {
                const s = performance.now()
                yield* one(i)
                return performance.now() - s
              }),
            { concurrency: CONCURRENCY },
          )
          const wallMs = performance.now() - t0
          return {
            name,
            wallMs,
            p50: percentile(times, 50),
            p99: percentile(times, 99),
            requestsPerSet: (counted.n - before) / k,
          } satisfies Phase
        })
      const phases: Array<Phase> = []
      phases.push(
        yield* phase("first apply (4 created)", (i) =>
          applier
            .apply({ objects: objects(i, "a"), owner: owner(i) })
            .pipe(Effect.tap((r) => Effect.sync(() => inventories.set(i, r.inventory)))),
        ),
      )
      phases.push(
        yield* phase("no-change apply (4 unchanged, no write)", (i) =>
          applier.apply({ objects: objects(i, "a"), owner: owner(i) }),
        ),
      )
      phases.push(
        yield* phase("one object drifted (1 configured)", (i) =>
          applier.apply({ objects: objects(i, "b"), owner: owner(i) }),
        ),
      )
      phases.push(
        yield* phase("prune of Secret+ConfigMap+Deployment", (i) => {
          const inv = inventories.get(i)?.entries ?? []
          return pruner.prune({
            entries: inv.filter((e) => !e.id.endsWith("_Namespace")),
            owner: owner(i),
          })
        }),
      )
      results.push({ sets: k, phases })
    }
    return results
  })

const counting = (conn: Connection, counter: { n: number }): Connection => ({
  ...conn,
  headers: () => {
    counter.n++
    return conn.headers()
  },
})

const main = async () => {
  const external =
    process.env.KUSTODIAN_TEST_KUBECONFIG ??
    (existsSync(".kustodian/cluster/kubeconfig") ? ".kustodian/cluster/kubeconfig" : undefined)
  const running = external ? undefined : await startCluster({ ownerPid: process.pid })
  const kubeconfig = external ?? running!.cluster.kubeconfigPath
  const counter = { n: 0 }
  try {
    const program = Effect.gen(function* () {
      const conn = yield* connect({ _tag: "File", path: kubeconfig })
      const base = Layer.mergeAll(
        KubeAccess.fromConnection(counting(conn, counter)),
        RESTMapper.layer.pipe(Layer.provideMerge(KubeClient.fromConnection(conn))),
      )
      return yield* run(counter).pipe(
        Effect.provide(Layer.mergeAll(Applier.layer, Pruner.layer).pipe(Layer.provide(base))),
      )
    })
    const results = await Effect.runPromise(Effect.scoped(program))
    const peakMiB = process.resourceUsage().maxRSS / 1024
    const date = new Date().toISOString().slice(0, 16).replace("T", " ")
    const rows = [
      `\n## Apply stage — \`npm run bench:apply\` (${date} UTC)\n`,
      `Machine: "polyglot", ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; local etcd + kube-apiserver on the same machine (shared with other work, so absolute times are noisy). ` +
        `Each set = Namespace + Secret + ConfigMap + Deployment under its own owner, ${CONCURRENCY} sets at a time (like \`--concurrent=4\`); ` +
        "every apply validates the whole set by server-side dry-run before writing. Requests counted on the applier's client (discovery is cached and not counted).\n",
      "| sets | phase | wall | sets/s | per set p50 | p99 | API requests per set |",
      "|---|---|---|---|---|---|---|",
      ...results.flatMap((r) =>
        r.phases.map(
          (p) =>
            `| ${r.sets} | ${p.name} | ${(p.wallMs / 1000).toFixed(1)} s | ${(r.sets / (p.wallMs / 1000)).toFixed(1)} | ${p.p50.toFixed(0)} ms | ${p.p99.toFixed(0)} ms | ${p.requestsPerSet.toFixed(1)} |`,
        ),
      ),
      `\nPeak RSS of the benchmark process (applier + client): ${peakMiB.toFixed(0)} MiB.\n`,
    ]
    const text = rows.join("\n")
    console.log(text)
    if (process.env.BENCH_NO_WRITE !== "1") appendFileSync(join("docs", "benchmarks.md"), text)
  } finally {
    await running?.stop()
  }
}

await main()
