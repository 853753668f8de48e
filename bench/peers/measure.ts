/**
 * What `bench:reconcile` measures from outside the controllers under test, the same way for every peer:
 * memory and CPU from /proc (the controller processes plus whatever they fork), and API requests from the
 * kube-apiserver's own `apiserver_request_total` (so a peer's client library cannot under- or over-count).
 */
import { readdirSync, readFileSync } from "node:fs"
import { request } from "node:https"
import { Effect, Fiber, Metric } from "effect"
import { parse } from "yaml"

const readOr = (path: string, fallback: string): string => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return fallback
  }
}

/** The pids forked by `pid` (any of its threads), recursively. */
const descendants = (pid: number): Array<number> => {
  const out: Array<number> = []
  let tasks: Array<string> = []
  try {
    tasks = readdirSync(`/proc/${pid}/task`)
  } catch {
    return out
  }
  for (const tid of tasks)
    for (const c of readOr(`/proc/${pid}/task/${tid}/children`, "").split(" ")) {
      const child = Number(c)
      if (child > 0) out.push(child, ...descendants(child))
    }
  return out
}

/** A `/proc/<pid>/status` field in MiB (VmRSS, VmHWM), 0 when the process is gone. */
export const statusMiB = (pid: number, field: "VmRSS" | "VmHWM"): number => {
  const line = readOr(`/proc/${pid}/status`, "")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`))
  return line ? Number(line.replace(/\D+/g, "")) / 1024 : 0
}

/** utime + stime + the reaped children's cutime + cstime, in seconds (0 when the process is gone). */
export const cpuSeconds = (pid: number): number => {
  const stat = readOr(`/proc/${pid}/stat`, "")
  if (stat === "") return 0
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100
}

/** The CPU seconds of all `pids` together. */
export const cpuOf = (pids: ReadonlyArray<number>): number => pids.reduce((s, p) => s + cpuSeconds(p), 0)

/**
 * Samples the summed VmRSS of `pids` and all their descendants every 250 ms in a fiber of the current scope;
 * `peak()` is the largest sum seen. A kustomize child that lives less than 250 ms can be missed, which only
 * lowers the peak.
 */
export const rssSampler = (pids: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    let peak = 0
    const sample = Effect.sync(() => {
      const all = new Set(pids.flatMap((p) => [p, ...descendants(p)]))
      const sum = [...all].reduce((s, p) => s + statusMiB(p, "VmRSS"), 0)
      if (sum > peak) peak = sum
    })
    const fiber = yield* Effect.forkScoped(
      Effect.forever(Effect.andThen(sample, Effect.sleep(250)), { disableYield: true }),
    )
    return {
      peak: () => peak,
      stop: Fiber.interrupt(fiber),
    }
  })

/** GET over HTTPS with the kubeconfig's admin client certificate (the local provider writes inline data). */
export const apiserverGetter = (kubeconfigPath: string) => {
  const kc = parse(readFileSync(kubeconfigPath, "utf8")) as {
    clusters: Array<{ cluster: { server: string; "certificate-authority-data": string } }>
    users: Array<{ user: { "client-certificate-data"?: string; "client-key-data"?: string } }>
  }
  const b64 = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, "base64"))
  const cluster = kc.clusters[0]!.cluster
  const user = kc.users[0]!.user
  const options = {
    ca: b64(cluster["certificate-authority-data"]),
    cert: b64(user["client-certificate-data"]),
    key: b64(user["client-key-data"]),
  }
  return (path: string) =>
    Effect.promise(
      () =>
        new Promise<string>((resolve, reject) => {
          const req = request(`${cluster.server}${path}`, { ...options, timeout: 30_000 }, (res) => {
            const chunks: Array<Buffer> = []
            res.on("data", (c: Buffer) => chunks.push(c))
            res.on("end", () =>
              res.statusCode === 200
                ? resolve(Buffer.concat(chunks).toString("utf8"))
                : reject(new Error(`GET ${path}: HTTP ${res.statusCode}`)),
            )
          })
          req.on("timeout", () => req.destroy(new Error(`GET ${path}: timeout`)))
          req.on("error", reject)
          req.end()
        }),
    )
}

/** Prometheus text → { label set: value } for one metric name. */
export const series = (text: string, name: string): Map<string, number> => {
  const out = new Map<string, number>()
  for (const l of text.split("\n")) {
    if (!(l.startsWith(`${name}{`) || l.startsWith(`${name} `))) continue
    const labels = l.slice(name.length, l.lastIndexOf(" "))
    out.set(labels, (out.get(labels) ?? 0) + Number(l.slice(l.lastIndexOf(" ") + 1)))
  }
  return out
}

export const label = (labels: string, name: string): string =>
  new RegExp(`[{,]${name}="([^"]*)"`).exec(labels)?.[1] ?? ""

/** API requests as the kube-apiserver counted them, by verb; one snapshot. */
export type RequestCounts = ReadonlyMap<string, number>

/** The kube-apiserver labels creates POST and updates PUT; server-side apply is APPLY. */
const WRITE_VERBS = new Set([
  "POST",
  "PUT",
  "CREATE",
  "UPDATE",
  "PATCH",
  "APPLY",
  "DELETE",
  "DELETECOLLECTION",
])

/**
 * `apiserver_request_total` summed by verb (`APPLY`, `PATCH`, `LIST`, …), dry runs as `<VERB> (dry run)`.
 * Counted: requests for resources only. Left out: non-resource paths (discovery, /metrics, health), and Leases,
 * which only the kube-apiserver itself writes here (its identity lease every 10 s: neither peer runs leader
 * election in the bench).
 */
export const apiserverRequests = (metricsText: string): RequestCounts => {
  const out = new Map<string, number>()
  for (const [labels, v] of series(metricsText, "apiserver_request_total")) {
    const resource = label(labels, "resource")
    if (resource === "" || resource === "leases") continue
    const verb = label(labels, "verb")
    const key = label(labels, "dry_run") === "" ? verb : `${verb} (dry run)`
    out.set(key, (out.get(key) ?? 0) + v)
  }
  return out
}

/** The requests this (benchmark) process made, from its own client's `rest_client_requests_total`. */
export const ownRequests = Effect.map(Metric.snapshot, (snaps) => {
  const out = new Map<string, number>()
  for (const s of snaps) {
    if (s.id !== "rest_client_requests_total" || s.type !== "Counter") continue
    const verb = String((s.attributes as Record<string, unknown> | undefined)?.verb ?? "?").toUpperCase()
    out.set(verb, (out.get(verb) ?? 0) + Number(s.state.count))
  }
  return out as RequestCounts
})

export interface Requests {
  readonly total: number
  /** Write requests (create, update, patch, apply, delete), dry runs not included; a no-op patch counts too. */
  readonly writes: number
  readonly dryRuns: number
  readonly byVerb: Record<string, number>
}

/**
 * The peer's requests between two snapshots: the kube-apiserver's count minus what the benchmark process
 * itself sent in the same window (its Kustomization applies and patches, its one watch). The kube-apiserver
 * counts a watch when it ends and the bench when it opens, so WATCH can be off by one per window.
 */
export const requestDelta = (
  server: readonly [RequestCounts, RequestCounts],
  own: readonly [RequestCounts, RequestCounts],
): Requests => {
  const byVerb: Record<string, number> = {}
  for (const [k, v] of server[1]) {
    const d = v - (server[0].get(k) ?? 0) - ((own[1].get(k) ?? 0) - (own[0].get(k) ?? 0))
    if (d !== 0) byVerb[k] = d
  }
  const entries = Object.entries(byVerb)
  return {
    total: entries.reduce((a, [, b]) => a + b, 0),
    writes: entries.filter(([k]) => WRITE_VERBS.has(k)).reduce((a, [, b]) => a + b, 0),
    dryRuns: entries.filter(([k]) => k.endsWith("(dry run)")).reduce((a, [, b]) => a + b, 0),
    byVerb,
  }
}
