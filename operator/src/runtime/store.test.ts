import { describe, expect, it } from "@effect/vitest"
import type { KubeObject } from "../kube/object.ts"
import { makeStore } from "./store.ts"

const ks = (name: string, source: string, rv = "1"): KubeObject => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name, namespace: "ns", resourceVersion: rv },
  spec: { sourceRef: source },
})

describe("Store", () => {
  const bySource = { source: (o: KubeObject) => [`ns/${(o.spec as { sourceRef: string }).sourceRef}`] }

  it("finds the objects that reference a source through the index, following updates and deletes", () => {
    const store = makeStore(bySource)
    store.upsert(ks("a", "repo1"))
    store.upsert(ks("b", "repo1"))
    store.upsert(ks("c", "repo2"))
    expect([...store.byIndex("source", "ns/repo1")].sort()).toEqual(["ns/a", "ns/b"])
    store.upsert(ks("b", "repo2", "2"))
    expect(store.byIndex("source", "ns/repo1")).toEqual(["ns/a"])
    expect([...store.byIndex("source", "ns/repo2")].sort()).toEqual(["ns/b", "ns/c"])
    store.remove(ks("c", "repo2"))
    expect(store.byIndex("source", "ns/repo2")).toEqual(["ns/b"])
    expect(store.get("ns/b")?.metadata.resourceVersion).toBe("2")
  })

  it("replaces everything on relist and hands back what was there", () => {
    const store = makeStore(bySource)
    store.upsert(ks("a", "repo1"))
    const previous = store.replace([ks("z", "repo9")])
    expect([...previous.keys()]).toEqual(["ns/a"])
    expect(store.list().map((o) => o.metadata.name)).toEqual(["z"])
    expect(store.byIndex("source", "ns/repo1")).toEqual([])
  })
})
