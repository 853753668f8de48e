/**
 * Go's number and time formatting as the stores need it for byte-identical output: `strconv.FormatFloat`
 * with `'g'`/-1 (go-yaml), encoding/json's float form, and `time.Time.MarshalText` (RFC 3339 with nanoseconds).
 *
 * @module
 */
import type { Timestamp } from "../tree.ts"

/** Shortest round-trip digits and decimal exponent: value = 0.d1d2d3… × 10^exp10 (Go's `digs.dp`). */
const shortestDigits = (f: number): { digits: string; dp: number } => {
  const e = Math.abs(f).toExponential() // "d.ddde+x", shortest round-trip digits like Go
  const [mant = "0", exp = "0"] = e.split("e")
  const digits = mant.replace(".", "")
  return { digits, dp: Number(exp) + 1 }
}

/** Go `strconv.FormatFloat(f, 'g', -1, 64)`; go-yaml then maps the non-finite values to `.inf`, `-.inf`, `.nan`. */
export const formatFloatG = (f: number): string => {
  if (Number.isNaN(f)) return "NaN"
  if (f === Number.POSITIVE_INFINITY) return "+Inf"
  if (f === Number.NEGATIVE_INFINITY) return "-Inf"
  const sign = f < 0 || Object.is(f, -0) ? "-" : ""
  if (f === 0) return `${sign}0`
  const { digits, dp } = shortestDigits(f)
  const exp = dp - 1
  // Go decides on the shortest form with precision 6: exponent form below 1e-4 and from 1e6 on.
  if (exp < -4 || exp >= 6) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits
    const ae = Math.abs(exp)
    return `${sign}${mant}e${exp < 0 ? "-" : "+"}${ae < 10 ? "0" : ""}${ae}`
  }
  if (dp <= 0) return `${sign}0.${"0".repeat(-dp)}${digits}`
  if (dp >= digits.length) return `${sign}${digits}${"0".repeat(dp - digits.length)}`
  return `${sign}${digits.slice(0, dp)}.${digits.slice(dp)}`
}

/** Go encoding/json's float form: like JS `String(n)` (exponent below 1e-6 and from 1e21 on), but `-0` stays. */
export const formatFloatJson = (f: number): string => (Object.is(f, -0) ? "-0" : String(f))

const pad = (n: number, width = 2): string => String(n).padStart(width, "0")

/** Go `time.Time.MarshalText` for an instant shown at a UTC offset (minutes east): RFC 3339, fraction trimmed. */
export const formatRfc3339Nano = (epochMs: number, nanos: number, offsetMinutes: number): string => {
  const local = new Date(epochMs + offsetMinutes * 60_000)
  const year = local.getUTCFullYear()
  let text = `${year < 0 ? "-" : ""}${pad(Math.abs(year), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}`
  if (nanos > 0) text += `.${String(nanos).padStart(9, "0").replace(/0+$/, "")}`
  if (offsetMinutes === 0) return `${text}Z`
  const a = Math.abs(offsetMinutes)
  return `${text}${offsetMinutes < 0 ? "-" : "+"}${pad(Math.floor(a / 60))}:${pad(a % 60)}`
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/

/** Parses RFC 3339 text into a tree Timestamp whose `text` is Go's canonical form; `undefined` if invalid. */
export const parseRfc3339 = (text: string): Timestamp | undefined => {
  const m = RFC3339.exec(text)
  if (m === null) return undefined
  const [, y, mo, d, h, mi, s, frac, , sign, oh, om] = m
  const offset = sign === undefined ? 0 : (sign === "-" ? -1 : 1) * (Number(oh) * 60 + Number(om))
  return makeTimestamp(Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s), frac ?? "", offset)
}

/** A Timestamp from wall-clock fields at an offset; `undefined` when a field is out of range (as Go's time.Parse). */
export const makeTimestamp = (
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  fraction: string,
  offsetMinutes: number,
): Timestamp | undefined => {
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59 || day < 1) return undefined
  const daysIn = new Date(Date.UTC(2000, month, 0)).getUTCDate()
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
  if (day > (month === 2 ? (leap ? 29 : 28) : daysIn)) return undefined
  const nanos = Number(fraction.slice(0, 9).padEnd(9, "0"))
  const wall = Date.UTC(year, month - 1, day, hour, minute, second)
  // Date.UTC maps years 0..99 to 1900..1999; set the year explicitly.
  const fixed = new Date(wall)
  fixed.setUTCFullYear(year)
  const epochMs = fixed.getTime() - offsetMinutes * 60_000
  const date = new Date(epochMs + Math.floor(nanos / 1_000_000))
  return { _tag: "Timestamp", date, text: formatRfc3339Nano(epochMs, nanos, offsetMinutes) }
}

/** The canonical Go text of a tree Timestamp (its `text` re-normalised; falls back to the Date in UTC). */
export const timestampText = (t: Timestamp): string => {
  const parsed = parseRfc3339(t.text)
  if (parsed !== undefined) return parsed.text
  const ms = t.date.getTime()
  return formatRfc3339Nano(ms - (((ms % 1000) + 1000) % 1000), (((ms % 1000) + 1000) % 1000) * 1_000_000, 0)
}

/** Go `strconv.FormatFloat(f, 'f', 1, 64)` for the few cases ValToString needs (integers and non-finite). */
const formatFixed1 = (f: number): string => {
  if (Number.isNaN(f)) return "NaN"
  if (!Number.isFinite(f)) return f > 0 ? "+Inf" : "-Inf"
  return f.toFixed(1)
}

/**
 * sops' `ValToString` for scalars written into flat formats (INI values, dotenv non-strings): floats in `%G`
 * shortest form with at least one decimal, booleans `true`/`false`, timestamps RFC 3339 without fraction.
 */
export const valToString = (v: unknown): string => {
  if (typeof v === "string") return v
  if (typeof v === "bigint" || typeof v === "boolean") return String(v)
  if (v === null || v === undefined) return "<nil>"
  if (v instanceof Uint8Array) return `[${Array.from(v).join(" ")}]`
  const t = v as { _tag?: string; value?: number }
  if (t._tag === "Float") {
    const f = t.value!
    const g = formatFloatG(f).replace("e", "E")
    return g.includes(".") || g.includes("E") ? g : formatFixed1(f)
  }
  if (t._tag === "Timestamp") return timestampText(v as Timestamp).replace(/\.\d+(?=Z|[+-]\d\d:\d\d$)/, "")
  return String(v)
}
