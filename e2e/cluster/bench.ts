/**
 * `npm run bench:control-plane [-- --runs N] [-- --write]`: starts the local control plane N times (fresh state each
 * time, binaries warm in the cache), and reports spawn→ready times and the memory of etcd and kube-apiserver.
 * With --write, replaces the "Test control plane" section of docs/benchmarks.md (other sections are kept).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { cpus, loadavg, totalmem } from "node:os"
import { dirname, join } from "node:path"
import { ApiextensionsV1Api, CoreV1Api, KubeConfig } from "@kubernetes/client-node"
import { repoRoot, toolsCacheDir, toolVersions } from "../support/tools.ts"
import { startCluster } from "./index.ts"
import { type LocalClusterState, localProvider } from "./local.ts"

const args = process.argv.slice(2)
const runs = Number(args[args.indexOf("--runs") + 1]) || 3
const write = args.includes("--write")

const rssMiB = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return m ? Number(m[1]) / 1024 : Number.NaN
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

interface Sample {
  total: number
  etcd: number
  apiserver: number
  rssEtcdReady: number
  rssApiReady: number
  rssEtcdLoaded: number
  rssApiLoaded: number
  stop: number
}

/** Some realistic load: 5 CRDs and 200 ConfigMaps, so the memory figure is not only an empty server's. */
const load = async (kubeconfigPath: string): Promise<void> => {
  const kc = new KubeConfig()
  kc.loadFromFile(kubeconfigPath)
  const ext = kc.makeApiClient(ApiextensionsV1Api)
  for (let i = 0; i < 5; i++) {
    const group = `bench${i}.kustodian.dev`
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: `things.${group}` },
        spec: {
          group,
          scope: "Namespaced",
          names: { plural: "things", kind: "Thing" },
          versions: [
            {
              name: "v1",
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: "object", x_kubernetes_preserve_unknown_fields: true } },
            },
          ],
        },
      },
    })
  }
  const core = kc.makeApiClient(CoreV1Api)
  await core.createNamespace({ body: { metadata: { name: "bench" } } })
  for (let i = 0; i < 200; i++)
    await core.createNamespacedConfigMap({
      namespace: "bench",
      body: { metadata: { name: `cm-${i}` }, data: { value: "x".repeat(1024) } },
    })
}

const loadBefore = loadavg()[0]!
const samples: Array<Sample> = []
for (let i = 0; i < runs; i++) {
  const t0 = Date.now()
  const { cluster, stop } = await startCluster({}, localProvider)
  let stopped = false
  try {
    const total = Date.now() - t0
    const state = JSON.parse(
      readFileSync(join(dirname(cluster.kubeconfigPath), "state.json"), "utf8"),
    ) as LocalClusterState
    const pid = (name: string) => state.processes.find((p) => p.name === name)!.pid
    const rssEtcdReady = rssMiB(pid("etcd"))
    const rssApiReady = rssMiB(pid("kube-apiserver"))
    await load(cluster.kubeconfigPath)
    await new Promise((r) => setTimeout(r, 5_000))
    const rssEtcdLoaded = rssMiB(pid("etcd"))
    const rssApiLoaded = rssMiB(pid("kube-apiserver"))
    const tStop = Date.now()
    await stop()
    stopped = true
    const s: Sample = {
      stop: Date.now() - tStop,
      total,
      etcd: state.timings.etcdMs,
      apiserver: state.timings.apiserverMs,
      rssEtcdReady,
      rssApiReady,
      rssEtcdLoaded,
      rssApiLoaded,
    }
    samples.push(s)
    console.error(`[bench] run ${i + 1}/${runs}: ${JSON.stringify(s)}`)
  } finally {
    if (!stopped) await stop()
  }
}

