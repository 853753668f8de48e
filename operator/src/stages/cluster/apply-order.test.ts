import { describe, expect, it } from "@effect/vitest"
import { type KubeObject, refOf } from "../../kube/object.ts"
import { planStages, stageOf } from "./apply-order.ts"

const obj = (apiVersion: string, kind: string, name: string, namespace?: string): KubeObject => ({
  apiVersion,
  kind,
  metadata: { name, ...(namespace ? { namespace } : {}) },
})

describe("apply order", () => {
  it("puts CRDs, Namespaces and ClusterRoles first, then *Class kinds, then the rest", () => {
    expect(stageOf({ group: "apiextensions.k8s.io", kind: "CustomResourceDefinition" })).toBe("definitions")
    expect(stageOf({ group: "", kind: "Namespace" })).toBe("definitions")
    expect(stageOf({ group: "rbac.authorization.k8s.io", kind: "ClusterRole" })).toBe("definitions")
    expect(stageOf({ group: "storage.k8s.io", kind: "StorageClass" })).toBe("classes")
    expect(stageOf({ group: "gateway.networking.k8s.io", kind: "GatewayClass" })).toBe("classes")
    expect(stageOf({ group: "apps", kind: "Deployment" })).toBe("rest")
  })

  it("orders each stage by kind, namespace and name whatever the input order", () => {
    const set = [
      obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "hook"),
      obj("apps/v1", "Deployment", "web", "b"),
      obj("example.com/v1", "Widget", "w", "a"),
      obj("v1", "ConfigMap", "z", "a"),
      obj("v1", "Secret", "s", "a"),
      obj("apps/v1", "Deployment", "web", "a"),
      obj("v1", "Namespace", "a"),
      obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com"),
      obj("storage.k8s.io/v1", "StorageClass", "fast"),
      obj("v1", "ServiceAccount", "sa", "a"),
    ]
    const names = (xs: ReadonlyArray<KubeObject>) =>
      planStages(xs, refOf).map((s) => [
        s.stage,
        s.items.map((o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`),
      ])
    const expected = [
      ["definitions", ["CustomResourceDefinition//widgets.example.com", "Namespace//a"]],
      ["classes", ["StorageClass//fast"]],
      [
        "rest",
        [
          "ServiceAccount/a/sa",
          "ConfigMap/a/z",
          "Secret/a/s",
          "Deployment/a/web",
          "Deployment/b/web",
          "Widget/a/w",
          "ValidatingWebhookConfiguration//hook",
        ],
      ],
    ]
    expect(names(set)).toEqual(expected)
    expect(names([...set].reverse())).toEqual(expected)
  })
})
