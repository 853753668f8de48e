import { expect, layer } from "@effect/vitest"
import { type Duration, Effect } from "effect"
import { kwokPoolNode, poolLabel } from "../../../../e2e/cluster/workloads.ts"
import { kubectl, testNamespace } from "../../../../e2e/support/cluster.ts"
import type { KubeObject } from "../../kube/object.ts"
import { Applier } from "../apply/staged-apply.ts"
import { configMap, patchAs, stageTestLayer } from "../pipeline/testing/stage-test-layer.ts"
import { HealthChecker, healthCheckTargets } from "./health-check.ts"
import { compileHealthExpressions } from "./health-expressions.ts"

const owner = { name: "apps", namespace: "flux-system" }

/**
 * A Deployment whose Pods only fit on nodes of `pool`: it rolls out once such a node exists (kwok runs the
 * Pods) and stays unavailable until then, as on a cluster short of capacity.
 */
const deployment = (namespace: string, pool: string, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: "web" } },
    template: {
      metadata: { labels: { app: "web" } },
      spec: {
        nodeSelector: { [poolLabel]: pool },
        containers: [{ name: "web", image: "nginx", ports: [{ containerPort: 80 }] }],
      },
    },
    ...extra,
  },
})

/** A CRD of our own with a status subresource: the test plays its controller. */
const randomGroup = () => `h${Math.random().toString(36).slice(2, 8)}.example.com`
const gadgetCrd = (group: string): KubeObject => ({
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: `gadgets.${group}` },
  spec: {
    group,
    names: { kind: "Gadget", plural: "gadgets", singular: "gadget", listKind: "GadgetList" },
    scope: "Namespaced",
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
      },
    ],
  },
})

const now = new Date().toISOString().replace(/\.\d+Z$/, "Z")
const condition = (type: string, status: string, reason: string) => ({
  type,
  status,
  reason,
  message: reason,
  lastUpdateTime: now,
  lastTransitionTime: now,
})

