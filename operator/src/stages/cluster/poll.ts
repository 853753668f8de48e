/**
 * Polls objects until kstatus says they are all Current, one fails, or time runs out. Shared by the
 * health stage and by staged apply (which waits for CRDs and Namespaces before applying what needs them).
 */
import { Clock, Duration, Effect } from "effect"
import type { KubeClient } from "../../kube/client.ts"
import type { KubeError, UnknownKindError } from "../../kube/errors.ts"
import { apiVersionOf, type KubeObject, type ObjectRef } from "../../kube/object.ts"
import type { RESTMapper } from "../../kube/restmapper.ts"
import { computeStatus, type StatusResult } from "./kstatus.ts"

export interface ObjectStatusReport {
  readonly ref: ObjectRef
  readonly result: StatusResult
}

/**
 * - `ready`: all Current,
 * - `failed`: at least one Failed (and fail-fast was asked for),
 * - `timeout`: the deadline passed first.
 * `statuses` is the last observation of every object.
 */
export interface PollOutcome {
  readonly outcome: "ready" | "failed" | "timeout"
  readonly statuses: ReadonlyArray<ObjectStatusReport>
  readonly elapsed: Duration.Duration
}

export interface PollOptions {
  readonly interval: Duration.Input
  readonly timeout: Duration.Input
  /** Stop at the first Failed object instead of waiting for the timeout. */
  readonly failFast: boolean
  /** Judges the kinds it supports instead of the kstatus rules (`healthCheckExprs`). */
  readonly reader?: StatusReader | undefined
}

/** A status reader for some groups and kinds, ahead of the built-in rules (kstatus' custom readers). */
export interface StatusReader {
  readonly supports: (group: string, kind: string) => boolean
  /** Never fails: what cannot be judged is `Unknown`, with the reason as its message. */
  readonly read: (obj: KubeObject) => Effect.Effect<StatusResult>
}

/** Reads one object's kstatus; a kind that no longer exists reads as NotFound. */
export const observe = (
  client: KubeClient["Service"],
  mapper: RESTMapper["Service"],
  ref: ObjectRef,
  reader?: StatusReader,
): Effect.Effect<StatusResult, KubeError> =>
  mapper.resolve(apiVersionOf(ref), ref.kind).pipe(
    Effect.flatMap((resource) =>
      client.getOption<KubeObject>(resource, ref.name, ref.namespace || undefined),
    ),
    Effect.flatMap((o) =>
      // A finished Job removed by its ttlSecondsAfterFinished did complete.
      o._tag === "None" && ref.group === "batch" && ref.kind === "Job"
        ? Effect.succeed({
            status: "Current" as const,
            message: "Job not found (finished and removed after its TTL)",
          })
        : o._tag === "Some" && reader?.supports(ref.group, ref.kind)
          ? reader.read(o.value)
          : Effect.succeed(computeStatus(o._tag === "Some" ? o.value : undefined)),
    ),
    Effect.catchTag("UnknownKindError", (_: UnknownKindError) =>
      Effect.succeed<StatusResult>({
        status: "NotFound",
        message: `no API for ${ref.kind} in ${apiVersionOf(ref)}`,
      }),
    ),
  )

/** Polls until every object is Current (transient API errors count as "not yet"). */
export const pollUntilCurrent = (
  client: KubeClient["Service"],
  mapper: RESTMapper["Service"],
  refs: ReadonlyArray<ObjectRef>,
  options: PollOptions,
): Effect.Effect<PollOutcome> =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeMillis
    const deadline = start + Duration.toMillis(Duration.fromInputUnsafe(options.timeout))
    const interval = Duration.fromInputUnsafe(options.interval)
    for (;;) {
      const statuses = yield* Effect.forEach(
        refs,
        (ref) =>
          observe(client, mapper, ref, options.reader).pipe(
            Effect.catch((e) =>
              Effect.succeed<StatusResult>({ status: "InProgress", message: `cannot read: ${e.message}` }),
            ),
            Effect.map((result) => ({ ref, result })),
          ),
        { concurrency: 4 },
      )
      const now = yield* Clock.currentTimeMillis
      const elapsed = Duration.millis(now - start)
      if (statuses.every((s) => s.result.status === "Current"))
        return { outcome: "ready", statuses, elapsed } as const
      if (options.failFast && statuses.some((s) => s.result.status === "Failed"))
        return { outcome: "failed", statuses, elapsed } as const
      if (now >= deadline) return { outcome: "timeout", statuses, elapsed } as const
      // The last look happens at the deadline itself, so the whole timeout is waited, as Flux does.
      yield* Effect.sleep(Math.min(Duration.toMillis(interval), deadline - now))
    }
  })
