import { describe, expect, it } from "@effect/vitest"
import { maskServerValues } from "./server-values.ts"

describe("maskServerValues", () => {
  it("masks a quoted string value and keeps the path, the type and the detail", () => {
    expect(
      maskServerValues(
        `ConfigMap "c" is invalid: data[bad key]: Invalid value: "a \\"quoted\\" hunter22": a valid config key must consist of alphanumeric characters`,
      ),
    ).toBe(
      `ConfigMap "c" is invalid: data[bad key]: Invalid value: "***": a valid config key must consist of alphanumeric characters`,
    )
  })

  it("masks numbers, bools, JSON and %#v values, each up to its detail or the next error of a list", () => {
    const msg =
      `Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, ` +
      `spec.selector: Invalid value: {"matchLabels":{"app":"web, or: not"}}: field is immutable, ` +
      `spec.clusterIPs: Invalid value: []string{"10.0.0.7"}: may not change once set, ` +
      `spec.paused: Invalid value: true, spec.template: Invalid value: core.PodTemplateSpec{Spec:core.PodSpec{Env:"x: y"}}: field is immutable, ` +
      `spec.strategy.type: Unsupported value: "Sometimes": supported values: "Recreate", "RollingUpdate", ` +
      `spec.x: Required value, spec.items: Too many: 5: must have at most 3 items]`
    expect(maskServerValues(msg)).toBe(
      `Deployment.apps "web" is invalid: [spec.replicas: Invalid value: ***: must be greater than or equal to 0, ` +
        `spec.selector: Invalid value: ***: field is immutable, ` +
        `spec.clusterIPs: Invalid value: ***: may not change once set, ` +
        `spec.paused: Invalid value: ***, spec.template: Invalid value: ***: field is immutable, ` +
        `spec.strategy.type: Unsupported value: "***": supported values: "Recreate", "RollingUpdate", ` +
        `spec.x: Required value, spec.items: Too many: 5: must have at most 3 items]`,
    )
  })

  it("masks Duplicate value and Not found, leaves an empty string, and a value at the end of the text", () => {
    expect(maskServerValues(`a: Duplicate value: "x1", b: Not found: "y2", c: Invalid value: ""`)).toBe(
      `a: Duplicate value: "***", b: Not found: "***", c: Invalid value: ""`,
    )
    expect(maskServerValues(`spec.a: Invalid value: "unterminated`)).toBe(`spec.a: Invalid value: "***"`)
  })

  it("masks the value structured-merge-diff prints for a mistyped field", () => {
    expect(
      maskServerValues(
        `.spec.template.spec.containers[name="app"].env[name="PORT"].value: expected string, got &value.valueUnstructured{Value:8443}`,
      ),
    ).toBe(`.spec.template.spec.containers[name="app"].env[name="PORT"].value: expected string, got ***`)
    expect(
      maskServerValues(
        `.spec.paused: expected boolean, got &{yes-please}, .spec.replicas: expected numeric (int or float), got string`,
      ),
    ).toBe(
      `.spec.paused: expected boolean, got ***, .spec.replicas: expected numeric (int or float), got string`,
    )
  })

  it("leaves messages without field values alone", () => {
    const msg = `ConfigMap "c" is invalid: data: Forbidden: field is immutable when \`immutable\` is set`
    expect(maskServerValues(msg)).toBe(msg)
  })
})
