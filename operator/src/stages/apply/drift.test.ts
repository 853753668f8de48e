import { describe, expect, it } from "@effect/vitest"
import type { KubeObject } from "../../kube/object.ts"
import { driftedPaths, hasDrifted } from "./drift.ts"

const live: KubeObject = {
  apiVersion: "v1",
  kind: "Secret",
  metadata: {
    name: "s",
    namespace: "a",
    resourceVersion: "10",
    uid: "u",
    generation: 1,
    managedFields: [{ manager: "kustomize-controller", operation: "Apply" }],
    labels: { app: "x" },
  },
  data: { password: "c2VjcmV0" },
}

describe("drift", () => {
  it("ignores server bookkeeping and key order", () => {
    const dry: KubeObject = {
      kind: "Secret",
      apiVersion: "v1",
      data: { password: "c2VjcmV0" },
      metadata: { labels: { app: "x" }, name: "s", namespace: "a", resourceVersion: "11", managedFields: [] },
      status: { anything: true },
    }
    expect(hasDrifted(live, dry)).toBe(false)
  })

  it("sees changed data, labels and annotations, naming paths but never values", () => {
    const dry: KubeObject = {
      ...live,
      data: { password: "bmV3LXNlY3JldA==" },
      metadata: { ...live.metadata, annotations: { a: "b" } },
    }
    expect(hasDrifted(live, dry)).toBe(true)
    const paths = driftedPaths(live, dry)
    expect(paths).toEqual([".data.password", ".metadata.annotations.a"])
    expect(paths.join()).not.toContain("c2VjcmV0")
  })
})
