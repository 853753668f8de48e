/**
 * `--events-addr`: every Event the operator records is also POSTed to Flux's notification-controller (or any
 * receiver of the same wire format) as an `eventv1.Event` (github.com/fluxcd/pkg/apis/event/v1beta1), the way
 * fluxcd/pkg/runtime/events.Recorder does it:
 *
 * - `severity` is `info` for Normal and `error` for Warning Events; `reportingInstance` is the pod's name;
 * - `metadata` carries the Event's annotations (`<group>/revision`, `<group>/commit_status`, …) plus the object's
 *   own annotations under `event.toolkit.fluxcd.io/` (Flux's way to attach e.g. an environment to alerts);
 * - objects without a namespace, kind or name are not sent (Flux refuses them the same way);
 * - a connection error or a 5xx (not 501) is retried up to 4 times with exponential backoff from 1 s (capped at
 *   30 s), each attempt with a 5 s timeout (go-retryablehttp's defaults, as Flux configures them); 429 is the
 *   receiver saying "duplicate" and is not retried.
 *
 * Unlike Flux, which POSTs inside the reconcile, sending never blocks a reconcile: Events wait in a bounded
 * queue served by a few sender fibers, and when the receiver is so slow or absent that the queue is full, new
 * Events are dropped and counted (`kustodian_events_forwarded_total{result="dropped"}`).
 */
import { Context, Data, Effect, Layer, Queue } from "effect"
import { eventsForwarded, inc } from "../metrics/metrics.ts"

/** Flux's `eventv1.Event` (JSON field names as the notification-controller's event server decodes them). */
export interface FluxEvent {
  readonly involvedObject: {
    readonly kind: string
    readonly namespace: string
    readonly name: string
    readonly uid?: string | undefined
    readonly apiVersion?: string | undefined
    readonly resourceVersion?: string | undefined
  }
  readonly severity: "info" | "error"
  readonly timestamp: string
  readonly message: string
  readonly reason: string
  readonly metadata?: Readonly<Record<string, string>> | undefined
  readonly reportingController: string
  readonly reportingInstance?: string | undefined
}

export class EventPostError extends Data.TaggedError("EventPostError")<{
  readonly url: string
  readonly status?: number | undefined
  readonly message: string
  /** Worth another attempt (connection error, timeout, 5xx). */
  readonly retryable: boolean
}> {}

export interface EventForwarderOptions {
  /** `--events-addr`, e.g. http://notification-controller.flux-system.svc.cluster.local./ */
  readonly url: string
  /** Events waiting to be sent before new ones are dropped (default 1,000). */
  readonly queueSize?: number | undefined
  /**
   * Their size in all (default 64 MiB): an Event carries the object's `event.toolkit.fluxcd.io/` annotations,
   * up to the API server's 256 KiB per object, so a thousand of a tenant's could otherwise hold 256 MiB.
   */
  readonly queueBytes?: number | undefined
  /** Concurrent POSTs (default 2). */
  readonly senders?: number | undefined
  /** Per attempt (default 5 s, Flux's). */
  readonly timeoutMs?: number | undefined
  /** Retries after the first attempt (default 4) and their backoff (default 1 s doubling, capped at 30 s). */
  readonly retries?: number | undefined
  readonly backoffMs?: number | undefined
  readonly backoffCapMs?: number | undefined
}

/** notification-controller's limit on `message` (the CRD's MaxLength). */
const MessageLimit = 39_000
/** Annotations of the object itself that Flux copies into every Event's metadata. */
const EventAnnotationPrefix = "event.toolkit.fluxcd.io/"

