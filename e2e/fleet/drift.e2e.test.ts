/**
 * Drift on a live object — a field the Kustomization applied, changed by another field manager — is corrected
 * by the next reconcile even though no input changed: the incremental reconcile's drift check sees that the
 * field changed hands and takes the full path, which applies the object again.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { appliedRevision, reconciledAt } from "./cluster-view.ts"
import { type App, appSpec, deploymentReplicas, fleet } from "./fleet.ts"

const owners = (o: { metadata: { managedFields?: ReadonlyArray<{ manager: string }> } } | undefined) =>
  (o?.metadata.managedFields ?? []).map((m) => m.manager)

describe("drift", () => {
  it.live(
    "kubectl edit of a ConfigMap's data and kubectl scale of the Deployment are undone by the next reconcile",
    () =>
      Effect.gen(function* () {
        const f = yield* fleet("fleet-drift")
        const key = yield* f.ageKey("shop")
        yield* f.decryptionSecret("shop-sops-age", key)
        const app: App = {
          path: "apps/shop",
          name: "shop",
          secret: { password: "drift-password" },
          config: { mode: "from-git" },
          recipients: [key],
        }
        const repo = yield* f.repository("drift", yield* f.appFiles(app))
        yield* f.kustomization("shop", appSpec(app, repo, "shop-sops-age"))
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

        // A ConfigMap edited by hand: kubectl-edit now owns data.mode.
        yield* f.apps.edit("configmap", "shop-config", "s/from-git/edited-by-hand/")
        const edited = yield* f.apps.get("configmap", "shop-config")
        expect(edited?.data?.mode).toBe("edited-by-hand")
        expect(owners(edited)).toContain("kubectl-edit")
        const spawns = yield* f.operator.spawns.count
        const fixed = yield* reconcileOnce
        expect(appliedRevision(repo.revision)(fixed)).toBe(true)
        expect((yield* f.apps.get("configmap", "shop-config"))?.data?.mode).toBe("from-git")
        // The full path ran: drift is corrected by a build and an apply, not by the check alone.
        expect((yield* f.operator.spawns.count) - spawns).toBe(1)

        // The Deployment scaled by another manager (the scale subresource).
        yield* f.apps.kube("scale", "deployment", "shop", "--replicas=3")
        expect((yield* f.apps.get("deployment", "shop"))?.spec?.replicas).toBe(3)
        yield* reconcileOnce
        expect((yield* f.apps.get("deployment", "shop"))?.spec?.replicas).toBe(deploymentReplicas)

        // Nothing drifted any more: the next reconcile builds nothing.
        const quiet = yield* f.operator.spawns.count
        yield* reconcileOnce
        expect((yield* f.operator.spawns.count) - quiet).toBe(0)
      }).pipe(Effect.scoped),
    300_000,
  )
})