const v = toolVersions()
const buildSeconds = (dir: string): string => {
  const f = join(toolsCacheDir(), dir, ".build-seconds")
  return existsSync(f) ? `${readFileSync(f, "utf8").trim()} s` : "n/a"
}
const f0 = (n: number) => n.toFixed(0)
const section = `## Test control plane

Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on "polyglot" (${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB),
\`npm run bench:control-plane\` (${runs} runs, median; fresh state dir each run, binaries warm in the cache).
kube-apiserver ${v.KUBERNETES_VERSION}, etcd ${v.ETCD_VERSION}. The machine is shared: 1-minute load average was
${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after the runs; start times grow with it, so compare
runs at similar load.

| measure | median | min | max |
|---|---|---|---|
| etcd: spawn → \`/health\` | ${f0(median(samples.map((s) => s.etcd)))} ms | ${f0(Math.min(...samples.map((s) => s.etcd)))} ms | ${f0(Math.max(...samples.map((s) => s.etcd)))} ms |
| kube-apiserver: spawn → \`/readyz\` 200 | ${f0(median(samples.map((s) => s.apiserver)))} ms | ${f0(Math.min(...samples.map((s) => s.apiserver)))} ms | ${f0(Math.max(...samples.map((s) => s.apiserver)))} ms |
| whole start (certificates + etcd + apiserver) | ${f0(median(samples.map((s) => s.total)))} ms | ${f0(Math.min(...samples.map((s) => s.total)))} ms | ${f0(Math.max(...samples.map((s) => s.total)))} ms |
| stop (SIGTERM → both processes gone) | ${f0(median(samples.map((s) => s.stop)))} ms | ${f0(Math.min(...samples.map((s) => s.stop)))} ms | ${f0(Math.max(...samples.map((s) => s.stop)))} ms |
| etcd RSS when ready | ${f0(median(samples.map((s) => s.rssEtcdReady)))} MiB | | |
| kube-apiserver RSS when ready | ${f0(median(samples.map((s) => s.rssApiReady)))} MiB | | |
| etcd RSS after 5 CRDs + 200 ConfigMaps (+5 s) | ${f0(median(samples.map((s) => s.rssEtcdLoaded)))} MiB | | |
| kube-apiserver RSS after 5 CRDs + 200 ConfigMaps (+5 s) | ${f0(median(samples.map((s) => s.rssApiLoaded)))} MiB | | |

Cold builds by \`scripts/tools.sh\` (empty Go build cache, module downloads included, \`-p 2\`; the script stores each
duration next to the binary in \`.build-seconds\`). Upper bounds: the kubernetes build ran alongside the others and
other helpers' work, with a load average of 8-15 on 2 cores.

| tool | version | cold build |
|---|---|---|
| kube-apiserver + kubectl | ${v.KUBERNETES_VERSION} | ${buildSeconds(`kubernetes-${v.KUBERNETES_VERSION}`)} |
| etcd | ${v.ETCD_VERSION} | ${buildSeconds(`etcd-${v.ETCD_VERSION}`)} |
| sops | ${v.SOPS_VERSION} | ${buildSeconds(`sops-${v.SOPS_VERSION}`)} |
| kustomize | ${v.KUSTOMIZE_VERSION} | ${buildSeconds(`kustomize-${v.KUSTOMIZE_VERSION}`)} |
| source-controller + kustomize-controller (\`scripts/tools.sh flux-controllers\`) | ${v.FLUX_CONTROLLERS_VERSION} | ${buildSeconds(`flux-controllers-${v.FLUX_CONTROLLERS_VERSION}`)} |
| flux CLI (\`scripts/tools.sh flux-cli\`) | ${v.FLUX_CLI_VERSION} | ${buildSeconds(`flux-cli-${v.FLUX_CLI_VERSION}`)} |

A warm \`scripts/tools.sh\` (everything cached) only checks the cache and returns in well under a second.
`

console.log(section)
if (write) {
  const file = join(repoRoot, "docs", "benchmarks.md")
  const current = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n"
  const start = current.indexOf("## Test control plane")
  let next: string
  if (start < 0) next = `${current.trimEnd()}\n\n${section}`
  else {
    const end = current.indexOf("\n## ", start + 1)
    next = `${current.slice(0, start)}${section}${end < 0 ? "" : current.slice(end + 1)}`
  }
  writeFileSync(file, next.endsWith("\n") ? next : `${next}\n`)
  console.error(`[bench] wrote the "Test control plane" section of ${file}`)
}
process.exit(0)
