/**
 * CEL of `healthCheckExprs`: what compiling a Kustomization's expressions costs, one evaluation on the thread,
 * and one through the worker pool under its deadline (what the health check does per object and poll).
 * `npm run bench:cel`; results in docs/benchmarks.md.
 */
import { Effect } from "effect"
import { compile, firstTrue } from "../operator/src/stages/health/cel.ts"
import { evaluateFirstTrue } from "../operator/src/stages/health/cel-evaluation.ts"

const expressions = [
  "status.conditions.exists(e, e.type == 'Progressing' && e.status == 'True' && e.reason == 'ReplicaSetUpdated')",
  "status.conditions.filter(e, e.type == 'Progressing').all(e, e.reason == 'ProgressDeadlineExceeded')",
  "status.conditions.filter(e, e.type == 'Available').all(e, e.status == 'True') && status.?readyReplicas.orValue(0) >= spec.replicas",
]
const condition = (type: string, status: string, reason: string) => ({
  type,
  status,
  reason,
  message: `${reason} ${"x".repeat(80)}`,
  lastUpdateTime: "2026-12-04T00:00:00Z",
  lastTransitionTime: "2026-12-04T00:00:00Z",
})
// A Deployment as the API server returns it (≈ 3 KB of JSON).
const deployment = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: {
    name: "web",
    namespace: "apps",
    generation: 4,
    labels: Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`label-${i}`, `value-${i}`])),
    annotations: { "deployment.kubernetes.io/revision": "4" },
    managedFields: Array.from({ length: 3 }, (_, i) => ({
      manager: `m${i}`,
      operation: "Apply",
      fieldsV1: { f: {} },
    })),
  },
  spec: {
    replicas: 3,
    template: {
      spec: { containers: [{ name: "web", image: "nginx:1.27", ports: [{ containerPort: 80 }] }] },
    },
  },
  status: {
    observedGeneration: 4,
    replicas: 3,
    readyReplicas: 3,
    updatedReplicas: 3,
    conditions: [
      condition("Progressing", "True", "NewReplicaSetAvailable"),
      condition("Available", "True", "MinimumReplicasAvailable"),
    ],
  },
}

const time = (label: string, n: number, f: () => void) => {
  for (let i = 0; i < Math.min(n, 1000); i++) f()
  const start = performance.now()
  for (let i = 0; i < n; i++) f()
  const us = ((performance.now() - start) * 1000) / n
  console.log(`${label}: ${us.toFixed(2)} µs`)
}

time("compile the 3 expressions", 2_000, () => {
  for (const e of expressions) if (!compile("health", e).ok) throw new Error(e)
})
time("evaluate on the thread (all 3, in order)", 50_000, () => firstTrue("health", expressions, deployment))
const rounds = 2_000
const start = performance.now()
await Effect.runPromise(
  Effect.forEach(Array.from({ length: rounds }), () => evaluateFirstTrue("health", expressions, deployment), {
    concurrency: 4,
  }),
)
console.log(
  `evaluate on the worker pool: ${(((performance.now() - start) * 1000) / rounds).toFixed(1)} µs per object`,
)
process.exit(0)
