/**
 * Go's textual forms of scalars, as sops writes and parses them inside `ENC[…]` values and hashes them for the
 * MAC (`strconv.FormatFloat(f,'f',-1,64)`, `Atoi`, `ParseFloat`, `ParseBool`, `time.MarshalText`).
 *
 * @module
 */
import type { Timestamp } from "./tree.ts"

/** Go `FormatFloat(f, 'f', -1, 64)`: shortest round-trip digits, never exponent notation. */
export const formatFloatF = (f: number): string => {
  if (Number.isNaN(f)) return "NaN"
  if (f === Number.POSITIVE_INFINITY) return "+Inf"
  if (f === Number.NEGATIVE_INFINITY) return "-Inf"
  if (f === 0) return Object.is(f, -0) ? "-0" : "0"
  const [mantissa, expText] = Math.abs(f).toExponential().split("e") as [string, string]
  const digits = mantissa.replace(".", "")
  const exp = Number(expText)
  const sign = f < 0 ? "-" : ""
  // digits d1 d2 … dn represent d1.d2…dn × 10^exp
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`
  if (digits.length <= exp + 1) return sign + digits + "0".repeat(exp + 1 - digits.length)
  return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`
}

const decimalFloat =
  /^[+-]?(?:[0-9]+(?:_[0-9]+)*\.?(?:[0-9]+(?:_[0-9]+)*)?|\.[0-9]+(?:_[0-9]+)*)(?:[eE][+-]?[0-9]+)?$/

/** Go `ParseFloat(s, 64)` for decimal text and the Inf/NaN spellings; `undefined` when Go would fail. */
export const parseFloatGo = (s: string): number | undefined => {
  const lower = s.toLowerCase()
  const unsigned = lower.replace(/^[+-]/, "")
  if (unsigned === "inf" || unsigned === "infinity")
    return lower.startsWith("-") ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY
  if (lower === "nan") return Number.NaN
  if (!decimalFloat.test(s) || s.includes("_")) return undefined
  const n = Number(s)
  if (!Number.isFinite(n)) return undefined // Go reports ErrRange
  return n
}

const int64Min = -(2n ** 63n)
const int64Max = 2n ** 63n - 1n

/** Go `strconv.Atoi` on a 64-bit platform: optional sign, decimal digits, int64 range. */
export const parseIntGo = (s: string): bigint | undefined => {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined
  const n = BigInt(s)
  return n < int64Min || n > int64Max ? undefined : n
}

/** Go `strconv.ParseBool`. */
export const parseBoolGo = (s: string): boolean | undefined => {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false
  return undefined
}

const pad = (n: number | string, w: number) => String(n).padStart(w, "0")

const timeText =
  /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt ](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,9}))?(?:\s*([Zz]|[+-]\d{1,2}:\d{2}))?)?$/

interface TimeFields {
  readonly y: number
  readonly mo: number
  readonly d: number
  readonly h: number
  readonly mi: number
  readonly s: number
  /** nanoseconds */
  readonly ns: number
  /** offset east of UTC in minutes */
  readonly offset: number
}

const fields = (text: string): TimeFields | undefined => {
  const m = timeText.exec(text.trim())
  if (m === null) return undefined
  const [, y, mo, d, h, mi, s, frac, zone] = m
  let offset = 0
  if (zone !== undefined && zone !== "Z" && zone !== "z") {
    const [hh, mm] = zone.slice(1).split(":").map(Number) as [number, number]
    offset = (zone.startsWith("-") ? -1 : 1) * (hh * 60 + mm)
  }
  return {
    y: Number(y),
    mo: Number(mo),
    d: Number(d),
    h: Number(h ?? 0),
    mi: Number(mi ?? 0),
    s: Number(s ?? 0),
    ns: frac === undefined ? 0 : Number(frac.padEnd(9, "0")),
    offset,
  }
}

const zoneText = (offset: number) => {
  if (offset === 0) return "Z"
  const a = Math.abs(offset)
  return `${offset < 0 ? "-" : "+"}${pad(Math.floor(a / 60), 2)}:${pad(a % 60, 2)}`
}

const fieldsToDate = (f: TimeFields): Date =>
  new Date(Date.UTC(f.y, f.mo - 1, f.d, f.h, f.mi, f.s, Math.floor(f.ns / 1e6)) - f.offset * 60_000)

/** Parses a timestamp (RFC 3339, or the go-yaml date forms); `undefined` when it is not one. */
export const parseTimestamp = (text: string): Timestamp | undefined => {
  const f = fields(text)
  if (f === undefined) return undefined
  const date = fieldsToDate(f)
  if (Number.isNaN(date.getTime())) return undefined
  return { _tag: "Timestamp", date, text }
}

/** Go `time.MarshalText` (RFC 3339 with nanoseconds, trailing zeros trimmed), in the timestamp's own offset. */
export const formatTimeGo = (t: Timestamp): string => {
  const f = fields(t.text)
  if (f === undefined) return t.date.toISOString().replace(/\.000Z$/, "Z")
  // normalise through Date so out-of-range fields roll over as Go's time.Date would
  const local = new Date(Date.UTC(f.y, f.mo - 1, f.d, f.h, f.mi, f.s))
  const frac = f.ns === 0 ? "" : `.${pad(f.ns, 9).replace(/0+$/, "")}`
  return (
    `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1, 2)}-${pad(local.getUTCDate(), 2)}` +
    `T${pad(local.getUTCHours(), 2)}:${pad(local.getUTCMinutes(), 2)}:${pad(local.getUTCSeconds(), 2)}` +
    frac +
    zoneText(f.offset)
  )
}

/** RFC 3339 at second precision (Go layout `2006-01-02T15:04:05Z07:00`), the MAC's additional data. */
export const formatTimeSeconds = (text: string): string | undefined => {
  const f = fields(text)
  if (f === undefined) return undefined
  const local = new Date(Date.UTC(f.y, f.mo - 1, f.d, f.h, f.mi, f.s))
  return (
    `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1, 2)}-${pad(local.getUTCDate(), 2)}` +
    `T${pad(local.getUTCHours(), 2)}:${pad(local.getUTCMinutes(), 2)}:${pad(local.getUTCSeconds(), 2)}` +
    zoneText(f.offset)
  )
}

/** The current UTC time as sops writes `lastmodified`/`created_at`: `YYYY-MM-DDTHH:MM:SSZ`. */
export const nowSeconds = (now: Date = new Date()): string => now.toISOString().replace(/\.\d{3}Z$/, "Z")
