/**
 * `spec.ignore` through the whole operator: an HPA-like writer (`kubectl scale`, the scale subresource) changes
 * the Deployment's replicas. With a rule for `/spec/replicas` the next reconcile neither reverts it nor takes
 * the full path (no kustomize run: the no-change check leaves ignored fields out of its signature); removing the
 * rule is a new generation, so a full reconcile runs and reverts it; a malformed pointer stalls the
 * Kustomization naming `spec.ignore[i].paths[j]` and leaves the cluster as it was.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { appliedRevision, conditionOf, isReady, reconciledAt } from "./cluster-view.ts"
import { type App, appSpec, deploymentReplicas, fleet } from "./fleet.ts"

describe("drift-ignore rules", () => {
  it.live(
    "kubectl scale with an ignore rule is kept without a build; without the rule it is undone; a bad pointer stalls",
    () =>
      Effect.gen(function* () {
        const f = yield* fleet("fleet-ignore")
        const key = yield* f.ageKey("shop")
        yield* f.decryptionSecret("shop-sops-age", key)
        const app: App = {
          path: "apps/shop",
          name: "shop",
          secret: { password: "ignore-password" },
          config: { mode: "from-git" },
          recipients: [key],
        }
        const repo = yield* f.repository("ignore", yield* f.appFiles(app))
        const spec = appSpec(app, repo, "shop-sops-age")
        const rule = { paths: ["/spec/replicas"], target: { kind: "Deployment", name: "sh.p" } }
        yield* f.kustomization("shop", { ...spec, ignore: [rule] })
        yield* f.view.waitFor("kustomization", "shop", "Ready", appliedRevision(repo.revision))

        const reconcileOnce = Effect.gen(function* () {
          const at = yield* f.view.requestReconcile("kustomization", "shop")
          return yield* f.view.waitFor(
            "kustomization",
            "shop",
            `lastHandledReconcileAt=${at}`,
            reconciledAt(at),
          )
        })
        const replicas = Effect.map(f.apps.get("deployment", "shop"), (d) => d?.spec?.replicas)

        // Scaled by another manager: ignored, so not drift. The no-change path runs (no kustomize) and keeps it.
        yield* f.apps.kube("scale", "deployment", "shop", "--replicas=3")
        const spawns = yield* f.operator.spawns.count
        const kept = yield* reconcileOnce
        expect(appliedRevision(repo.revision)(kept)).toBe(true)
        expect(yield* replicas).toBe(3)
        expect((yield* f.operator.spawns.count) - spawns).toBe(0)

        // A malformed pointer: Stalled, naming the field; nothing applied or reverted.
        yield* f.kustomization("shop", {
          ...spec,
          ignore: [{ ...rule, paths: ["/spec/replicas", "spec/x"] }],
        })
        const stalled = yield* f.view.waitFor(
          "kustomization",
          "shop",
          "Stalled",
          (o) => conditionOf(o, "Stalled")?.status === "True",
        )
        expect(conditionOf(stalled, "Ready")).toMatchObject({ status: "False", reason: "InvalidSpec" })
        expect(conditionOf(stalled, "Stalled")?.message).toContain("spec.ignore[0].paths[1]")
        expect(yield* replicas).toBe(3)

        // No rule: a new generation, so the full path runs and reverts the replicas to what Git says.
        const before = yield* f.operator.spawns.count
        yield* f.kustomization("shop", spec)
        yield* f.view.waitFor("kustomization", "shop", "Ready for the new generation", isReady)
        expect(yield* replicas).toBe(deploymentReplicas)
        expect((yield* f.operator.spawns.count) - before).toBe(1)
      }).pipe(Effect.scoped),
    300_000,
  )
})
