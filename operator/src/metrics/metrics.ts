import { Effect, Metric } from "effect"

/**
 * Every metric the operator exports, in one place so /metrics is easy to read. Names, labels and buckets are
 * Flux's (`gotk_*`, fluxcd/pkg/runtime/metrics), controller-runtime's (`controller_runtime_*`, `workqueue_*`) and
 * client-go's (`rest_client_requests_total`), so flux2-monitoring-example's dashboards and alerts read them as
 * they read Flux's controllers. The `controller` label is controller-runtime's: the kind in lower case
 * (`kustomization`, `gitrepository`); the workqueue's `name` is the same value.
 */

/** prometheus.ExponentialBuckets(start, factor, count). */
const exponential = (start: number, factor: number, count: number) =>
  Array.from({ length: count }, (_, i) => Number((start * factor ** i).toPrecision(6)))

/** prometheus.ExponentialBucketsRange(min, max, count), as Flux's reconcile-duration histogram uses it. */
const exponentialRange = (min: number, max: number, count: number) =>
  exponential(min, (max / min) ** (1 / (count - 1)), count)

/** controller-runtime's reconcile-time buckets. */
const reconcileTimeBuckets = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25,
  1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
]

/** client-go's workqueue latency buckets: 10ns … 1000s. */
const workqueueBuckets = exponential(10e-9, 10, 12)

export const apiRequests = Metric.counter("rest_client_requests_total", {
  description: "Number of HTTP requests, partitioned by status code, method, and host.",
  incremental: true,
})

// -------------------------------------------------------------------------------------------------- Flux (gotk)

export const reconcileDuration = Metric.histogram("gotk_reconcile_duration_seconds", {
  description: "The duration in seconds of a GitOps Toolkit resource reconciliation.",
  boundaries: exponentialRange(10e-3, 1800, 10),
})

export const conditionGauge = Metric.gauge("gotk_reconcile_condition", {
  description: "The current condition status of a GitOps Toolkit resource reconciliation.",
})

export const suspendGauge = Metric.gauge("gotk_suspend_status", {
  description: "The current suspend status of a GitOps Toolkit resource.",
})

// ------------------------------------------------------------------------------------------- controller-runtime

export const reconcileTotal = Metric.counter("controller_runtime_reconcile_total", {
  description: "Total number of reconciliations per controller",
  incremental: true,
})

export const reconcileErrors = Metric.counter("controller_runtime_reconcile_errors_total", {
  description: "Total number of reconciliation errors per controller",
  incremental: true,
})

export const terminalReconcileErrors = Metric.counter("controller_runtime_terminal_reconcile_errors_total", {
  description: "Total number of terminal reconciliation errors per controller",
  incremental: true,
})

export const reconcilePanics = Metric.counter("controller_runtime_reconcile_panics_total", {
  description: "Total number of reconciliation panics per controller",
  incremental: true,
})

export const reconcileTime = Metric.histogram("controller_runtime_reconcile_time_seconds", {
  description: "Length of time per reconciliation per controller",
  boundaries: reconcileTimeBuckets,
})

export const activeWorkers = Metric.gauge("controller_runtime_active_workers", {
  description: "Number of currently used workers per controller",
})

export const maxConcurrentReconciles = Metric.gauge("controller_runtime_max_concurrent_reconciles", {
  description: "Maximum number of concurrent reconciles per controller",
})

// --------------------------------------------------------------------------------------- workqueue (client-go)

export const queueDepth = Metric.gauge("workqueue_depth", { description: "Current depth of workqueue" })

export const queueAdds = Metric.counter("workqueue_adds_total", {
  description: "Total number of adds handled by workqueue",
  incremental: true,
})

export const queueRetries = Metric.counter("workqueue_retries_total", {
  description: "Total number of retries handled by workqueue",
  incremental: true,
})

export const queueLatency = Metric.histogram("workqueue_queue_duration_seconds", {
  description: "How long in seconds an item stays in workqueue before being requested",
  boundaries: workqueueBuckets,
})

export const workDuration = Metric.histogram("workqueue_work_duration_seconds", {
  description: "How long in seconds processing an item from workqueue takes.",
  boundaries: workqueueBuckets,
})

export const unfinishedWork = Metric.gauge("workqueue_unfinished_work_seconds", {
  description:
    "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.",
})

export const longestRunningProcessor = Metric.gauge("workqueue_longest_running_processor_seconds", {
  description: "How many seconds has the longest running processor for workqueue been running.",
})

// ------------------------------------------------------------------------------------------------- Kustodian

export const watchRestarts = Metric.counter("kustodian_watch_restarts_total", {
  description: "Watch streams restarted, by resource and cause (gone, error, silent, closed)",
  incremental: true,
})

export const leaderGauge = Metric.gauge("leader_election_master_status", {
  description: "1 while this process holds the leader lease",
})

export const sandboxGauge = Metric.gauge("kustodian_build_sandbox_abi", {
  description: "Landlock ABI version kustomize runs under (0: unsandboxed, the resolver is the only fence)",
})

export const eventsForwarded = Metric.counter("kustodian_events_forwarded_total", {
  description: "Events POSTed to --events-addr, by outcome (sent, duplicate, failed, dropped)",
  incremental: true,
})

/** Adds one to a counter series. */
export const inc = (counter: Metric.Metric<number, unknown>, attributes: Record<string, string>) =>
  Metric.update(Metric.withAttributes(counter, attributes), 1)

/** Sets a gauge series or records a histogram sample. */
export const record = (
  metric: Metric.Metric<number, unknown>,
  attributes: Record<string, string>,
  value: number,
) => Metric.update(Metric.withAttributes(metric, attributes), value)

/** Drops a series (e.g. of a deleted object), so /metrics stops reporting it. */
export const remove = (metric: Metric.Metric<number, unknown>, attributes: Record<string, string>) =>
  Metric.remove(Metric.withAttributes(metric, attributes))

/** Counts one API request; never fails. */
export const countRequest = (verb: string, code: number | "error") =>
  inc(apiRequests, { verb, code: String(code) }).pipe(Effect.ignore)
