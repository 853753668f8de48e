/**
 * The per-object metric series of a controller: Flux's `gotk_reconcile_condition` and `gotk_suspend_status`,
 * and their removal with the object (Flux's Delete* calls), so dashboards stop listing it.
 *
 * @module
 */
import { Effect } from "effect"
import { ConditionType } from "../../../model/condition.ts"
import type { ReconcileStatus } from "../../../model/projection.ts"
import type { KubeObject } from "../kube/object.ts"
import { conditionGauge, reconcileDuration, record, remove, suspendGauge } from "../metrics/metrics.ts"

const conditionTypes = [ConditionType.Ready, ConditionType.Reconciling, ConditionType.Stalled]
const conditionStatuses = ["True", "False", "Unknown"] as const

export const makeObjectMetrics = <K extends KubeObject>(
  kind: string,
  suspended: ((obj: K) => boolean) | undefined,
) => {
  const labels = (obj: KubeObject) => ({
    kind,
    name: obj.metadata.name,
    namespace: obj.metadata.namespace ?? "",
  })

  /** Flux's RecordCondition: the status a condition has is 1, the others 0; an absent condition is no series. */
  const conditions = (obj: K, status: ReconcileStatus) =>
    Effect.forEach(
      conditionTypes,
      (type) => {
        const current = status.conditions?.find((c) => c.type === type)?.status
        return Effect.forEach(
          conditionStatuses,
          (s) =>
            current === undefined
              ? remove(conditionGauge, { ...labels(obj), type, status: s })
              : record(conditionGauge, { ...labels(obj), type, status: s }, current === s ? 1 : 0),
          { discard: true },
        )
      },
      { discard: true },
    )

  const suspend = (obj: K) => record(suspendGauge, labels(obj), suspended?.(obj) === true ? 1 : 0)

  const drop = (obj: KubeObject): Effect.Effect<void> =>
    Effect.gen(function* () {
      const l = labels(obj)
      yield* remove(reconcileDuration, l)
      yield* remove(suspendGauge, l)
      for (const type of conditionTypes)
        for (const status of conditionStatuses) yield* remove(conditionGauge, { ...l, type, status })
    })

  return { labels, conditions, suspend, drop }
}
