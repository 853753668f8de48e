/**
 * The process and runtime metrics a Prometheus client library exports, sampled when /metrics is scraped:
 * `process_*` with the names every client library uses (flux2-monitoring-example's control-plane dashboard
 * plots `process_cpu_seconds_total`), and Node's own as prom-client names them (`nodejs_*`: heap, external
 * memory, event-loop lag). Go's `go_*` series have no Node counterpart and are not faked.
 */
import { readdirSync, readFileSync } from "node:fs"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { Effect, Metric } from "effect"
import { record } from "./metrics.ts"

const cpuSeconds = Metric.counter("process_cpu_seconds_total", {
  description: "Total user and system CPU time spent in seconds.",
})
const residentMemory = Metric.gauge("process_resident_memory_bytes", {
  description: "Resident memory size in bytes.",
})
const virtualMemory = Metric.gauge("process_virtual_memory_bytes", {
  description: "Virtual memory size in bytes.",
})
const startTime = Metric.gauge("process_start_time_seconds", {
  description: "Start time of the process since unix epoch in seconds.",
})
const openFds = Metric.gauge("process_open_fds", { description: "Number of open file descriptors." })
const maxFds = Metric.gauge("process_max_fds", { description: "Maximum number of open file descriptors." })
const heapTotal = Metric.gauge("nodejs_heap_size_total_bytes", {
  description: "Process heap size from Node.js in bytes.",
})
const heapUsed = Metric.gauge("nodejs_heap_size_used_bytes", {
  description: "Process heap size used from Node.js in bytes.",
})
const external = Metric.gauge("nodejs_external_memory_bytes", {
  description: "Node.js external memory size in bytes.",
})
const lagMean = Metric.gauge("nodejs_eventloop_lag_mean_seconds", {
  description: "The mean of the recorded event loop delays since the last scrape.",
})
const lagP99 = Metric.gauge("nodejs_eventloop_lag_p99_seconds", {
  description: "The 99th percentile of the recorded event loop delays since the last scrape.",
})
const lagMax = Metric.gauge("nodejs_eventloop_lag_max_seconds", {
  description: "The maximum recorded event loop delay since the last scrape.",
})
const versionInfo = Metric.gauge("nodejs_version_info", { description: "Node.js version info." })

/** Reads a /proc file; undefined off Linux or when it cannot be read. */
const proc = (path: string) => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return undefined
  }
}

let delay: ReturnType<typeof monitorEventLoopDelay> | undefined
let cpuReported = 0

/** Starts the event-loop delay histogram (once per process). */
export const startProcessMetrics = () => {
  if (delay !== undefined) return
  delay = monitorEventLoopDelay({ resolution: 20 })
  delay.enable()
}

/** Brings every process and runtime series up to date; run right before formatting /metrics. */
export const sampleProcess = Effect.sync(() => {
  const cpu = process.cpuUsage()
  const memory = process.memoryUsage()
  const stat = proc("/proc/self/stat")
  // Field 23 of /proc/self/stat is vsize; the command name (field 2) may hold spaces, so count after its ')'.
  const vsize = stat === undefined ? undefined : Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[20])
  const limit = /^Max open files\s+(\d+)/m.exec(proc("/proc/self/limits") ?? "")?.[1]
  let fds: number | undefined
  try {
    fds = readdirSync("/proc/self/fd").length - 1 // the directory handle readdir itself opened
  } catch {
    fds = undefined
  }
  const lag =
    delay === undefined
      ? undefined
      : { mean: delay.mean, p99: delay.percentile(99), max: delay.max, count: delay.count }
  delay?.reset()
  return { cpu: (cpu.user + cpu.system) / 1e6, memory, vsize, limit, fds, lag }
}).pipe(
  Effect.flatMap((s) =>
    Effect.gen(function* () {
      // A counter only adds: add what was used since the last scrape.
      const used = s.cpu - cpuReported
      cpuReported = s.cpu
      yield* Metric.update(cpuSeconds, used)
      yield* record(residentMemory, {}, s.memory.rss)
      if (s.vsize !== undefined && Number.isFinite(s.vsize)) yield* record(virtualMemory, {}, s.vsize)
      yield* record(startTime, {}, Math.floor(performance.timeOrigin / 1000))
      if (s.fds !== undefined) yield* record(openFds, {}, s.fds)
      if (s.limit !== undefined) yield* record(maxFds, {}, Number(s.limit))
      yield* record(heapTotal, {}, s.memory.heapTotal)
      yield* record(heapUsed, {}, s.memory.heapUsed)
      yield* record(external, {}, s.memory.external)
      if (s.lag !== undefined && s.lag.count > 0) {
        yield* record(lagMean, {}, s.lag.mean / 1e9)
        yield* record(lagP99, {}, s.lag.p99 / 1e9)
        yield* record(lagMax, {}, s.lag.max / 1e9)
      }
      yield* record(versionInfo, { version: process.version }, 1)
    }),
  ),
)
