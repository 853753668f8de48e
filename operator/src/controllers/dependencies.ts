/**
 * `spec.dependsOn`: whether the Kustomizations this one depends on are ready, as Flux's `checkDependencies`.
 * In order, for each dependency:
 * - it exists (read from the API server, not the cache, so a fresh status counts);
 * - with `readyExpr`, the expression over `self` (this Kustomization) and `dep` (the dependency) is true, and
 *   it then replaces the built-in check (Flux's default), or adds to it under the `AdditiveCELDependencyCheck`
 *   gate;
 * - otherwise it is Ready for its current generation, and, when it builds from the same source, has applied
 *   the revision this one is about to apply (so a dependent never runs ahead of its dependency on a new
 *   commit).
 * The messages are Flux's: DependencyNotReady, retried after `--requeue-dependency`.
 *
 * @module
 */
import { Effect, Option } from "effect"
import { ConditionType, Reason } from "../../../model/condition.ts"
import { formatDuration } from "../../../model/duration.ts"
import type { Kustomization } from "../../../model/kustomization.ts"
import type { KubeClient } from "../kube/client.ts"
import type { KubeObject } from "../kube/object.ts"
import type { ResourceRef } from "../kube/resource.ts"
import { StageError } from "../runtime/controller.ts"
import { compile } from "../stages/health/cel.ts"
import { evaluateFirstTrue } from "../stages/health/cel-evaluation.ts"

/** Flux's `--requeue-dependency`: how soon a Kustomization waiting on a dependency looks again. */
export const defaultRequeueDependencyMs = 30_000

/** The first `dependsOn[].readyExpr` that does not compile, as a field and Flux's error text. */
export const invalidReadyExpr = (
  spec: Kustomization["spec"],
): { readonly field: string; readonly error: string } | undefined => {
  for (const [i, dep] of (spec.dependsOn ?? []).entries()) {
    if (dep.readyExpr === undefined || dep.readyExpr === "") continue
    const compiled = compile("ready", dep.readyExpr)
    if (!compiled.ok) return { field: `spec.dependsOn[${i}].readyExpr`, error: compiled.error }
  }
  return undefined
}

interface DependencyStatus {
  readonly observedGeneration?: number
  readonly lastAppliedRevision?: string
  readonly conditions?: ReadonlyArray<{ readonly type: string; readonly status: string }>
}

/** Ready names the dependency; the Event is Flux's one line for every such wait. */
const notReady = (message: string, retryAfterMs: number) =>
  new StageError({
    reason: Reason.DependencyNotReady,
    message,
    retryAfterMs,
    event: {
      type: "Normal",
      note: `Dependencies do not meet ready condition, retrying in ${formatDuration(retryAfterMs)}`,
    },
  })

/** Same kind, name and namespace (each defaulted as Flux does) of the source reference. */
const sameSource = (ks: Kustomization, dep: KubeObject): boolean => {
  const ref = (dep.spec as { sourceRef?: { kind?: string; name?: string; namespace?: string } } | undefined)
    ?.sourceRef
  return (
    ref !== undefined &&
    ref.kind === ks.spec.sourceRef.kind &&
    ref.name === ks.spec.sourceRef.name &&
    (ref.namespace || dep.metadata.namespace) === (ks.spec.sourceRef.namespace || ks.metadata.namespace)
  )
}

/**
 * Fails with DependencyNotReady naming the first dependency that is not ready. `self` is the Kustomization as
 * read (the `self` of `readyExpr`), `revision` the source artifact's revision this reconcile would apply.
 */
export const checkDependencies = Effect.fn("Kustomization.checkDependencies")(function* (
  client: KubeClient["Service"],
  ref: ResourceRef,
  ks: Kustomization,
  self: KubeObject,
  revision: string,
  /** `--requeue-dependency`: when a Kustomization waiting on a dependency looks again. */
  retryAfterMs: number,
  /** `--feature-gates=AdditiveCELDependencyCheck`: a `readyExpr` is checked on top of Ready, not instead. */
  additive = false,
) {
  const waitFor = (message: string) => notReady(message, retryAfterMs)
  for (const dependency of ks.spec.dependsOn ?? []) {
    const namespace = dependency.namespace || ks.metadata.namespace || "default"
    const name = `${namespace}/${dependency.name}`
    const found = yield* client
      .getOption(ref, dependency.name, namespace)
      .pipe(Effect.mapError((e) => waitFor(`dependency '${name}' not found: ${e.message}`)))
    if (Option.isNone(found)) return yield* waitFor(`dependency '${name}' not found`)
    const dep = found.value
    if (dependency.readyExpr !== undefined && dependency.readyExpr !== "") {
      const first = yield* evaluateFirstTrue("ready", [dependency.readyExpr], { self, dep }).pipe(
        Effect.mapError((e) => waitFor(`dependency '${name}': ${e.message}`)),
      )
      if (first !== 0) return yield* waitFor(`dependency '${name}' is not ready according to readyExpr eval`)
      if (!additive) continue
    }
    const status = (dep.status ?? {}) as DependencyStatus
    const ready = status.conditions?.find((c) => c.type === ConditionType.Ready)
    if (
      status.conditions === undefined ||
      status.conditions.length === 0 ||
      dep.metadata.generation !== status.observedGeneration ||
      ready?.status !== "True"
    )
      return yield* waitFor(`dependency '${name}' is not ready`)
    if (sameSource(ks, dep) && status.lastAppliedRevision !== revision)
      return yield* waitFor(`dependency '${name}' revision is not up to date`)
  }
})
