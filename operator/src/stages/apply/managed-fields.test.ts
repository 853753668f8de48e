import { describe, expect, it } from "@effect/vitest"
import type { KubeObject } from "../../kube/object.ts"
import { takeOverPatch } from "./managed-fields.ts"

const live = (
  managedFields: KubeObject["metadata"]["managedFields"],
  annotations?: Record<string, string>,
): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: {
    name: "c",
    namespace: "a",
    resourceVersion: "7",
    managedFields,
    ...(annotations ? { annotations } : {}),
  },
})

describe("managed fields takeover", () => {
  it("is not needed when only the applier and controllers own fields", () => {
    expect(
      takeOverPatch(
        live([
          { manager: "kustomize-controller", operation: "Apply", fieldsV1: { "f:data": {} } },
          { manager: "kube-controller-manager", operation: "Update", fieldsV1: { "f:status": {} } },
        ]),
      ),
    ).toBeUndefined()
  })

  it("hands kubectl's fields to the applier's Apply entry and drops last-applied-configuration", () => {
    const patch = takeOverPatch(
      live(
        [
          {
            manager: "kustomize-controller",
            operation: "Apply",
            apiVersion: "v1",
            fieldsV1: { "f:data": { "f:a": {} } },
          },
          {
            manager: "kubectl-edit",
            operation: "Update",
            apiVersion: "v1",
            fieldsV1: { "f:data": { "f:b": {} } },
          },
          { manager: "other", operation: "Update", fieldsV1: { "f:data": { "f:c": {} } } },
        ],
        { "kubectl.kubernetes.io/last-applied-configuration": "{}" },
      ),
    )
    expect(patch?.[0]).toEqual({ op: "test", path: "/metadata/resourceVersion", value: "7" })
    const entries = patch?.[1]?.value as ReadonlyArray<Record<string, unknown>>
    expect(entries.map((e) => e.manager)).toEqual(["kustomize-controller", "other"])
    expect(entries[0]?.fieldsV1).toEqual({ "f:data": { "f:a": {}, "f:b": {} } })
    expect(patch?.[2]).toEqual({
      op: "remove",
      path: "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
    })
  })
})
