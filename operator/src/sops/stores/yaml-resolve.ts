/**
 * go-yaml v3's resolution of a scalar into a typed value, as sops decodes YAML (spec §2.3): a fixed table
 * (`true`/`false`/`null`/`~`/`.inf`/`.nan` spellings), then timestamps, Go base-0 integers (int64 as bigint),
 * YAML-style floats; everything else is a string. `yes`/`no`/`on`/`off` stay strings, and so does `<<`
 * (go.yaml.in/yaml/v3 v3.0.4, the version sops 3.13 builds with, never resolves it to a merge key).
 *
 * @module
 */
import { float, type Scalar } from "../tree.ts"
import { makeTimestamp } from "./gofmt.ts"

const TABLE: ReadonlyMap<string, Scalar> = new Map<string, Scalar>([
  ["", null],
  ["~", null],
  ["null", null],
  ["Null", null],
  ["NULL", null],
  ["true", true],
  ["True", true],
  ["TRUE", true],
  ["false", false],
  ["False", false],
  ["FALSE", false],
  [".nan", float(Number.NaN)],
  [".NaN", float(Number.NaN)],
  [".NAN", float(Number.NaN)],
  [".inf", float(Number.POSITIVE_INFINITY)],
  [".Inf", float(Number.POSITIVE_INFINITY)],
  [".INF", float(Number.POSITIVE_INFINITY)],
  ["+.inf", float(Number.POSITIVE_INFINITY)],
  ["+.Inf", float(Number.POSITIVE_INFINITY)],
  ["+.INF", float(Number.POSITIVE_INFINITY)],
  ["-.inf", float(Number.NEGATIVE_INFINITY)],
  ["-.Inf", float(Number.NEGATIVE_INFINITY)],
  ["-.INF", float(Number.NEGATIVE_INFINITY)],
])

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
const UINT64_MAX = 2n ** 64n - 1n

/** What a plain scalar resolves to; `uint64` marks integers sops cannot walk (> 2^63-1). */
export type Resolved =
  | { readonly tag: "str"; readonly value: string }
  | { readonly tag: "null" | "bool" | "int" | "float" | "timestamp"; readonly value: Scalar }
  | { readonly tag: "uint64"; readonly value: bigint }

/** Digits after the radix prefix and the leading zeros (64 is more than any uint64 needs in any base). */
const significantDigits = (body: string): number => {
  let i = /^0[xXbBoO]/.test(body) ? 2 : 0
  while (i < body.length && body[i] === "0") i++
  return body.length - i
}

/** Go `strconv.ParseInt(s, 0, 64)` / `ParseUint` combined: the integer, or undefined when not a Go int literal. */
export const parseGoInt = (s: string): bigint | undefined => {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)$/.exec(s)
  if (m === null) return undefined
  const [, sign, body = ""] = m
  // Converting a decimal string to a bigint costs more than linear time (a megabyte of digits: a quarter of
  // a second). No literal with more significant digits than uint64 has can fit anything sops reads; callers
  // only compare the result with the int64/uint64 bounds, so such a literal is answered with 2^64.
  if (significantDigits(body) > 64) return sign === "-" ? -(UINT64_MAX + 1n) : UINT64_MAX + 1n
  let n: bigint
  if (/^0[oO]/.test(body)) n = BigInt(`0o${body.slice(2)}`)
  else if (/^0[0-7]+$/.test(body)) n = BigInt(`0o${body.slice(1)}`)
  else n = BigInt(body)
  return sign === "-" ? -n : n
}

const YAML_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/

const TIMESTAMP =
  /^(\d{4})-(\d{1,2})-(\d{1,2})(?:(?:([Tt])|( ))(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))?)?$/

/** go-yaml's timestamp formats: `Y-M-DTh:m:s[.f](Z|±hh:mm)`, `Y-M-D h:m:s[.f]` (UTC), `Y-M-D`. */
export const parseYamlTimestamp = (s: string): Scalar | undefined => {
  const m = TIMESTAMP.exec(s)
  if (m === null) return undefined
  const [, y, mo, d, t, sp, h, mi, sec, frac, z, sign, oh, om] = m
  if (h === undefined) return makeTimestamp(Number(y), Number(mo), Number(d), 0, 0, 0, "", 0)
  const zoned = z !== undefined || sign !== undefined
  if (t !== undefined && !zoned) return undefined // the T form needs a zone
  if (sp !== undefined && zoned) return undefined // the space form has none
  const offset = sign === undefined ? 0 : (sign === "-" ? -1 : 1) * (Number(oh) * 60 + Number(om))
  if (sign !== undefined && (Number(oh) > 23 || Number(om) > 59)) return undefined
  return makeTimestamp(
    Number(y),
    Number(mo),
    Number(d),
    Number(h),
    Number(mi),
    Number(sec),
    frac ?? "",
    offset,
  )
}

/** Resolves an untagged plain scalar (or one tagged `!!timestamp` when `allowTimestamp`). */
export const resolvePlain = (s: string, allowTimestamp = true): Resolved => {
  const t = TABLE.get(s)
  if (t !== undefined) {
    return { tag: t === null ? "null" : typeof t === "boolean" ? "bool" : "float", value: t } as Resolved
  }
  const c = s[0]
  if (c === ".") {
    if (/^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(s)) {
      const f = Number(s)
      if (Number.isFinite(f)) return { tag: "float", value: float(f) }
    }
    return { tag: "str", value: s }
  }
  if (c === undefined || !(c === "+" || c === "-" || (c >= "0" && c <= "9"))) return { tag: "str", value: s }
  if (allowTimestamp) {
    const ts = parseYamlTimestamp(s)
    if (ts !== undefined) return { tag: "timestamp", value: ts }
  }
  const plain = s.replaceAll("_", "")
  const n = parseGoInt(plain)
  if (n !== undefined) {
    if (n >= INT64_MIN && n <= INT64_MAX) return { tag: "int", value: n }
    if (n > 0n && n <= UINT64_MAX && !/^[+-]/.test(plain)) return { tag: "uint64", value: n }
  }
  if (YAML_FLOAT.test(plain)) {
    const f = Number(plain)
    if (Number.isFinite(f)) return { tag: "float", value: float(f) }
  }
  return { tag: "str", value: s }
}

/** Would go-yaml's encoder have to quote this string (it resolves to something else, or is a YAML 1.1 bool/base-60)? */
export const needsQuoting = (s: string): boolean => {
  const r = resolvePlain(s)
  if (r.tag !== "str") return true
  return OLD_BOOL.has(s) || BASE60.test(s)
}

const OLD_BOOL = new Set([
  "y",
  "Y",
  "yes",
  "Yes",
  "YES",
  "on",
  "On",
  "ON",
  "n",
  "N",
  "no",
  "No",
  "NO",
  "off",
  "Off",
  "OFF",
])
const BASE60 = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/
