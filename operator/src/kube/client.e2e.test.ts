import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Stream } from "effect"
import { testKubeconfigPath, testNamespace } from "../../../e2e/support/cluster.ts"
import { KubeClient, type WatchEvent } from "./client.ts"
import type { KubeObject } from "./object.ts"
import { CoreResources } from "./resource.ts"
import { RESTMapper } from "./restmapper.ts"

const layer = () => {
  const client = KubeClient.layer({ _tag: "File", path: testKubeconfigPath() })
  return Layer.merge(client, RESTMapper.layer.pipe(Layer.provide(client)))
}

const cm = (ns: string, name: string, data: Record<string, string>): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: ns },
  data,
})

describe("KubeClient", () => {
  it.live("server-side applies, reads, lists across pages, and reports API errors typed", () =>
    Effect.gen(function* () {
      const client = yield* KubeClient
      const ns = yield* testNamespace("kube")
      const applied = yield* client.apply(CoreResources.configMap, cm(ns, "a", { k: "v" }), {
        fieldManager: "kustodian-test",
      })
      expect(applied.metadata.uid).toBeDefined()
      const managers = (applied.metadata.managedFields as Array<{ manager: string; operation: string }>).map(
        (m) => `${m.manager}/${m.operation}`,
      )
      expect(managers).toContain("kustodian-test/Apply")
      // Re-applying the same content changes nothing.
      const again = yield* client.apply(CoreResources.configMap, cm(ns, "a", { k: "v" }), {
        fieldManager: "kustodian-test",
      })
      expect(again.metadata.resourceVersion).toBe(applied.metadata.resourceVersion)
      // Dry-run does not persist.
      yield* client.apply(CoreResources.configMap, cm(ns, "a", { k: "changed" }), {
        fieldManager: "kustodian-test",
        dryRun: true,
      })
      expect(((yield* client.get(CoreResources.configMap, "a", ns)).data as Record<string, string>).k).toBe(
        "v",
      )

      expect(Option.isNone(yield* client.getOption(CoreResources.configMap, "missing", ns))).toBe(true)
      const notFound = yield* client.get(CoreResources.configMap, "missing", ns).pipe(Effect.flip)
      expect(notFound).toMatchObject({ _tag: "KubeApiError", code: 404, reason: "NotFound" })
      const exists = yield* client.create(CoreResources.configMap, cm(ns, "a", {})).pipe(Effect.flip)
      expect(exists).toMatchObject({ _tag: "KubeApiError", code: 409, reason: "AlreadyExists" })

      for (let i = 0; i < 5; i++) yield* client.create(CoreResources.configMap, cm(ns, `p${i}`, {}))
      const list = yield* client.list(CoreResources.configMap, { namespace: ns, limit: 2 })
      expect(list.items.map((o) => o.metadata.name).sort()).toEqual(["a", "p0", "p1", "p2", "p3", "p4"])
      expect(list.metadata.resourceVersion).toBeDefined()
      // The server sends a built-in kind's items without apiVersion and kind; the client gives them the list's.
      expect(new Set(list.items.map((o) => `${o.apiVersion} ${o.kind}`))).toEqual(new Set(["v1 ConfigMap"]))

      expect(yield* client.delete(CoreResources.configMap, "p0", ns)).toBe(true)
      expect(yield* client.delete(CoreResources.configMap, "p0", ns)).toBe(false)
    }).pipe(Effect.provide(layer())),
  )

  it.live("watches from a resourceVersion with bookmarks requested", () =>
    Effect.gen(function* () {
      const client = yield* KubeClient
      const ns = yield* testNamespace("watch")
      const list = yield* client.list(CoreResources.configMap, { namespace: ns })
      const seen: WatchEvent[] = []
      const watcher = yield* Effect.forkChild(
        Stream.runForEach(
          client.watch(CoreResources.configMap, {
            namespace: ns,
            resourceVersion: list.metadata.resourceVersion,
            timeoutSeconds: 30,
          }),
          (e) => Effect.sync(() => seen.push(e)),
        ),
      )
      yield* Effect.sleep(300)
      yield* client.create(CoreResources.configMap, cm(ns, "w", { a: "1" }))
      yield* client.patch(CoreResources.configMap, { name: "w", namespace: ns }, { data: { a: "2" } })
      yield* client.delete(CoreResources.configMap, "w", ns)
      for (let i = 0; i < 50 && seen.filter((e) => e.type !== "BOOKMARK").length < 3; i++)
        yield* Effect.sleep(100)
      yield* Fiber.interrupt(watcher)
      expect(seen.filter((e) => e.type !== "BOOKMARK").map((e) => e.type)).toEqual([
        "ADDED",
        "MODIFIED",
        "DELETED",
      ])
    }).pipe(Effect.provide(layer())),
  )

  it.live("maps kinds to resources through discovery", () =>
    Effect.gen(function* () {
      const mapper = yield* RESTMapper
      expect(yield* mapper.resolve("v1", "ConfigMap")).toEqual({
        group: "",
        version: "v1",
        plural: "configmaps",
        kind: "ConfigMap",
        namespaced: true,
      })
      expect(yield* mapper.resolve("rbac.authorization.k8s.io/v1", "ClusterRole")).toMatchObject({
        plural: "clusterroles",
        namespaced: false,
      })
      const unknown = yield* mapper.resolve("example.com/v1", "Nope").pipe(Effect.flip)
      expect(unknown._tag).toBe("UnknownKindError")
    }).pipe(Effect.provide(layer())),
  )
})
