import { describe, expect, it } from "@effect/vitest"
import { transformKustomization } from "./spec-transforms.ts"

describe("transformKustomization", () => {
  it("sets namespace/prefix/suffix, appends patches and components, merges images by name", () => {
    const out = transformKustomization(
      {
        resources: ["a.yaml"],
        patches: [{ path: "p.yaml" }],
        images: [
          { name: "nginx", newTag: "1.0" },
          { name: "redis", newTag: "7" },
        ],
        components: ["../c1"],
      },
      {
        targetNamespace: "prod",
        namePrefix: "p-",
        nameSuffix: "-s",
        patches: [{ patch: "- op: remove\n  path: /x\n", target: { kind: "Deployment" } }],
        images: [
          { name: "nginx", newName: "mirror/nginx" },
          { name: "busybox", digest: "sha256:abc" },
        ],
      },
      ["../c2"],
    )
    expect(out).toEqual({
      resources: ["a.yaml"],
      namespace: "prod",
      namePrefix: "p-",
      nameSuffix: "-s",
      patches: [{ path: "p.yaml" }, { patch: "- op: remove\n  path: /x\n", target: { kind: "Deployment" } }],
      images: [
        { name: "nginx", newTag: "1.0", newName: "mirror/nginx" },
        { name: "redis", newTag: "7" },
        { name: "busybox", digest: "sha256:abc" },
      ],
      components: ["../c1", "../c2"],
    })
  })

  it("leaves the kustomization alone when the spec sets nothing", () => {
    const k = { resources: ["a.yaml"], namespace: "keep" }
    expect(transformKustomization(k, {}, [])).toEqual(k)
  })
})
