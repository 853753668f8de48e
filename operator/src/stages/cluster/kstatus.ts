import { type KubeObject, splitApiVersion } from "../../kube/object.ts"
/**
 * kstatus rules: whether an object has reached the state its spec asks for. Built-in workload kinds are
 * judged from their status counters, everything else from the conventional conditions (`Ready`,
 * `Stalled`, `Reconciling`) and `status.observedGeneration`.
 */

/**
 * - `Current`: reconciled and ready,
 * - `InProgress`: still getting there,
 * - `Failed`: will not get there without a change (e.g. progress deadline exceeded, Job failed),
 * - `Terminating`: being deleted,
 * - `NotFound`: does not exist,
 * - `Unknown`: its status could not be computed (a `healthCheckExprs` expression failed to evaluate).
 */
export type ObjectStatus = "Current" | "InProgress" | "Failed" | "Terminating" | "NotFound" | "Unknown"

export interface StatusResult {
  readonly status: ObjectStatus
  readonly message: string
}

interface Condition {
  readonly type: string
  readonly status: string
  readonly reason?: string
  readonly message?: string
}

type Json = Record<string, unknown>
const isRecord = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v)

const statusOf = (obj: KubeObject): Json => (isRecord(obj.status) ? obj.status : {})
const specOf = (obj: KubeObject): Json => (isRecord(obj.spec) ? obj.spec : {})

const int = (o: Json, key: string, fallback: number): number => {
  const v = o[key]
  return typeof v === "number" ? v : fallback
}

const conditions = (obj: KubeObject): ReadonlyArray<Condition> => {
  const c = statusOf(obj).conditions
  return Array.isArray(c)
    ? c.filter(
        (x): x is Condition => isRecord(x) && typeof x.type === "string" && typeof x.status === "string",
      )
    : []
}

const condition = (obj: KubeObject, type: string): Condition | undefined =>
  conditions(obj).find((c) => c.type === type)

const current = (message: string): StatusResult => ({ status: "Current", message })
const inProgress = (message: string): StatusResult => ({ status: "InProgress", message })
const failed = (message: string): StatusResult => ({ status: "Failed", message })

/** Generic checks every kind goes through first; `undefined` means "look at the kind's own rules". */
const generic = (obj: KubeObject): StatusResult | undefined => {
  if (obj.metadata.deletionTimestamp !== undefined)
    return { status: "Terminating", message: "Resource is being deleted" }
  const observed = statusOf(obj).observedGeneration
  if (
    typeof observed === "number" &&
    typeof obj.metadata.generation === "number" &&
    observed !== obj.metadata.generation
  )
    return inProgress(`Generation ${obj.metadata.generation} not yet observed (at ${observed})`)
  const stalled = condition(obj, "Stalled")
  if (stalled?.status === "True") return failed(stalled.message ?? stalled.reason ?? "Stalled")
  const reconciling = condition(obj, "Reconciling")
  if (reconciling?.status === "True")
    return inProgress(reconciling.message ?? reconciling.reason ?? "Reconciling")
  return undefined
}

const deployment = (obj: KubeObject): StatusResult => {
  const spec = specOf(obj)
  const st = statusOf(obj)
  if (obj.metadata.generation !== undefined && st.observedGeneration === undefined)
    return inProgress("Deployment status not yet observed")
  // Without a progress deadline the controller never writes a Progressing condition.
  let progressing = spec.progressDeadlineSeconds === 2147483647
  let available = false
  for (const c of conditions(obj)) {
    if (c.type === "Progressing") {
      if (c.reason === "ProgressDeadlineExceeded") return failed("Progress deadline exceeded")
      if (c.status === "True" && c.reason === "NewReplicaSetAvailable") progressing = true
    }
    if (c.type === "Available" && c.status === "True") available = true
  }
  const want = int(spec, "replicas", 1)
  const replicas = int(st, "replicas", 0)
  const updated = int(st, "updatedReplicas", 0)
  const ready = int(st, "readyReplicas", 0)
  const avail = int(st, "availableReplicas", 0)
  if (want > replicas) return inProgress(`Replicas: ${replicas}/${want}`)
  if (want > updated) return inProgress(`Updated: ${updated}/${want}`)
  if (replicas > want) return inProgress(`Pending termination: ${replicas - want}`)
  if (updated > avail) return inProgress(`Available: ${avail}/${updated}`)
  if (want > ready) return inProgress(`Ready: ${ready}/${want}`)
  if (!progressing) return inProgress("ReplicaSet not Available")
  if (!available) return inProgress("Deployment not Available")
  return current(`Deployment is available. Replicas: ${replicas}`)
}

const replicaSet = (obj: KubeObject): StatusResult => {
  const want = int(specOf(obj), "replicas", 1)
  const st = statusOf(obj)
  const failure = condition(obj, "ReplicaFailure")
  if (failure?.status === "True") return inProgress(failure.message ?? "Replica failure")
  if (want > int(st, "replicas", 0)) return inProgress(`Replicas: ${int(st, "replicas", 0)}/${want}`)
  if (want > int(st, "readyReplicas", 0)) return inProgress(`Ready: ${int(st, "readyReplicas", 0)}/${want}`)
  if (want > int(st, "availableReplicas", 0))
    return inProgress(`Available: ${int(st, "availableReplicas", 0)}/${want}`)
  return current(`ReplicaSet is available. Replicas: ${want}`)
}

