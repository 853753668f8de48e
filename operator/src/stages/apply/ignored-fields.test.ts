import { describe, expect, it } from "@effect/vitest"
import type { KubeObject, ManagedFieldsEntry } from "../../kube/object.ts"
import { hasDrifted } from "./drift.ts"
import { resolveIgnored } from "./ignored-fields.ts"
import { type JsonPointer, parsePointer } from "./json-pointer.ts"
import { applySignature } from "./signature.ts"

const p = (text: string): JsonPointer => {
  const r = parsePointer(text)
  if (!r.ok) throw new Error(r.reason)
  return r.pointer
}

const me = "kustomize-controller"

const entry = (manager: string, operation: "Apply" | "Update", fieldsV1: unknown, subresource?: string) =>
  ({
    manager,
    operation,
    apiVersion: "apps/v1",
    fieldsType: "FieldsV1",
    fieldsV1,
    ...(subresource ? { subresource } : {}),
  }) as ManagedFieldsEntry

const container = { name: "app", image: "app:1", resources: { limits: { cpu: "1" } } }
const ownAll = {
  "f:metadata": { "f:annotations": { "f:note": {} } },
  "f:spec": {
    "f:replicas": {},
    "f:template": {
      "f:spec": {
        "f:containers": { 'k:{"name":"app"}': { ".": {}, "f:image": {}, "f:name": {}, "f:resources": {} } },
      },
    },
  },
}

const deployment = (
  replicas: number,
  managedFields: ReadonlyArray<ManagedFieldsEntry>,
  extra: { image?: string; cpu?: string; note?: string } = {},
): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: {
    name: "web",
    namespace: "apps",
    uid: "u-1",
    annotations: { note: extra.note ?? "git" },
    managedFields,
  },
  spec: {
    replicas,
    template: {
      spec: {
        containers: [
          {
            ...container,
            image: extra.image ?? container.image,
            resources: { limits: { cpu: extra.cpu ?? "1" } },
          },
        ],
      },
    },
  },
})

describe("drift with ignored fields", () => {
  it("a difference only in an ignored field is no drift; elsewhere it still is", () => {
    const live = deployment(5, [])
    const dry = deployment(2, [])
    expect(hasDrifted(live, dry)).toBe(true)
    expect(hasDrifted(live, dry, [p("/spec/replicas")])).toBe(false)
    expect(hasDrifted(live, deployment(2, [], { image: "app:2" }), [p("/spec/replicas")])).toBe(true)
    expect(
      hasDrifted(live, deployment(5, [], { cpu: "2" }), [p("/spec/template/spec/containers/0/resources")]),
    ).toBe(false)
  })
})

