import { describe, expect, it } from "@effect/vitest"
import { StageError, toFailure } from "./controller.ts"

describe("toFailure", () => {
  it("masks what the API server quoted, whichever stage let the message through", () => {
    const f = toFailure(
      new StageError({
        reason: "ReconciliationFailed",
        message: `ConfigMap "c" is invalid: data[k]: Invalid value: "hunter22": bad`,
        terminal: true,
      }),
    )
    expect(f).toEqual({
      reason: "ReconciliationFailed",
      message: `ConfigMap "c" is invalid: data[k]: Invalid value: "***": bad`,
      terminal: true,
    })
    expect(toFailure(new Error(`spec.x: Invalid value: 42: too big`)).message).toBe(
      `spec.x: Invalid value: ***: too big`,
    )
  })
})