/** `metav1.Time` JSON: RFC 3339 with seconds. */
export const metaTime = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}Z`

/** The metadata Flux sends: the Event's annotations plus the object's `event.toolkit.fluxcd.io/` ones. */
export const eventMetadata = (
  annotations: Readonly<Record<string, string>> | undefined,
  objectAnnotations: Readonly<Record<string, string>> | undefined,
): Record<string, string> | undefined => {
  const out: Record<string, string> = { ...annotations }
  for (const [k, v] of Object.entries(objectAnnotations ?? {}))
    if (k.startsWith(EventAnnotationPrefix)) out[k] = v
  return Object.keys(out).length > 0 ? out : undefined
}

export class EventForwarder extends Context.Service<
  EventForwarder,
  {
    /** Queues the Event for the receiver; never blocks and never fails (a full queue drops it, counted). */
    readonly forward: (event: FluxEvent) => Effect.Effect<void>
  }
>()("kustodian/runtime/EventForwarder") {
  /** Sender fibers live as long as the layer. */
  static readonly layer = (options: EventForwarderOptions) =>
    Layer.effect(EventForwarder, makeForwarder(options))
}

const post = Effect.fn("EventForwarder.post")(function* (url: string, event: FluxEvent, timeoutMs: number) {
  const response = yield* Effect.tryPromise({
    try: (signal) =>
      fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(event),
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      }).then(async (r) => {
        // Drain the body so the connection is reused.
        await r.arrayBuffer().catch(() => undefined)
        return r.status
      }),
    catch: (e) =>
      new EventPostError({
        url,
        message:
          (e as Error).name === "TimeoutError" ? `timed out after ${timeoutMs}ms` : (e as Error).message,
        retryable: true,
      }),
  })
  if (response === 429) return "duplicate" as const
  if (response >= 200 && response < 300) return "sent" as const
  return yield* new EventPostError({
    url,
    status: response,
    message: `receiver answered ${response}`,
    retryable: response >= 500 && response !== 501,
  })
})

const makeForwarder = (options: EventForwarderOptions) =>
  Effect.gen(function* () {
    const queue = yield* Queue.dropping<FluxEvent>(options.queueSize ?? 1_000)
    const maxBytes = options.queueBytes ?? 64 * 1024 * 1024
    // Bytes of the Events queued and being sent (UTF-16 length of their metadata and message: an estimate is
    // enough for a bound).
    let queuedBytes = 0
    const sizeOf = (event: FluxEvent) =>
      event.message.length +
      Object.entries(event.metadata ?? {}).reduce((n, [k, v]) => n + k.length + v.length, 0) +
      512
    const timeoutMs = options.timeoutMs ?? 5_000
    const retries = options.retries ?? 4
    const base = options.backoffMs ?? 1_000
    const cap = options.backoffCapMs ?? 30_000

    const send = (event: FluxEvent) =>
      Effect.gen(function* () {
        for (let attempt = 0; ; attempt++) {
          const result = yield* post(options.url, event, timeoutMs).pipe(Effect.result)
          if (result._tag === "Success") return yield* inc(eventsForwarded, { result: result.success })
          if (!result.failure.retryable || attempt >= retries) {
            yield* inc(eventsForwarded, { result: "failed" })
            return yield* Effect.logError("unable to record event").pipe(
              Effect.annotateLogs({
                name: event.involvedObject.name,
                namespace: event.involvedObject.namespace,
                "reconciler kind": event.involvedObject.kind,
                error: result.failure.message,
              }),
            )
          }
          yield* Effect.sleep(Math.min(cap, base * 2 ** attempt))
        }
      })

    for (let i = 0; i < (options.senders ?? 2); i++)
      yield* Effect.forkScoped(
        Effect.forever(
          Effect.flatMap(Queue.take(queue), (event) =>
            send(event).pipe(
              Effect.ensuring(
                Effect.sync(() => {
                  queuedBytes -= sizeOf(event)
                }),
              ),
            ),
          ),
        ),
      )
    // At shutdown (this finalizer runs before the senders are interrupted) what is still queued gets one attempt
    // each, all within a second: the last reconciles' outcomes usually reach the receiver, a hung one costs 1 s.
    yield* Effect.addFinalizer(() =>
      Queue.clear(queue).pipe(
        Effect.flatMap((pending) =>
          Effect.forEach(pending, (event) => post(options.url, event, timeoutMs).pipe(Effect.ignore), {
            concurrency: 4,
            discard: true,
          }),
        ),
        Effect.timeout("1 second"),
        Effect.ignore,
      ),
    )

    const forward = (event: FluxEvent) => {
      if (event.involvedObject.namespace === "" || event.involvedObject.name === "") return Effect.void
      const message =
        event.message.length > MessageLimit ? `${event.message.slice(0, MessageLimit - 3)}...` : event.message
      const queued = { ...event, message }
      const size = sizeOf(queued)
      if (queuedBytes + size > maxBytes) return inc(eventsForwarded, { result: "dropped" })
      return Queue.offer(queue, queued).pipe(
        Effect.flatMap((ok) => {
          if (!ok) return inc(eventsForwarded, { result: "dropped" })
          queuedBytes += size
          return Effect.void
        }),
      )
    }
    return EventForwarder.of({ forward })
  })
