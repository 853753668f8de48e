import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import {
  formatFloatF,
  formatTimeGo,
  formatTimeSeconds,
  parseBoolGo,
  parseFloatGo,
  parseIntGo,
  parseTimestamp,
} from "./goformat.ts"

describe("Go FormatFloat(f, 'f', -1, 64)", () => {
  it("matches Go for the spec's examples", () => {
    expect(formatFloatF(1234.56789)).toBe("1234.56789")
    expect(formatFloatF(1234568000)).toBe("1234568000")
    expect(formatFloatF(1e-7)).toBe("0.0000001")
    expect(formatFloatF(1e21)).toBe("1000000000000000000000")
    expect(formatFloatF(25.4)).toBe("25.4")
    expect(formatFloatF(-0)).toBe("-0")
    expect(formatFloatF(0)).toBe("0")
    expect(formatFloatF(Number.NaN)).toBe("NaN")
    expect(formatFloatF(Number.POSITIVE_INFINITY)).toBe("+Inf")
    expect(formatFloatF(Number.NEGATIVE_INFINITY)).toBe("-Inf")
    expect(formatFloatF(-1.5e-10)).toBe("-0.00000000015")
    expect(formatFloatF(5e-324)).toBe(`0.${"0".repeat(323)}5`)
    expect(formatFloatF(1.7976931348623157e308)).toBe(`17976931348623157${"0".repeat(292)}`)
  })
  it("round-trips every finite double through Go ParseFloat", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (d) => {
        const text = formatFloatF(d)
        expect(text).not.toMatch(/e/i)
        expect(Object.is(parseFloatGo(text), d)).toBe(true)
      }),
    )
  })
})

describe("Go parsers", () => {
  it("ParseFloat accepts decimal, exponent and Inf/NaN spellings, rejects the rest", () => {
    expect(parseFloatGo("1e5")).toBe(100000)
    expect(parseFloatGo("+Inf")).toBe(Number.POSITIVE_INFINITY)
    expect(parseFloatGo("-infinity")).toBe(Number.NEGATIVE_INFINITY)
    expect(parseFloatGo("NaN")).toBeNaN()
    expect(parseFloatGo(".5")).toBe(0.5)
    expect(parseFloatGo("5.")).toBe(5)
    expect(parseFloatGo("abc")).toBeUndefined()
    expect(parseFloatGo("")).toBeUndefined()
    expect(parseFloatGo("1e400")).toBeUndefined()
  })
  it("Atoi keeps 64-bit integers exact and rejects overflow", () => {
    expect(parseIntGo("9223372036854775807")).toBe(9223372036854775807n)
    expect(parseIntGo("-9223372036854775808")).toBe(-9223372036854775808n)
    expect(parseIntGo("9223372036854775808")).toBeUndefined()
    expect(parseIntGo("+12")).toBe(12n)
    expect(parseIntGo("1.0")).toBeUndefined()
  })
  it("ParseBool", () => {
    expect(["1", "t", "T", "TRUE", "true", "True"].map(parseBoolGo)).toEqual(Array(6).fill(true))
    expect(["0", "f", "F", "FALSE", "false", "False"].map(parseBoolGo)).toEqual(Array(6).fill(false))
    expect(parseBoolGo("yes")).toBeUndefined()
  })
})

describe("time", () => {
  it("MarshalText keeps the offset and trims the fraction", () => {
    expect(formatTimeGo(parseTimestamp("2024-01-01")!)).toBe("2024-01-01T00:00:00Z")
    expect(formatTimeGo(parseTimestamp("2006-01-02T15:04:05+07:06")!)).toBe("2006-01-02T15:04:05+07:06")
    expect(formatTimeGo(parseTimestamp("2001-12-14t21:59:43.10-05:00")!)).toBe("2001-12-14T21:59:43.1-05:00")
    expect(formatTimeGo(parseTimestamp("2001-12-14 21:59:43.10")!)).toBe("2001-12-14T21:59:43.1Z")
    expect(formatTimeGo(parseTimestamp("2024-1-2T3:04:05.000000001+00:00")!)).toBe(
      "2024-01-02T03:04:05.000000001Z",
    )
  })
  it("the MAC AAD drops fractions and keeps offsets", () => {
    expect(formatTimeSeconds("2019-12-10T22:45:55Z")).toBe("2019-12-10T22:45:55Z")
    expect(formatTimeSeconds("2019-12-10T22:45:55.123+02:00")).toBe("2019-12-10T22:45:55+02:00")
    expect(formatTimeSeconds("not a time")).toBeUndefined()
  })
})
