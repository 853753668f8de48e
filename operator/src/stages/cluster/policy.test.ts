import { describe, expect, it } from "@effect/vitest"
import type { KubeObject } from "../../kube/object.ts"
import { isOwnedBy, withOwnerLabels } from "./owner.ts"
import { forceEnabled, pruneDisabled, reconcileDisabled, ssaPolicy } from "./policy.ts"

const withMeta = (annotations: Record<string, string>, labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "c", namespace: "a", annotations, labels },
})

describe("per-object policies", () => {
  it("reads ssa, reconcile, force and prune from annotations or labels, case-insensitively", () => {
    expect(ssaPolicy(withMeta({}))).toBe("Override")
    expect(ssaPolicy(withMeta({ "kustomize.toolkit.fluxcd.io/ssa": "merge" }))).toBe("Merge")
    expect(ssaPolicy(withMeta({}, { "kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent" }))).toBe(
      "IfNotPresent",
    )
    expect(ssaPolicy(withMeta({ "kustomize.toolkit.fluxcd.io/ssa": "IGNORE" }))).toBe("Ignore")
    expect(reconcileDisabled(withMeta({ "kustomize.toolkit.fluxcd.io/reconcile": "Disabled" }))).toBe(true)
    expect(reconcileDisabled(undefined)).toBe(false)
    expect(forceEnabled(withMeta({}, { "kustomize.toolkit.fluxcd.io/force": "enabled" }))).toBe(true)
    expect(pruneDisabled(withMeta({ "kustomize.toolkit.fluxcd.io/prune": "disabled" }))).toBe(true)
    expect(pruneDisabled(withMeta({ "kustomize.toolkit.fluxcd.io/ssa": "Ignore" }))).toBe(true)
    expect(pruneDisabled(withMeta({}))).toBe(false)
  })

  it("labels objects with their owner and recognizes them only with both labels", () => {
    const owner = { name: "apps", namespace: "flux-system" }
    const labelled = withOwnerLabels(
      withMeta({}, { "kustomize.toolkit.fluxcd.io/name": "other", keep: "me" }),
      owner,
    )
    expect(labelled.metadata.labels).toEqual({
      keep: "me",
      "kustomize.toolkit.fluxcd.io/name": "apps",
      "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
    })
    expect(isOwnedBy(labelled, owner)).toBe(true)
    expect(isOwnedBy(withMeta({}, { "kustomize.toolkit.fluxcd.io/name": "apps" }), owner)).toBe(false)
    expect(isOwnedBy(labelled, { name: "apps", namespace: "other" })).toBe(false)
  })
})