const statefulSet = (obj: KubeObject): StatusResult => {
  const spec = specOf(obj)
  const st = statusOf(obj)
  if (obj.metadata.generation !== undefined && st.observedGeneration === undefined)
    return inProgress("StatefulSet status not yet observed")
  const strategy = isRecord(spec.updateStrategy) ? spec.updateStrategy : {}
  if (strategy.type === "OnDelete") return current("StatefulSet is using the OnDelete update strategy")
  const want = int(spec, "replicas", 1)
  if (want > int(st, "replicas", 0)) return inProgress(`Replicas: ${int(st, "replicas", 0)}/${want}`)
  if (want > int(st, "readyReplicas", 0)) return inProgress(`Ready: ${int(st, "readyReplicas", 0)}/${want}`)
  if (want > int(st, "currentReplicas", 0) && st.updateRevision !== st.currentRevision) {
    const rolling = isRecord(strategy.rollingUpdate) ? strategy.rollingUpdate : {}
    const partition = int(rolling, "partition", 0)
    if (int(st, "updatedReplicas", 0) < want - partition)
      return inProgress(`Partitioned roll out: ${int(st, "updatedReplicas", 0)}/${want - partition}`)
    if (partition === 0) return inProgress(`Current: ${int(st, "currentReplicas", 0)}/${want}`)
  }
  if (st.updateRevision !== st.currentRevision && int(strategy, "partition", 0) === 0)
    return inProgress(`Waiting for revision ${String(st.updateRevision)} to roll out`)
  return current(`All replicas scheduled as expected. Replicas: ${want}`)
}

const daemonSet = (obj: KubeObject): StatusResult => {
  const st = statusOf(obj)
  if (obj.metadata.generation !== undefined && st.observedGeneration === undefined)
    return inProgress("DaemonSet status not yet observed")
  const desired = int(st, "desiredNumberScheduled", -1)
  if (desired === -1) return inProgress("Missing .status.desiredNumberScheduled")
  const check: ReadonlyArray<[string, string]> = [
    ["currentNumberScheduled", "Current"],
    ["updatedNumberScheduled", "Updated"],
    ["numberAvailable", "Available"],
    ["numberReady", "Ready"],
  ]
  for (const [field, label] of check)
    if (desired > int(st, field, 0)) return inProgress(`${label}: ${int(st, field, 0)}/${desired}`)
  return current(`All replicas scheduled as expected. Replicas: ${desired}`)
}

/** As Flux's own Job reader: a Job is ready only once it completed, and fails when it failed. */
const job = (obj: KubeObject): StatusResult => {
  const done = condition(obj, "Complete")
  if (done?.status === "True") return current("Job Completed")
  const fail = condition(obj, "Failed")
  if (fail?.status === "True") return failed(`Job Failed: ${fail.message ?? fail.reason ?? ""}`.trim())
  if (specOf(obj).suspend === true) return current("Job is suspended")
  return inProgress("Job in progress")
}

const pod = (obj: KubeObject): StatusResult => {
  const phase = statusOf(obj).phase
  if (phase === "Succeeded") return current("Pod has completed successfully")
  if (phase === "Failed") return failed("Pod has failed")
  if (phase === "Running" && condition(obj, "Ready")?.status === "True") return current("Pod is Ready")
  const sched = condition(obj, "PodScheduled")
  if (sched?.status === "False" && sched.reason === "Unschedulable")
    return inProgress("Pod could not be scheduled")
  return inProgress(`Pod phase: ${typeof phase === "string" ? phase : "Pending"}`)
}

const pvc = (obj: KubeObject): StatusResult =>
  statusOf(obj).phase === "Bound" ? current("PVC is Bound") : inProgress("PVC is not Bound")

const service = (obj: KubeObject): StatusResult => {
  if (specOf(obj).type !== "LoadBalancer") return current("Service is ready")
  const lb = statusOf(obj).loadBalancer
  const ingress = isRecord(lb) ? lb.ingress : undefined
  return Array.isArray(ingress) && ingress.length > 0
    ? current("Service is ready")
    : inProgress("Service load balancer has no ingress yet")
}

const namespace = (obj: KubeObject): StatusResult => {
  const phase = statusOf(obj).phase
  if (phase === "Terminating") return { status: "Terminating", message: "Namespace is terminating" }
  return phase === "Active" ? current("Namespace is Active") : inProgress("Namespace is not Active yet")
}

const crd = (obj: KubeObject): StatusResult => {
  const names = condition(obj, "NamesAccepted")
  if (names?.status === "False")
    return failed(`Names not accepted: ${names.message ?? names.reason ?? ""}`.trim())
  return condition(obj, "Established")?.status === "True"
    ? current("CRD is established")
    : inProgress("CRD is not established yet")
}

/** Custom resources: `Ready` decides when present; an object without conditions is taken as it is. */
const custom = (obj: KubeObject): StatusResult => {
  const ready = condition(obj, "Ready")
  if (ready === undefined) return current("Resource is current")
  if (ready.status === "True") return current(ready.message ?? "Resource is Ready")
  return inProgress(ready.message ?? ready.reason ?? "Resource is not Ready")
}

type Rule = (obj: KubeObject) => StatusResult

const builtIn: Readonly<Record<string, Rule>> = {
  "apps/Deployment": deployment,
  "apps/ReplicaSet": replicaSet,
  "apps/StatefulSet": statefulSet,
  "apps/DaemonSet": daemonSet,
  "batch/Job": job,
  "/Pod": pod,
  "/PersistentVolumeClaim": pvc,
  "/Service": service,
  "/Namespace": namespace,
  "apiextensions.k8s.io/CustomResourceDefinition": crd,
}

/** The kstatus of one live object (`undefined` = it does not exist). */
export const computeStatus = (obj: KubeObject | undefined): StatusResult => {
  if (obj === undefined) return { status: "NotFound", message: "Resource not found" }
  const g = generic(obj)
  if (g !== undefined) return g
  const rule = builtIn[`${splitApiVersion(obj.apiVersion).group}/${obj.kind}`]
  return rule !== undefined ? rule(obj) : custom(obj)
}
