import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { fromRefs, inventoryId, mergeInventories, parseEntry, staleEntries } from "./inventory.ts"

describe("inventory", () => {
  it("writes ids in Flux's format", () => {
    expect(inventoryId({ namespace: "default", name: "podinfo", group: "", kind: "Service" })).toBe(
      "default_podinfo__Service",
    )
    expect(
      inventoryId({
        namespace: "",
        name: "mycrd.example.com",
        group: "apiextensions.k8s.io",
        kind: "CustomResourceDefinition",
      }),
    ).toBe("_mycrd.example.com_apiextensions.k8s.io_CustomResourceDefinition")
    expect(
      inventoryId({
        namespace: "",
        name: "system:auth-delegator",
        group: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
      }),
    ).toBe("_system__auth-delegator_rbac.authorization.k8s.io_ClusterRole")
  })

  it("parses ids back, RBAC names included", () => {
    expect(
      parseEntry({ id: "_system__auth-delegator_rbac.authorization.k8s.io_ClusterRole", v: "v1" }),
    ).toEqual({
      namespace: "",
      name: "system:auth-delegator",
      group: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      version: "v1",
    })
    expect(parseEntry({ id: "apps_web_apps_Deployment", v: "v1" })?.name).toBe("web")
    expect(parseEntry({ id: "garbage", v: "v1" })).toBeUndefined()
  })

  it("round-trips any object reference", () => {
    const name = fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?$/)
    fc.assert(
      fc.property(
        fc.oneof(fc.constant(""), fc.stringMatching(/^[a-z]([a-z0-9-]{0,10}[a-z0-9])?$/)),
        name,
        fc.constantFrom("", "apps", "example.com", "rbac.authorization.k8s.io"),
        fc.constantFrom("ConfigMap", "Deployment", "Widget", "Role", "ClusterRoleBinding"),
        fc.boolean(),
        (namespace, n, group, kind, colon) => {
          const rbac = group === "rbac.authorization.k8s.io"
          const ref = { namespace, name: rbac && colon ? `system:${n}` : n, group, kind, version: "v1" }
          expect(parseEntry({ id: inventoryId(ref), v: "v1" })).toEqual(ref)
        },
      ),
    )
  })

  it("sorts entries and finds what left the set", () => {
    const ref = (name: string) => ({ namespace: "a", name, group: "", kind: "ConfigMap", version: "v1" })
    const previous = fromRefs([ref("c"), ref("a"), ref("b")])
    expect(previous.entries.map((e) => e.id)).toEqual(["a_a__ConfigMap", "a_b__ConfigMap", "a_c__ConfigMap"])
    const next = fromRefs([ref("a"), ref("d")])
    expect(staleEntries(previous, next).map((e) => e.id)).toEqual(["a_b__ConfigMap", "a_c__ConfigMap"])
    expect(staleEntries(undefined, next)).toEqual([])
    // Objects that could not be pruned go back into the inventory.
    expect(mergeInventories(next, [{ id: "a_b__ConfigMap", v: "v1" }]).entries.map((e) => e.id)).toEqual([
      "a_a__ConfigMap",
      "a_b__ConfigMap",
      "a_d__ConfigMap",
    ])
  })
})