describe("what is applied for ignored fields", () => {
  const desired = deployment(2, [], { image: "app:2" })
  const dry = deployment(2, [], { image: "app:2" })

  it("strips a field another Apply manager owns", () => {
    const live = deployment(7, [
      entry(me, "Apply", ownAll),
      entry("hpa", "Apply", { "f:spec": { "f:replicas": {} } }),
    ])
    const r = resolveIgnored(desired, live, dry, [p("/spec/replicas")], { fieldManager: me, takeover: false })
    expect(r.ok && (r.payload.spec as { replicas?: number }).replicas).toBeUndefined()
    expect(r.ok && r.payload.spec).toHaveProperty("template")
  })

  it("adopts the live value when we are the only Apply owner (Update writers and the scale subresource do not count)", () => {
    const live = deployment(
      7,
      [
        entry(me, "Apply", ownAll),
        entry("kube-controller-manager", "Update", { "f:spec": { "f:replicas": {} } }, "scale"),
        entry("webhook", "Update", { "f:metadata": { "f:annotations": { "f:note": {} } } }),
      ],
      { note: "webhook" },
    )
    const r = resolveIgnored(desired, live, dry, [p("/spec/replicas"), p("/metadata/annotations/note")], {
      fieldManager: me,
      takeover: false,
    })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.payload.spec).toMatchObject({ replicas: 7 })
    expect(r.payload.metadata.annotations).toEqual({ note: "webhook" })
    // What is not ignored is applied as declared.
    expect(JSON.stringify(r.payload.spec)).toContain("app:2")
  })

  it("resolves list elements through their merge keys, and leaves unchanged ignored fields alone", () => {
    const vpa = entry("vpa", "Apply", {
      "f:spec": {
        "f:template": { "f:spec": { "f:containers": { 'k:{"name":"app"}': { "f:resources": {} } } } },
      },
    })
    const live = deployment(2, [entry(me, "Apply", ownAll), vpa], { cpu: "3" })
    const r = resolveIgnored(
      desired,
      live,
      dry,
      [p("/spec/template/spec/containers/0/resources"), p("/spec/replicas")],
      {
        fieldManager: me,
        takeover: false,
      },
    )
    expect(r.ok).toBe(true)
    if (!r.ok) return
    const [c] = (r.payload.spec as { template: { spec: { containers: Array<Record<string, unknown>> } } })
      .template.spec.containers
    expect(c).toEqual({ name: "app", image: "app:2" })
    expect(r.payload.spec).toMatchObject({ replicas: 2 })
  })

  it("treats kubectl's server-side apply as ours when the takeover hands its fields to us (adopt, not strip)", () => {
    const live = deployment(9, [
      entry(me, "Apply", ownAll),
      entry("kubectl", "Apply", { "f:spec": { "f:replicas": {} } }),
    ])
    const taken = resolveIgnored(desired, live, dry, [p("/spec/replicas")], {
      fieldManager: me,
      takeover: true,
    })
    expect(taken.ok && taken.payload.spec).toMatchObject({ replicas: 9 })
    const kept = resolveIgnored(desired, live, dry, [p("/spec/replicas")], {
      fieldManager: me,
      takeover: false,
    })
    expect(kept.ok && (kept.payload.spec as { replicas?: number }).replicas).toBeUndefined()
  })

  it("a field absent in the cluster stays absent", () => {
    const live = {
      ...deployment(2, [entry(me, "Apply", ownAll)]),
      metadata: { name: "web", namespace: "apps" },
    }
    const r = resolveIgnored(desired, live, dry, [p("/metadata/annotations/note")], {
      fieldManager: me,
      takeover: false,
    })
    expect(r.ok && r.payload.metadata.annotations).toEqual({})
  })
})

describe("the applied signature leaves ignored fields out", () => {
  const mine = (fields: unknown) => deployment(2, [entry(me, "Apply", fields)])
  const withoutReplicas = {
    ...ownAll,
    "f:spec": { "f:template": ownAll["f:spec"]["f:template"] },
  }
  it("losing an ignored field to another writer keeps the signature; losing any other field changes it", () => {
    const ignored = [p("/spec/replicas")]
    const before = applySignature(mine(ownAll), me, ignored)
    expect(applySignature(mine(withoutReplicas), me, ignored)).toBe(before)
    expect(applySignature(mine(withoutReplicas), me)).not.toBe(applySignature(mine(ownAll), me))
    const withoutImage = structuredClone(ownAll) as typeof ownAll
    delete (
      withoutImage["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}'] as Record<
        string,
        unknown
      >
    )["f:image"]
    expect(applySignature(mine(withoutImage), me, ignored)).not.toBe(before)
  })
  it("resolves list elements, and an ignored annotation", () => {
    const ignored = [p("/spec/template/spec/containers/0/resources"), p("/metadata/annotations/note")]
    const lost = structuredClone(ownAll) as Record<string, unknown> & typeof ownAll
    delete (
      lost["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}'] as Record<string, unknown>
    )["f:resources"]
    delete (lost as Record<string, unknown>)["f:metadata"]
    expect(applySignature(mine(lost), me, ignored)).toBe(applySignature(mine(ownAll), me, ignored))
  })
})
