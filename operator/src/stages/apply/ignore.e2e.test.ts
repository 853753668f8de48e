/**
 * `spec.ignore` in the apply stage and the no-change drift check, against the real API server: other writers
 * (an HPA through the scale subresource, a controller applying server-side, a webhook-like `Update`) change
 * fields; with a rule for them Kustodian neither reverts them nor reports drift, without one it does.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { testNamespace } from "../../../../e2e/support/cluster.ts"
import { KubeClient } from "../../kube/client.ts"
import type { KubeObject, KubeObject as WireObject } from "../../kube/object.ts"
import { RESTMapper } from "../../kube/restmapper.ts"
import { controllerIdentity } from "../cluster/impersonation.ts"
import { getLive, patchAs, stageTestLayer } from "../pipeline/testing/stage-test-layer.ts"
import { firstDrifted } from "./drift-check.ts"
import { type CompiledIgnoreRules, compileIgnoreRules, IgnoreRuleError } from "./ignore-rules.ts"
import { fieldManager } from "./managed-fields.ts"
import { Applier } from "./staged-apply.ts"

const owner = { name: "apps", namespace: "flux-system" }

const deployment = (
  namespace: string,
  name: string,
  image = "web:1",
  annotations: Record<string, string> = { "example.com/hash": "git" },
): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name, namespace, annotations, labels: { app: name } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: "app", image }] },
    },
  },
})

const rules = (spec: Parameters<typeof compileIgnoreRules>[0]): CompiledIgnoreRules => {
  const r = compileIgnoreRules(spec)
  if (r instanceof IgnoreRuleError) throw new Error(`${r.field}: ${r.message}`)
  return r
}

const actionOf = (cs: ReadonlyArray<{ ref: { name: string }; action: string }>, name: string) =>
  cs.find((e) => e.ref.name === name)?.action

/** The HPA's way: the scale subresource, an Update by another manager. */
const scale = (ns: string, name: string, replicas: number) =>
  patchAs(
    "hpa-like",
    { apiVersion: "apps/v1", kind: "Deployment", name, namespace: ns, subresource: "scale" },
    { spec: { replicas } },
  )

/** A controller that applies server-side (force), e.g. an autoscaler of that kind. */
const applyAs = (manager: string, ns: string, name: string, replicas: number) =>
  Effect.gen(function* () {
    const client = yield* KubeClient
    const mapper = yield* RESTMapper
    const r = yield* mapper.resolve("apps/v1", "Deployment")
    return yield* client.apply<WireObject>(
      r,
      { apiVersion: "apps/v1", kind: "Deployment", metadata: { name, namespace: ns }, spec: { replicas } },
      { fieldManager: manager, force: true },
    )
  })

const replicasOf = (ns: string, name: string) =>
  getLive("apps/v1", "Deployment", name, ns).pipe(
    Effect.map((o) => (o?.spec as { replicas?: number } | undefined)?.replicas),
  )

const imageOf = (ns: string, name: string) =>
  getLive("apps/v1", "Deployment", name, ns).pipe(
    Effect.map(
      (o) =>
        (o?.spec as { template: { spec: { containers: Array<{ image: string }> } } } | undefined)?.template
          .spec.containers[0]?.image,
    ),
  )

