import { Clock, Effect, Option, Random } from "effect"
import { KubeClient } from "../kube/client.ts"
import { apiVersionOf, type KubeObject } from "../kube/object.ts"
import { CoreResources, type ResourceRef } from "../kube/resource.ts"
import { EventForwarder, eventMetadata, metaTime } from "./event-forwarder.ts"

export interface EventInput {
  readonly type: "Normal" | "Warning"
  readonly reason: string
  readonly note: string
  readonly action?: string | undefined
  readonly annotations?: Readonly<Record<string, string>> | undefined
}

export interface Recorder {
  /** Publishes an events.k8s.io/v1 Event about `regarding`; repeats within 10 min become a series. Never fails. */
  readonly publish: (resource: ResourceRef, regarding: KubeObject, event: EventInput) => Effect.Effect<void>
}

interface Series {
  readonly name: string
  readonly namespace: string
  count: number
  lastMs: number
}

const NoteLimit = 1024
const SeriesWindowMs = 10 * 60_000
const MaxTracked = 4096

const microTime = (ms: number) => `${new Date(ms).toISOString().slice(0, 23)}000Z`

/**
 * Kubernetes Events with the aggregation events.k8s.io/v1 defines: the first occurrence creates an
 * Event, identical ones (same object, type, reason, note) within the window patch its `series`. With
 * `--events-addr` (an {@link EventForwarder} in the context) every occurrence is also sent to the
 * notification-controller, before aggregation, as Flux's recorder sends it.
 */
export const makeRecorder = (options: { readonly controller: string; readonly instance: string }) =>
  Effect.gen(function* () {
    const client = yield* KubeClient
    const forwarder = yield* Effect.serviceOption(EventForwarder)
    const series = new Map<string, Series>()

    const forward = (resource: ResourceRef, regarding: KubeObject, event: EventInput, now: number) =>
      Option.isNone(forwarder)
        ? Effect.void
        : forwarder.value.forward({
            involvedObject: {
              kind: regarding.kind ?? resource.kind,
              namespace: regarding.metadata.namespace ?? "",
              name: regarding.metadata.name,
              uid: regarding.metadata.uid,
              apiVersion: regarding.apiVersion ?? apiVersionOf(resource),
              resourceVersion: regarding.metadata.resourceVersion,
            },
            severity: event.type === "Warning" ? "error" : "info",
            timestamp: metaTime(now),
            message: event.note,
            reason: event.reason,
            metadata: eventMetadata(event.annotations, regarding.metadata.annotations),
            reportingController: options.controller,
            reportingInstance: options.instance,
          })

    const publish = (resource: ResourceRef, regarding: KubeObject, event: EventInput) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        yield* forward(resource, regarding, event, now)
        const namespace = regarding.metadata.namespace || "default"
        let note = event.note
        if (Buffer.byteLength(note) > NoteLimit)
          note = `${Buffer.from(note)
            .subarray(0, NoteLimit - 3)
            .toString("utf8")
            .replace(/\uFFFD+$/, "")}...`
        const id = `${regarding.metadata.uid}|${event.type}|${event.reason}|${note}`
        const known = series.get(id)
        if (known !== undefined && now - known.lastMs < SeriesWindowMs) {
          known.count += 1
          known.lastMs = now
          const patched = yield* client
            .patch(
              CoreResources.event,
              { name: known.name, namespace: known.namespace },
              {
                series: { count: known.count, lastObservedTime: microTime(now) },
              },
            )
            .pipe(
              Effect.as(true),
              Effect.catchTag("KubeApiError", (e) => (e.isNotFound ? Effect.succeed(false) : Effect.fail(e))),
            )
          if (patched) return
          series.delete(id)
        }
        const suffix = Math.floor((yield* Random.next) * 0xffff).toString(16)
        const name = `${regarding.metadata.name}.${now.toString(16)}${suffix}`
        yield* client.create(CoreResources.event, {
          apiVersion: "events.k8s.io/v1",
          kind: "Event",
          metadata: {
            name,
            namespace,
            ...(event.annotations ? { annotations: { ...event.annotations } } : {}),
          },
          eventTime: microTime(now),
          reportingController: options.controller,
          reportingInstance: options.instance,
          action: event.action ?? "Reconcile",
          reason: event.reason,
          type: event.type,
          note,
          regarding: {
            apiVersion: regarding.apiVersion ?? apiVersionOf(resource),
            kind: regarding.kind ?? resource.kind,
            name: regarding.metadata.name,
            namespace: regarding.metadata.namespace,
            uid: regarding.metadata.uid,
            resourceVersion: regarding.metadata.resourceVersion,
          },
        })
        if (series.size >= MaxTracked) {
          const oldest = series.keys().next()
          if (!oldest.done) series.delete(oldest.value)
        }
        series.set(id, { name, namespace, count: 1, lastMs: now })
      }).pipe(
        Effect.catch((error) =>
          Effect.logWarning("could not publish event").pipe(
            Effect.annotateLogs({ error: String((error as { message?: string }).message ?? error) }),
          ),
        ),
      )

    return { publish } satisfies Recorder
  })
