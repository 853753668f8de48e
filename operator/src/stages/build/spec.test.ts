import { describe, expect, it } from "@effect/vitest"
import type { KustomizationSpec } from "../../../../model/kustomization.ts"
import type { BuildSpec } from "./spec.ts"

describe("BuildSpec", () => {
  it("accepts the model's decoded Kustomization spec as is", () => {
    // A compile-time check: the controller passes `ks.spec` straight to the Builder.
    const asBuildSpec = (spec: KustomizationSpec): BuildSpec => spec
    expect(typeof asBuildSpec).toBe("function")
  })
})
