/**
 * The operator's log lines in the shape Flux's controllers write them (controller-runtime's zap encoder as
 * fluxcd/pkg/runtime/logger configures it), so `flux logs`, Loki's `| json | level=~"…"` queries of
 * flux2-monitoring-example and anything else written for Flux reads them unchanged:
 *
 * - `--log-encoding=json` (default): one JSON object a line: `level` (`trace`, `debug`, `info`, `error`),
 *   `ts` (ISO 8601 with milliseconds), `msg`, then the log annotations in order (a reconcile's `controller`,
 *   `controllerGroup`, `controllerKind`, `<Kind>: {name, namespace}`, `name`, `namespace`, `reconcileID`, …),
 *   and `error` for a failure.
 * - `--log-encoding=console`: zap's console line, `ts⇥LEVEL⇥msg⇥{fields}`.
 *
 * logr knows only info and error (plus V-levels): Effect's Warning and Fatal are written as `error`, as
 * Flux's controllers log everything that went wrong. Lines go to stderr, as zap's do. Error texts pass the
 * server-values redactor once more (a last net: stages redact what they know before it gets here).
 */
import { Cause, Layer, Logger, type LogLevel, References } from "effect"
import { maskServerValues } from "../redaction/redactor.ts"

export type LogEncoding = "json" | "console"
export type FluxLogLevel = "trace" | "debug" | "info" | "error"

export interface LogOptions {
  readonly encoding?: LogEncoding | undefined
  readonly level?: FluxLogLevel | undefined
}

const levelName = (level: LogLevel.LogLevel): FluxLogLevel => {
  switch (level) {
    case "Trace":
    case "All":
      return "trace"
    case "Debug":
      return "debug"
    case "Info":
      return "info"
    default:
      return "error"
  }
}

/** Effect's minimum level for a `--log-level` (error shows only what went wrong, as in Flux). */
const minimumLevel = (level: FluxLogLevel): LogLevel.LogLevel =>
  level === "trace" ? "Trace" : level === "debug" ? "Debug" : level === "info" ? "Info" : "Warn"

/** zapcore.ISO8601TimeEncoder: `2006-01-02T15:04:05.000Z0700`; UTC in a pod, so `Z`. */
const isoMillis = (date: Date) => date.toISOString()

const text = (value: unknown): string =>
  typeof value === "string" ? value : value instanceof Error ? value.message : JSON.stringify(value)

const messageOf = (message: unknown): string => {
  const parts = Array.isArray(message) ? message : [message]
  return parts.map(text).join(" ")
}

/** The fields of one line, in zap's order: level, ts, msg, annotations, error. */
export const logEntry = (input: {
  readonly level: LogLevel.LogLevel
  readonly date: Date
  readonly message: unknown
  readonly annotations: Readonly<Record<string, unknown>>
  readonly cause?: Cause.Cause<unknown> | undefined
}): Record<string, unknown> => {
  const level = levelName(input.level)
  const entry: Record<string, unknown> = {
    level,
    ts: isoMillis(input.date),
    msg: messageOf(input.message),
  }
  for (const [key, value] of Object.entries(input.annotations)) {
    if (key === "error") continue
    entry[key] = value
  }
  const error =
    input.annotations.error !== undefined
      ? text(input.annotations.error)
      : input.cause !== undefined && input.cause.reasons.length > 0
        ? (Cause.pretty(input.cause).split("\n")[0] ?? "")
        : undefined
  if (level === "error") entry.msg = maskServerValues(entry.msg as string)
  if (error !== undefined) entry.error = maskServerValues(error)
  return entry
}

/** zap's console encoder: tab-separated time, capital level, message, then the fields as JSON. */
const consoleLine = (entry: Record<string, unknown>): string => {
  const { level, ts, msg, ...fields } = entry
  const rest = Object.keys(fields).length > 0 ? `\t${JSON.stringify(fields)}` : ""
  return `${ts}\t${String(level).toUpperCase()}\t${msg}${rest}`
}

/** The Logger writing Flux-shaped lines to `write` (stderr by default). */
export const fluxLogger = (
  encoding: LogEncoding = "json",
  write: (line: string) => void = (line) => void process.stderr.write(line),
) =>
  Logger.make(({ cause, date, fiber, logLevel, message }) => {
    const entry = logEntry({
      level: logLevel,
      date,
      message,
      annotations: fiber.getRef(References.CurrentLogAnnotations),
      cause,
    })
    write(`${encoding === "console" ? consoleLine(entry) : JSON.stringify(entry)}\n`)
  })

/** Replaces the default loggers with Flux's shape and sets the minimum level (`--log-level`, default info). */
export const fluxLoggerLayer = (options: LogOptions = {}): Layer.Layer<never> =>
  Layer.mergeAll(
    Logger.layer([fluxLogger(options.encoding ?? "json")]),
    Layer.succeed(References.MinimumLogLevel, minimumLevel(options.level ?? "info")),
  )
