import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { inventoryEntry, objectId, parseObjectId } from "./inventory.ts"

describe("inventory ids", () => {
  it("uses Flux's <namespace>_<name>_<group>_<kind> format", () => {
    expect(
      inventoryEntry({ apiVersion: "v1", kind: "Service", name: "podinfo", namespace: "default" }),
    ).toEqual({
      id: "default_podinfo__Service",
      v: "v1",
    })
    expect(
      inventoryEntry({
        apiVersion: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        name: "mycrd.example.com",
      }),
    ).toEqual({ id: "_mycrd.example.com_apiextensions.k8s.io_CustomResourceDefinition", v: "v1" })
    expect(
      inventoryEntry({ apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "apps" }).id,
    ).toBe("apps_web_apps_Deployment")
  })

  it("writes ':' in RBAC names as '__' and reads it back", () => {
    const key = {
      namespace: "",
      name: "system:controller:foo",
      group: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
    }
    const id = objectId(key)
    expect(id).toBe("_system__controller__foo_rbac.authorization.k8s.io_ClusterRole")
    expect(parseObjectId(id)).toEqual(key)
  })

  it("keeps ':' in names of other kinds", () => {
    expect(objectId({ namespace: "ns", name: "a:b", group: "", kind: "ConfigMap" })).toBe("ns_a:b__ConfigMap")
  })

  it("rejects malformed ids", () => {
    for (const bad of ["", "nounderscore", "a_b", "ns__Kind", "ns_name_group_"]) {
      expect(parseObjectId(bad), bad).toBeUndefined()
    }
  })

  it("round-trips any Kubernetes object key", () => {
    const dns = fc.stringMatching(/^[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?$/)
    const group = fc.oneof(fc.constant(""), dns, fc.constant("rbac.authorization.k8s.io"))
    const kind = fc.oneof(
      fc.stringMatching(/^[A-Z][A-Za-z0-9]{0,15}$/),
      fc.constantFrom("Role", "ClusterRole"),
    )
    const rbacName = fc.stringMatching(/^[a-z0-9]([-a-z0-9.:]{0,20}[a-z0-9])?$/)
    fc.assert(
      fc.property(fc.oneof(fc.constant(""), dns), rbacName, group, kind, (namespace, rawName, g, k) => {
        const rbac = g === "rbac.authorization.k8s.io" && ["Role", "ClusterRole"].includes(k)
        const name = rbac ? rawName : rawName.replaceAll(":", "-")
        const key = { namespace, name, group: g, kind: k }
        expect(parseObjectId(objectId(key))).toEqual(key)
      }),
    )
  })
})
