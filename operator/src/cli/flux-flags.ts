/**
 * Flux CLI flag types as `flux create` parses them, with its messages: resource names (RFC 1123, 2–63
 * characters), Go durations printed back in Go's form (`90s` → `1m30s`), `--label k=v,…`, comma-separated
 * string slices, and the `safeRelativePath` of `--path` (cleaned, confined, `./`-prefixed).
 *
 * @module
 */
import { posix } from "node:path"
import { formatDuration, parseDuration } from "../../../model/duration.ts"
import { all, type Parsed, UsageError, value } from "./args.ts"

/** flux's name check (`validateObjectName`). */
export const checkName = (name: string | undefined): string => {
  if (name === undefined) throw new UsageError("name is required")
  if (!/^[a-z0-9]([a-z0-9-]){0,61}[a-z0-9]$/.test(name))
    throw new UsageError(
      `name '${name}' is invalid, it should adhere to standard defined in RFC 1123, the name can only contain alphanumeric characters or '-'`,
    )
  return name
}

/** A Go duration flag in Go's `String()` form; `fallback` when not given. */
export const durationFlag = (p: Parsed, flag: string, fallback: string | undefined): string | undefined => {
  const given = value(p, flag)
  if (given === undefined) return fallback
  const ms = given === "0" ? 0 : parseDuration(given)
  if (ms === undefined)
    throw new UsageError(
      `invalid argument "${given}" for "--${flag}" flag: time: invalid duration "${given}"`,
    )
  return formatDuration(ms)
}

/** A pflag string slice: repeated and/or comma-separated values. */
export const sliceFlag = (p: Parsed, flag: string): ReadonlyArray<string> =>
  all(p, flag).flatMap((v) => (v === "" ? [] : v.split(",")))

const labelPart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

/** Why a label key is not a Kubernetes qualified name (`[prefix/]name`), or undefined. */
const labelKeyProblem = (key: string): string | undefined => {
  const slash = key.indexOf("/")
  const prefix = slash < 0 ? undefined : key.slice(0, slash)
  const name = slash < 0 ? key : key.slice(slash + 1)
  if (prefix !== undefined && (prefix.length > 253 || !dnsSubdomain.test(prefix)))
    return "the prefix must be a lower-case DNS subdomain"
  if (name.length > 63) return "the name part must be no more than 63 characters"
  if (!labelPart.test(name))
    return "the name part must be alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric"
  return undefined
}

/** Why a label value is not valid, or undefined (empty is valid). */
const labelValueProblem = (v: string): string | undefined =>
  v.length > 63
    ? "must be no more than 63 bytes"
    : v === "" || labelPart.test(v)
      ? undefined
      : "must be empty or alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric"

/** `--label a=b,c=d` → labels, checked as the API server (and flux) check them. */
export const labelsFlag = (p: Parsed): Record<string, string> | undefined => {
  const labels: Record<string, string> = {}
  for (const pair of sliceFlag(p, "label")) {
    const eq = pair.indexOf("=")
    if (eq < 0) throw new UsageError(`invalid label format '${pair}', must be key=value`)
    const [key, v] = [pair.slice(0, eq), pair.slice(eq + 1)]
    const keyProblem = labelKeyProblem(key)
    if (keyProblem !== undefined) throw new UsageError(`invalid label '${key}': ${keyProblem}`)
    const valueProblem = labelValueProblem(v)
    if (valueProblem !== undefined) throw new UsageError(`invalid label value '${v}': ${valueProblem}`)
    labels[key] = v
  }
  return Object.keys(labels).length === 0 ? undefined : labels
}

/**
 * `--path` as flux's `safeRelativePath`: joined onto `./` so `..` cannot climb out and an absolute path becomes
 * relative, then written `./…` (`./` alone for the root).
 */
export const safeRelativePath = (given: string | undefined): string => {
  const cleaned = posix
    .normalize(`/${(given ?? "").trim()}`)
    .replace(/^\/+/, "")
    .replace(/\/+$/, "")
  return `./${cleaned === "." ? "" : cleaned}`
}

/** The namespace flag shared by the create commands (flux's default, the seed's namespace). */
export const namespaceFlag = (p: Parsed): string => value(p, "namespace") ?? "flux-system"

/** The flags every flux-style create command takes besides its own. */
export const commonFluxFlags = ["namespace", "label", "interval"] as const
