import { Effect, Metric } from "effect"

/**
 * Every metric the operator exports, in one place so /metrics is easy to read. Names follow Flux where
 * Flux has one (`gotk_reconcile_*`) and client-go/controller-runtime otherwise (`workqueue_*`,
 * `rest_client_requests_total`).
 */
const durationBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

export const apiRequests = Metric.counter("rest_client_requests_total", {
  description: "Kubernetes API requests by verb and HTTP status code",
  incremental: true,
})

export const reconcileDuration = Metric.histogram("gotk_reconcile_duration_seconds", {
  description: "Duration of a reconcile, by kind",
  boundaries: durationBoundaries,
})

export const reconcileTotal = Metric.counter("controller_runtime_reconcile_total", {
  description: "Reconciles by kind and result (success, error, requeue)",
  incremental: true,
})

export const conditionGauge = Metric.gauge("gotk_reconcile_condition", {
  description: "The current condition status of an object (1 for the status it has, 0 for the others)",
})

export const suspendGauge = Metric.gauge("gotk_suspend_status", {
  description: "Whether an object is suspended",
})

export const queueDepth = Metric.gauge("workqueue_depth", { description: "Keys waiting in the work queue" })

export const queueAdds = Metric.counter("workqueue_adds_total", {
  description: "Keys added",
  incremental: true,
})

export const queueRetries = Metric.counter("workqueue_retries_total", {
  description: "Keys re-added after a failure",
  incremental: true,
})

export const queueLatency = Metric.histogram("workqueue_queue_duration_seconds", {
  description: "How long a key waits in the queue before a worker takes it",
  boundaries: durationBoundaries,
})

export const activeWorkers = Metric.gauge("controller_runtime_active_workers", {
  description: "Workers reconciling right now",
})

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

/** Adds one to a counter series. */
export const inc = (counter: Metric.Metric<number, unknown>, attributes: Record<string, string>) =>
  Metric.update(Metric.withAttributes(counter, attributes), 1)

/** Sets a gauge series or records a histogram sample. */
export const record = (
  metric: Metric.Metric<number, unknown>,
  attributes: Record<string, string>,
  value: number,
) => Metric.update(Metric.withAttributes(metric, attributes), value)

/** Counts one API request; never fails. */
export const countRequest = (verb: string, code: number | "error") =>
  inc(apiRequests, { verb, code: String(code) }).pipe(Effect.ignore)