layer(stageTestLayer, { timeout: 120_000, excludeTestServices: true })(
  "HealthChecker on the test control plane",
  (it) => {
    it.effect(
      "waits for a Deployment until it has rolled out, and times out while its Pods have no node to run on",
      () =>
        Effect.gen(function* () {
          const applier = yield* Applier
          const health = yield* HealthChecker
          const ns = yield* testNamespace("health")
          const { changeSet } = yield* applier.apply({
            objects: [deployment(ns, ns), configMap(ns, "cfg", { k: "1" })],
            owner,
          })
          const refs = healthCheckTargets({ wait: true }, owner, changeSet)
          expect(refs.map((r) => r.kind).sort()).toEqual(["ConfigMap", "Deployment"])

          const timedOut = yield* Effect.flip(
            health.check({ refs, timeout: "2 seconds", interval: "500 millis" }),
          )
          expect(timedOut.reason).toBe("HealthCheckFailed")
          expect(timedOut.message).toMatch(
            /^health check failed after .+: timeout waiting for: \[Deployment\//,
          )
          expect(timedOut.message).toContain(`Deployment/${ns}/web status: 'InProgress'`)
          expect(timedOut.objects).toEqual([`Deployment/${ns}/web`])

          // Capacity arrives: the scheduler binds the Pods to the new node, kwok runs them, the rollout completes.
          yield* kwokPoolNode(ns)
          const healthy = yield* health.check({ refs, timeout: "60 seconds", interval: "500 millis" })
          expect(healthy.message).toMatch(/^Health check passed in /)
          expect(healthy.statuses.every((s) => s.result.status === "Current")).toBe(true)
          const pods = JSON.parse(
            yield* Effect.promise(() => kubectl(["get", "pods", "-n", ns, "-o", "json"])),
          ) as { items: ReadonlyArray<{ spec: { nodeName?: string }; status: { phase?: string } }> }
          expect(pods.items.map((p) => [p.spec.nodeName, p.status.phase])).toEqual([
            [`kwok-${ns}`, "Running"],
            [`kwok-${ns}`, "Running"],
          ])

          // healthChecks: only the listed objects (apiVersion defaults to apps/v1, namespace to the Kustomization's).
          const listed = healthCheckTargets(
            { healthChecks: [{ kind: "Deployment", name: "web", namespace: ns }] },
            owner,
            changeSet,
          )
          expect(listed).toEqual([
            { group: "apps", version: "v1", kind: "Deployment", name: "web", namespace: ns },
          ])
          yield* health.check({ refs: listed, timeout: "5 seconds", interval: "500 millis" })
        }),
    )

    it.effect(
      "fails early on a Deployment whose progress deadline was exceeded, and on missing objects at the timeout",
      () =>
        Effect.gen(function* () {
          const applier = yield* Applier
          const health = yield* HealthChecker
          const ns = yield* testNamespace("health-failed")
          // No node of this pool ever exists: the deployment controller marks the rollout failed after 1 s.
          const { changeSet } = yield* applier.apply({
            objects: [deployment(ns, ns, { progressDeadlineSeconds: 1 })],
            owner,
          })
          const refs = healthCheckTargets({ wait: true }, owner, changeSet)
          const failed = yield* Effect.flip(
            health.check({ refs, timeout: "30 seconds", interval: "500 millis" }),
          )
          expect(failed.message).toContain("failed early due to stalled resources: [")
          expect(failed.message).toContain(
            `Deployment/${ns}/web status: 'Failed': Progress deadline exceeded`,
          )

          const missing = yield* Effect.flip(
            health.check({
              refs: [{ group: "", version: "v1", kind: "ConfigMap", name: "absent", namespace: ns }],
              timeout: "1 second",
              interval: "500 millis",
            }),
          )
          expect(missing.message).toContain(`ConfigMap/${ns}/absent status: 'NotFound'`)
        }),
    )

    it.effect("judges a custom resource by its Ready condition and observedGeneration", () =>
      Effect.gen(function* () {
        const applier = yield* Applier
        const health = yield* HealthChecker
        const ns = yield* testNamespace("health-cr")
        const group = randomGroup()
        const crd = gadgetCrd(group)
        const gadget: KubeObject = {
          apiVersion: `${group}/v1`,
          kind: "Gadget",
          metadata: { name: "g", namespace: ns },
          spec: { n: 1 },
        }
        const { changeSet } = yield* applier.apply({ objects: [crd, gadget], owner })
        const refs = healthCheckTargets(
          { healthChecks: [{ apiVersion: `${group}/v1`, kind: "Gadget", name: "g" }] },
          { ...owner, namespace: ns },
          changeSet,
        )
        const gadgetStatus = (status: Record<string, unknown>) =>
          patchAs(
            "gadget-controller",
            { apiVersion: `${group}/v1`, kind: "Gadget", name: "g", namespace: ns, subresource: "status" },
            { status },
          )

        yield* gadgetStatus({
          observedGeneration: 1,
          conditions: [condition("Ready", "False", "Provisioning")],
        })
        const notReady = yield* Effect.flip(
          health.check({ refs, timeout: "1 second", interval: "500 millis" }),
        )
        expect(notReady.message).toContain(`Gadget/${ns}/g status: 'InProgress': Provisioning`)

        // Ready, but for an older generation: still in progress.
        yield* applier.apply({ objects: [crd, { ...gadget, spec: { n: 2 } }], owner })
        yield* gadgetStatus({ observedGeneration: 1, conditions: [condition("Ready", "True", "Succeeded")] })
        const stale = yield* Effect.flip(health.check({ refs, timeout: "1 second", interval: "500 millis" }))
        expect(stale.message).toContain(`Gadget/${ns}/g status: 'InProgress': Generation 2 not yet observed`)

        yield* gadgetStatus({ observedGeneration: 2, conditions: [condition("Ready", "True", "Succeeded")] })
        yield* health.check({ refs, timeout: "5 seconds", interval: "500 millis" })
      }),
    )

    it.effect(
      "healthCheckExprs: no status is Unknown, then inProgress, failed (early) and current as the expressions say",
      () =>
        Effect.gen(function* () {
          const applier = yield* Applier
          const health = yield* HealthChecker
          const ns = yield* testNamespace("health-cel")
          const group = randomGroup()
          const gadget: KubeObject = {
            apiVersion: `${group}/v1`,
            kind: "Gadget",
            metadata: { name: "g", namespace: ns },
            spec: { n: 1 },
          }
          const { changeSet } = yield* applier.apply({ objects: [gadgetCrd(group), gadget], owner })
          const compiled = compileHealthExpressions([
            {
              apiVersion: `${group}/v1`,
              kind: "Gadget",
              inProgress: "status.conditions.exists(e, e.type == 'Synced' && e.status == 'Unknown')",
              failed: "status.conditions.filter(e, e.type == 'Synced').all(e, e.status == 'False')",
              current:
                "status.conditions.filter(e, e.type == 'Synced').all(e, e.status == 'True') && status.?ready.orValue(0) >= 1",
            },
          ])
          if (!compiled.ok) return yield* Effect.die(new Error(compiled.error))
          const reader = compiled.reader
          // With wait, the CRD is judged by the built-in rules and the Gadget by the expressions.
          const refs = healthCheckTargets({ wait: true }, { ...owner, namespace: ns }, changeSet)
          const check = (timeout: Duration.Input) =>
            health.check({ refs, timeout, interval: "300 millis", reader })
          const gadgetStatus = (status: Record<string, unknown>) =>
            patchAs(
              "gadget-controller",
              { apiVersion: `${group}/v1`, kind: "Gadget", name: "g", namespace: ns, subresource: "status" },
              { status },
            )

          // No status at all: the expressions cannot be evaluated, the object is Unknown until the timeout.
          const unknown = yield* Effect.flip(check("1 second"))
          expect(unknown.message).toContain("timeout waiting for: [")
          expect(unknown.message).toContain(
            `Gadget/${ns}/g status: 'Unknown': spec.healthCheckExprs[0]: failed to evaluate the CEL expression`,
          )
          expect(unknown.message).not.toContain("CustomResourceDefinition")

          yield* gadgetStatus({ conditions: [condition("Synced", "Unknown", "Syncing")] })
          const inProgress = yield* Effect.flip(check("1 second"))
          expect(inProgress.message).toContain(
            `Gadget/${ns}/g status: 'InProgress': spec.healthCheckExprs[0].inProgress is true`,
          )

          // Failed ends the wait at once (fail-fast), long before the 30 s timeout.
          yield* gadgetStatus({ conditions: [condition("Synced", "False", "Broken")] })
          const failed = yield* Effect.flip(check("30 seconds"))
          expect(failed.message).toContain(
            `failed early due to stalled resources: [Gadget/${ns}/g status: 'Failed': spec.healthCheckExprs[0].failed is true]`,
          )

          // Synced but `ready` below 1: none of the expressions is true, which is InProgress.
          yield* gadgetStatus({ conditions: [condition("Synced", "True", "Synced")] })
          const none = yield* Effect.flip(check("1 second"))
          expect(none.message).toContain(
            `Gadget/${ns}/g status: 'InProgress': no expression of spec.healthCheckExprs[0] is true`,
          )

          yield* gadgetStatus({ ready: 2, conditions: [condition("Synced", "True", "Synced")] })
          const passed = yield* check("10 seconds")
          expect(passed.message).toMatch(/^Health check passed in /)
          expect(passed.statuses.find((s) => s.ref.kind === "Gadget")?.result).toEqual({
            status: "Current",
            message: "spec.healthCheckExprs[0].current is true",
          })

          // A generation the status has not observed is InProgress before any expression runs.
          yield* applier.apply({ objects: [gadgetCrd(group), { ...gadget, spec: { n: 2 } }], owner })
          yield* gadgetStatus({
            observedGeneration: 1,
            ready: 2,
            conditions: [condition("Synced", "True", "Synced")],
          })
          const stale = yield* Effect.flip(check("1 second"))
          expect(stale.message).toContain(
            `Gadget/${ns}/g status: 'InProgress': Generation 2 not yet observed (at 1)`,
          )
        }),
    )
  },
)
