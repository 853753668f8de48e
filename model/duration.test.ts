import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { durationPattern, formatDuration, parseDuration } from "./duration.ts"

describe("duration", () => {
  it("parses the durations Flux users write", () => {
    expect(parseDuration("1m")).toBe(60_000)
    expect(parseDuration("10m0s")).toBe(600_000)
    expect(parseDuration("1h30m")).toBe(5_400_000)
    expect(parseDuration("500ms")).toBe(500)
    expect(parseDuration("1.5s")).toBe(1_500)
    expect(parseDuration("2h45m30.5s")).toBe(9_930_500)
  })

  it("rejects what the CRD pattern rejects", () => {
    for (const bad of ["", "10", "1d", "m", "1 m", "-1s", "1m-", "1M"]) {
      expect(durationPattern.test(bad), bad).toBe(false)
      expect(parseDuration(bad), bad).toBeUndefined()
    }
  })

  it("formats like Go's time.Duration", () => {
    expect(formatDuration(0)).toBe("0s")
    expect(formatDuration(500)).toBe("500ms")
    expect(formatDuration(60_000)).toBe("1m0s")
    expect(formatDuration(600_000)).toBe("10m0s")
    expect(formatDuration(5_400_000)).toBe("1h30m0s")
    expect(formatDuration(2_500)).toBe("2.5s")
  })

  it("formatDuration output parses back to the same milliseconds", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 400 * 3_600_000 }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms)
      }),
    )
  })
})
