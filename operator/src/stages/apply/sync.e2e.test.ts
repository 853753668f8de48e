import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { testNamespace } from "../../../../e2e/support/cluster.ts"
import type { KubeObject } from "./object.ts"
import { configMap, getLive, stageTestLayer } from "./stage-test-layer.ts"
import { syncObjects } from "./sync.ts"

const owner = { name: "apps", namespace: "flux-system" }

const deployment = (namespace: string): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace },
  spec: {
    selector: { matchLabels: { app: "web" } },
    template: {
      metadata: { labels: { app: "web" } },
      spec: { containers: [{ name: "web", image: "nginx" }] },
    },
  },
})

layer(stageTestLayer, { timeout: 120_000, excludeTestServices: true })("apply → prune → health", (it) => {
  it.effect(
    "records the new inventory even when health fails, and prunes what a later revision dropped",
    () =>
      Effect.gen(function* () {
        const ns = yield* testNamespace("sync")
        const first = yield* syncObjects({
          objects: [configMap(ns, "a", { k: "1" }), configMap(ns, "b", { k: "1" }), deployment(ns)],
          owner,
          prune: true,
          wait: true,
          timeout: "2 seconds",
          healthInterval: "500 millis",
        })
        expect(first.summary).toBe(
          [`ConfigMap/${ns}/a created`, `ConfigMap/${ns}/b created`, `Deployment/${ns}/web created`].join(
            "\n",
          ),
        )
        expect(first.inventory.entries).toHaveLength(3)
        expect(first.health?._tag).toBe("Unhealthy")
        if (first.health?._tag === "Unhealthy")
          expect(first.health.error.objects).toEqual([`Deployment/${ns}/web`])

        const second = yield* syncObjects({
          objects: [configMap(ns, "a", { k: "1" })],
          owner,
          previousInventory: first.inventory,
          prune: true,
          timeout: "10 seconds",
        })
        expect(second.summary).toBe([`ConfigMap/${ns}/b deleted`, `Deployment/${ns}/web deleted`].join("\n"))
        expect(second.inventory.entries.map((e) => e.id)).toEqual([`${ns}_a__ConfigMap`])
        expect(second.health).toBeUndefined()
        expect(yield* getLive("apps/v1", "Deployment", "web", ns)).toBeUndefined()

        // Nothing changed: no event text, nothing written.
        const third = yield* syncObjects({
          objects: [configMap(ns, "a", { k: "1" })],
          owner,
          previousInventory: second.inventory,
          prune: true,
          timeout: "10 seconds",
        })
        expect(third.summary).toBe("")
        expect(third.changeSet.map((e) => e.action)).toEqual(["unchanged"])
      }),
  )
})
