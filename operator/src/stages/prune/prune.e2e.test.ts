import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { createServiceAccount, testNamespace } from "../../../../e2e/support/cluster.ts"
import { Applier } from "../apply/staged-apply.ts"
import { mergeInventories, staleEntries } from "../cluster/inventory.ts"
import { configMap, getLive, patchAs, stageTestLayer } from "../pipeline/testing/stage-test-layer.ts"
import { cleanupOnDeletion } from "./deletion-policy.ts"
import { Pruner } from "./prune.ts"

const owner = { name: "apps", namespace: "flux-system" }

const byAction = (cs: ReadonlyArray<{ ref: { name: string }; action: string }>) =>
  Object.fromEntries(cs.map((e) => [e.ref.name, e.action]))

layer(stageTestLayer, { timeout: 120_000, excludeTestServices: true })(
  "Pruner on the test control plane",
  (it) => {
    it.effect(
      "deletes what left the set only while it still carries both owner labels and no prune: disabled",
      () =>
        Effect.gen(function* () {
          const applier = yield* Applier
          const pruner = yield* Pruner
          const ns = yield* testNamespace("prune")
          const keep = configMap(ns, "keep", { k: "1" })
          const gone = configMap(ns, "gone", { k: "1" })
          const protectedCm = configMap(
            ns,
            "protected",
            { k: "1" },
            { "kustomize.toolkit.fluxcd.io/prune": "disabled" },
          )
          const adopted = configMap(ns, "adopted", { k: "1" })
          const first = yield* applier.apply({ objects: [keep, gone, protectedCm, adopted], owner })
          // Someone took `adopted` over: it lost one of the owner labels.
          yield* patchAs(
            "kubectl-label",
            { apiVersion: "v1", kind: "ConfigMap", name: "adopted", namespace: ns },
            { metadata: { labels: { "kustomize.toolkit.fluxcd.io/name": null } } },
          )

          const second = yield* applier.apply({ objects: [keep], owner })
          const stale = staleEntries(first.inventory, second.inventory)
          expect(stale.map((e) => e.id).sort()).toEqual([
            `${ns}_adopted__ConfigMap`,
            `${ns}_gone__ConfigMap`,
            `${ns}_protected__ConfigMap`,
          ])
          const pruned = yield* pruner.prune({ entries: stale, owner })
          expect(byAction(pruned.changeSet)).toEqual({
            gone: "deleted",
            protected: "skipped",
            adopted: "skipped",
          })
          expect(yield* getLive("v1", "ConfigMap", "gone", ns)).toBeUndefined()
          expect(yield* getLive("v1", "ConfigMap", "protected", ns)).toBeDefined()
          expect(yield* getLive("v1", "ConfigMap", "adopted", ns)).toBeDefined()
          expect(yield* getLive("v1", "ConfigMap", "keep", ns)).toBeDefined()

          // Pruning an entry whose object is already gone is a no-op.
          const again = yield* pruner.prune({ entries: stale, owner })
          expect(byAction(again.changeSet)).toEqual({ protected: "skipped", adopted: "skipped" })
        }),
    )

    it.effect("keeps objects it could not delete in the inventory and fails with PruneFailed", () =>
      Effect.gen(function* () {
        const applier = yield* Applier
        const pruner = yield* Pruner
        const ns = yield* testNamespace("prune-denied")
        yield* Effect.promise(() => createServiceAccount(ns, "no-delete"))
        const first = yield* applier.apply({
          objects: [configMap(ns, "a", { k: "1" }), configMap(ns, "b", { k: "1" })],
          owner,
        })
        yield* applier.apply({
          objects: [
            {
              apiVersion: "rbac.authorization.k8s.io/v1",
              kind: "Role",
              metadata: { name: "read", namespace: ns },
              rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list"] }],
            },
            {
              apiVersion: "rbac.authorization.k8s.io/v1",
              kind: "RoleBinding",
              metadata: { name: "read", namespace: ns },
              roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "read" },
              subjects: [{ kind: "ServiceAccount", name: "no-delete", namespace: ns }],
            },
          ],
          owner: { name: "rbac", namespace: ns },
        })
        const next = { entries: first.inventory.entries.filter((e) => e.id === `${ns}_a__ConfigMap`) }
        const stale = staleEntries(first.inventory, next)
        const error = yield* Effect.flip(
          pruner.prune({
            entries: stale,
            owner,
            identity: { _tag: "ServiceAccount", namespace: ns, name: "no-delete" },
          }),
        )
        expect(error.reason).toBe("PruneFailed")
        expect(error.message).toContain(
          `ConfigMap/${ns}/b delete is forbidden for ServiceAccount ${ns}/no-delete`,
        )
        expect(error.remaining).toEqual([{ id: `${ns}_b__ConfigMap`, v: "v1" }])
        expect(mergeInventories(next, error.remaining).entries.map((e) => e.id)).toEqual([
          `${ns}_a__ConfigMap`,
          `${ns}_b__ConfigMap`,
        ])
        expect(yield* getLive("v1", "ConfigMap", "b", ns)).toBeDefined()
      }),
    )

    it.effect("applies the deletionPolicy when the Kustomization is deleted", () =>
      Effect.gen(function* () {
        const applier = yield* Applier
        const ns = yield* testNamespace("deletion")
        const { inventory } = yield* applier.apply({
          objects: [configMap(ns, "a", { k: "1" }), configMap(ns, "b", { k: "1" })],
          owner,
        })

        const orphaned = yield* cleanupOnDeletion({ owner, inventory, prune: true, deletionPolicy: "Orphan" })
        expect(orphaned.changeSet).toEqual([])
        const mirrorNoPrune = yield* cleanupOnDeletion({ owner, inventory, prune: false })
        expect(mirrorNoPrune.changeSet).toEqual([])
        const suspended = yield* cleanupOnDeletion({
          owner,
          inventory,
          prune: true,
          deletionPolicy: "Delete",
          suspended: true,
        })
        expect(suspended.changeSet).toEqual([])
        const noAccount = yield* cleanupOnDeletion({
          owner,
          inventory,
          prune: true,
          identity: { _tag: "ServiceAccount", namespace: ns, name: "deleted-sa" },
        })
        expect(noAccount.skipped).toContain(`ServiceAccount ${ns}/deleted-sa not found`)
        expect(yield* getLive("v1", "ConfigMap", "a", ns)).toBeDefined()

        const waited = yield* cleanupOnDeletion({
          owner,
          inventory,
          prune: false,
          deletionPolicy: "WaitForTermination",
          timeout: "30 seconds",
        })
        expect(byAction(waited.changeSet)).toEqual({ a: "deleted", b: "deleted" })
        expect(yield* getLive("v1", "ConfigMap", "a", ns)).toBeUndefined()
        expect(yield* getLive("v1", "ConfigMap", "b", ns)).toBeUndefined()
      }),
    )
  },
)
