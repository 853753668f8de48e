/**
 * Go-style durations as Flux's APIs write them (`metav1.Duration` serialized as a string, e.g. `10m0s`).
 *
 * Use `Duration` for interval/retryInterval/timeout fields, `parseDuration` to turn one into milliseconds and
 * `formatDuration` to print milliseconds the way Go does (messages such as "next run in 10m0s").
 */
import { Schema } from "effect"

/** The pattern Flux puts on `interval`, `retryInterval` and `timeout`: ms, s, m and h units. */
export const durationPattern = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/u

/** The pattern of GitRepository `spec.timeout`, which has no hour unit. */
export const gitTimeoutPattern = /^([0-9]+(\.[0-9]+)?(ms|s|m))+$/u

/** A duration string such as `1m`, `10m0s`, `1h30m`, `500ms`. */
export const Duration = Schema.String.pipe(Schema.check(Schema.isPattern(durationPattern))).annotate({
  description: "A duration in Go's format (e.g. 30s, 10m0s, 1h30m); units ms, s, m, h.",
})
export type Duration = typeof Duration.Type

const unitMillis: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }
const termPattern = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/gu

/**
 * Milliseconds of a duration that matches `durationPattern`; `undefined` for anything else, so callers decide
 * what an invalid value means (decoded objects have already been checked).
 */
export const parseDuration = (duration: string): number | undefined => {
  if (!durationPattern.test(duration)) return undefined
  let total = 0
  for (const [, amount, unit] of duration.matchAll(termPattern)) {
    total += Number(amount) * (unitMillis[unit ?? ""] ?? 0)
  }
  return Math.round(total)
}

/** Formats milliseconds like Go's `time.Duration.String()`: `0s`, `500ms`, `1m0s`, `1h30m0s`, `2.5s`. */
export const formatDuration = (millis: number): string => {
  if (millis === 0) return "0s"
  const sign = millis < 0 ? "-" : ""
  let rest = Math.abs(millis)
  if (rest < 1_000) return `${sign}${trim(rest)}ms`
  const hours = Math.floor(rest / 3_600_000)
  rest -= hours * 3_600_000
  const minutes = Math.floor(rest / 60_000)
  rest -= minutes * 60_000
  const seconds = `${trim(rest / 1_000)}s`
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}`
  if (minutes > 0) return `${sign}${minutes}m${seconds}`
  return `${sign}${seconds}`
}

const trim = (n: number): string => String(Number(n.toFixed(3)))