layer(stageTestLayer, { timeout: 120_000, excludeTestServices: true })(
  "spec.ignore on the test control plane",
  (it) => {
    it.effect("an HPA's replicas: reverted without a rule; kept, and no drift, with one", () =>
      Effect.gen(function* () {
        const applier = yield* Applier
        const ns = yield* testNamespace("ignore-hpa")
        const ignore = rules([{ paths: ["/spec/replicas"], target: { kind: "Deployment" } }])
        const first = yield* applier.apply({ objects: [deployment(ns, "web")], owner, ignore })
        expect(actionOf(first.changeSet, "web")).toBe("created")

        // The no-change drift check sees nothing while nobody wrote.
        const drift = (signatures: typeof first.signatures, withRules?: CompiledIgnoreRules) =>
          firstDrifted(signatures, controllerIdentity, fieldManager, withRules)
        expect(yield* drift(first.signatures, ignore)).toBeUndefined()

        yield* scale(ns, "web", 5)
        // With the rule: not drift for the signature check, nor for the dry-run comparison; the value stays.
        expect(yield* drift(first.signatures, ignore)).toBeUndefined()
        const kept = yield* applier.apply({ objects: [deployment(ns, "web")], owner, ignore })
        expect(actionOf(kept.changeSet, "web")).toBe("unchanged")
        expect(yield* replicasOf(ns, "web")).toBe(5)

        // Something else drifts: the object is applied, its ignored field keeps the live value (we are the only
        // Apply owner: adopt), and the HPA can keep scaling without the next check seeing drift.
        const moved = yield* applier.apply({ objects: [deployment(ns, "web", "web:2")], owner, ignore })
        expect(actionOf(moved.changeSet, "web")).toBe("configured")
        expect(yield* imageOf(ns, "web")).toBe("web:2")
        expect(yield* replicasOf(ns, "web")).toBe(5)
        yield* scale(ns, "web", 7)
        expect(yield* drift(moved.signatures, ignore)).toBeUndefined()

        // Without the rule the same write is drift: the check reports it and the apply reverts it.
        const plain = yield* applier.apply({ objects: [deployment(ns, "web", "web:2")], owner })
        expect(actionOf(plain.changeSet, "web")).toBe("configured")
        expect(yield* replicasOf(ns, "web")).toBe(2)
        yield* scale(ns, "web", 4)
        expect((yield* drift(plain.signatures))?.name).toBe("web")
      }),
    )

    it.effect("a field another manager applies server-side is stripped from our apply, so it keeps it", () =>
      Effect.gen(function* () {
        const applier = yield* Applier
        const ns = yield* testNamespace("ignore-strip")
        const ignore = rules([{ paths: ["/spec/replicas"] }])
        yield* applier.apply({ objects: [deployment(ns, "web")], owner, ignore })
        yield* applyAs("autoscaler", ns, "web", 6)

        const next = yield* applier.apply({ objects: [deployment(ns, "web", "web:3")], owner, ignore })
        expect(actionOf(next.changeSet, "web")).toBe("configured")
        expect(yield* imageOf(ns, "web")).toBe("web:3")
        expect(yield* replicasOf(ns, "web")).toBe(6)
        const live = yield* getLive("apps/v1", "Deployment", "web", ns)
        const ours = live?.metadata.managedFields?.find(
          (e) => e.manager === fieldManager && e.operation === "Apply",
        )
        expect(JSON.stringify(ours?.fieldsV1)).not.toContain("f:replicas")
        expect(JSON.stringify(ours?.fieldsV1)).toContain("f:image")
        // The autoscaler keeps it when it writes again, with no conflict from us.
        yield* applyAs("autoscaler", ns, "web", 3)
        const again = yield* applier.apply({ objects: [deployment(ns, "web", "web:3")], owner, ignore })
        expect(actionOf(again.changeSet, "web")).toBe("unchanged")
        expect(yield* replicasOf(ns, "web")).toBe(3)
      }),
    )

    it.effect("a webhook-like annotation and a target selector: only matching objects keep the change", () =>
      Effect.gen(function* () {
        const applier = yield* Applier
        const ns = yield* testNamespace("ignore-target")
        const ignore = rules([
          { paths: ["/metadata/annotations/example.com~1hash"], target: { kind: "Deploy.*", name: "web" } },
          { paths: ["/spec/replicas"], target: { labelSelector: "app in (web)" } },
        ])
        const set = [deployment(ns, "web"), deployment(ns, "api")]
        yield* applier.apply({ objects: set, owner, ignore })
        for (const name of ["web", "api"]) {
          yield* patchAs(
            "webhook-like",
            { apiVersion: "apps/v1", kind: "Deployment", name, namespace: ns },
            { metadata: { annotations: { "example.com/hash": "mutated" } } },
          )
          yield* scale(ns, name, 9)
        }
        const result = yield* applier.apply({ objects: set, owner, ignore })
        expect(actionOf(result.changeSet, "web")).toBe("unchanged")
        expect(actionOf(result.changeSet, "api")).toBe("configured")
        const web = yield* getLive("apps/v1", "Deployment", "web", ns)
        const api = yield* getLive("apps/v1", "Deployment", "api", ns)
        expect(web?.metadata.annotations?.["example.com/hash"]).toBe("mutated")
        expect(yield* replicasOf(ns, "web")).toBe(9)
        expect(api?.metadata.annotations?.["example.com/hash"]).toBe("git")
        expect(yield* replicasOf(ns, "api")).toBe(2)
      }),
    )

    it.effect(
      "a path Kustodian alone owns keeps the live value written by an Update when Git changes it",
      () =>
        Effect.gen(function* () {
          const applier = yield* Applier
          const ns = yield* testNamespace("ignore-adopt")
          const ignore = rules([{ paths: ["/metadata/annotations/example.com~1hash"] }])
          yield* applier.apply({ objects: [deployment(ns, "web")], owner, ignore })
          // kubectl annotate (an Update, taken over by our field manager on the next apply).
          yield* patchAs(
            "kubectl-annotate",
            { apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: ns },
            { metadata: { annotations: { "example.com/hash": "by-hand" } } },
          )
          // Git changes the ignored annotation and the image: the image is applied, the annotation stays.
          const next = yield* applier.apply({
            objects: [deployment(ns, "web", "web:4", { "example.com/hash": "git-2" })],
            owner,
            ignore,
          })
          expect(actionOf(next.changeSet, "web")).toBe("configured")
          const live = yield* getLive("apps/v1", "Deployment", "web", ns)
          expect(live?.metadata.annotations?.["example.com/hash"]).toBe("by-hand")
          expect(yield* imageOf(ns, "web")).toBe("web:4")
          const ours = live?.metadata.managedFields?.filter((e) => e.manager === fieldManager)
          expect(ours?.map((e) => e.operation)).toEqual(["Apply"])
          expect(JSON.stringify(ours?.[0]?.fieldsV1)).toContain("f:example.com/hash")
          expect(live?.metadata.managedFields?.some((e) => e.manager === "kubectl-annotate")).toBe(false)
        }),
    )
  },
)
