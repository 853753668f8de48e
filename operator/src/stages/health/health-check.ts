/**
 * The health stage: waits until what was applied is ready (kstatus), within the Kustomization's
 * timeout. With `wait: true` every applied object counts; otherwise only `healthChecks`. The result
 * is what the `Healthy` condition reports.
 */
import { Context, Duration, Effect, Layer } from "effect"
import { formatRef, type ObjectRef, splitApiVersion } from "../../kube/object.ts"
import { RESTMapper } from "../../kube/restmapper.ts"
import { type Redactor, serverValuesOnly } from "../../redaction/redactor.ts"
import type { ChangeSet } from "../cluster/change-set.ts"
import { HealthCheckError } from "../cluster/errors.ts"
import { controllerIdentity, type Identity, KubeAccess } from "../cluster/impersonation.ts"
import type { Owner } from "../cluster/owner.ts"
import { type ObjectStatusReport, pollUntilCurrent, type StatusReader } from "../cluster/poll.ts"

/** `spec.healthChecks[]`: apiVersion defaults to `apps/v1`, namespace to the Kustomization's. */
export interface HealthCheckRef {
  readonly apiVersion?: string | undefined
  readonly kind: string
  readonly name: string
  readonly namespace?: string | undefined
}

export interface HealthCheckRequest {
  readonly refs: ReadonlyArray<ObjectRef>
  readonly identity?: Identity | undefined
  /** `spec.timeout` (Flux: timeout, else interval − 30s, at least 30s). */
  readonly timeout: Duration.Input
  /** Poll interval; Flux uses 5s. */
  readonly interval?: Duration.Input | undefined
  /** Keep waiting on Failed objects until the timeout (Flux's DisableFailFastBehavior). */
  readonly disableFailFast?: boolean | undefined
  /**
   * Masks what status messages echo (a Job's failure, a pod event quoting a field); default: the server's
   * quoted values only.
   */
  readonly redactor?: Redactor | undefined
  /** `spec.healthCheckExprs`, compiled (`health-expressions.ts`): judges the kinds it names. */
  readonly reader?: StatusReader | undefined
}

export interface HealthResult {
  readonly statuses: ReadonlyArray<ObjectStatusReport>
  readonly elapsed: Duration.Duration
  /** The Healthy=True message: `Health check passed in <d>`. */
  readonly message: string
}

/**
 * The objects to check for a Kustomization: with `wait`, all applied ones (not skipped), otherwise its
 * `healthChecks`. A Kustomization never waits on itself.
 */
export const healthCheckTargets = (
  spec: {
    readonly wait?: boolean | undefined
    readonly healthChecks?: ReadonlyArray<HealthCheckRef> | undefined
  },
  owner: Owner,
  changeSet: ChangeSet,
): ReadonlyArray<ObjectRef> => {
  const self = (r: ObjectRef) =>
    r.group === "kustomize.toolkit.fluxcd.io" &&
    r.kind === "Kustomization" &&
    r.name === owner.name &&
    r.namespace === owner.namespace
  if (spec.wait)
    return changeSet
      .filter((e) => e.action !== "skipped" && e.action !== "deleted")
      .map((e) => e.ref)
      .filter((r) => !self(r))
  return (spec.healthChecks ?? [])
    .map((h) => {
      const { group, version } = splitApiVersion(h.apiVersion || "apps/v1")
      return { group, version, kind: h.kind, name: h.name, namespace: h.namespace ?? owner.namespace }
    })
    .filter((r) => !self(r))
}

const line = (s: ObjectStatusReport, redactor: Redactor) =>
  `${formatRef(s.ref)} status: '${s.result.status}': ${redactor.redact(s.result.message, [s.ref])}`

/** Waits for objects to become ready. Use after apply and prune when the Kustomization asks for it. */
export class HealthChecker extends Context.Service<
  HealthChecker,
  { readonly check: (request: HealthCheckRequest) => Effect.Effect<HealthResult, HealthCheckError> }
>()("kustodian/stages/health/HealthChecker") {
  static readonly layer = Layer.effect(
    HealthChecker,
    Effect.gen(function* () {
      const access = yield* KubeAccess
      const mapper = yield* RESTMapper
      const check = Effect.fn("HealthChecker.check")(function* (request: HealthCheckRequest) {
        const client = yield* access.client(request.identity ?? controllerIdentity)
        const outcome = yield* pollUntilCurrent(client, mapper, request.refs, {
          interval: request.interval ?? "5 seconds",
          timeout: request.timeout,
          failFast: !request.disableFailFast,
          reader: request.reader,
        })
        const took = Duration.format(outcome.elapsed)
        if (outcome.outcome === "ready")
          return {
            statuses: outcome.statuses,
            elapsed: outcome.elapsed,
            message: `Health check passed in ${took}`,
          }
        const pending = outcome.statuses.filter((s) => s.result.status !== "Current")
        const redactor = request.redactor ?? serverValuesOnly
        const detail =
          outcome.outcome === "failed"
            ? `failed early due to stalled resources: [${pending
                .filter((s) => s.result.status === "Failed")
                .map((s) => line(s, redactor))
                .join(", ")}]`
            : `timeout waiting for: [${pending.map((s) => line(s, redactor)).join(", ")}]`
        return yield* new HealthCheckError({
          reason: "HealthCheckFailed",
          message: `health check failed after ${took}: ${detail}`,
          objects: pending.map((s) => formatRef(s.ref)),
          retryable: true,
        })
      })
      return HealthChecker.of({ check })
    }),
  )
}
