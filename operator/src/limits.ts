/**
 * The bounds Kustodian puts on what a repository can make it do: one table of limits, each with a default,
 * a `kustodian controller` flag to change it, and a one-line reason. Repository content is hostile input;
 * every size and count a tenant controls is capped here, so a refusal can name the limit and its flag.
 *
 * Stages receive the {@link Limits} they need through their layers' options; nothing reads the table
 * globally, so tests can build a stage with small limits.
 *
 * @module
 */

/** Every limit, in bytes or counts. */
export interface Limits {
  /** Largest file the SOPS engine parses or decrypts (Flux's 5 MiB). */
  readonly maxDecryptionSize: number
  /** Largest output of one `kustomize build` (kustomize's stdout, before parsing). */
  readonly maxBuildOutputSize: number
}

/** One limit's flag and help line (the usage text is generated from this table). */
interface LimitFlag {
  readonly key: keyof Limits
  readonly flag: string
  readonly unit: "bytes" | "count" | "ms"
  readonly help: string
}

export const limitFlags: ReadonlyArray<LimitFlag> = [
  {
    key: "maxDecryptionSize",
    flag: "max-decryption-size",
    unit: "bytes",
    help: "largest file or document SOPS parses or decrypts",
  },
  {
    key: "maxBuildOutputSize",
    flag: "max-build-output-size",
    unit: "bytes",
    help: "largest output of one kustomize build",
  },
]

const MiB = 1024 * 1024

export const defaultLimits: Limits = {
  maxDecryptionSize: 5 * MiB,
  // Far above any real Kustomization (Flux's largest published fleets apply a few MiB per object) and far
  // below what would put the operator's heap at risk when parsed.
  maxBuildOutputSize: 64 * MiB,
}

/** `1048576`, `512Ki`, `5Mi`, `1Gi` → bytes; plain integers for counts and milliseconds. */
export const parseLimit = (unit: LimitFlag["unit"], text: string): number | undefined => {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(text.trim())
  if (!m) return undefined
  if (m[2] !== undefined && unit !== "bytes") return undefined
  const scale = m[2] === "Ki" ? 1024 : m[2] === "Mi" ? MiB : m[2] === "Gi" ? 1024 * MiB : 1
  const n = Number(m[1]) * scale
  return Number.isSafeInteger(n) && n > 0 ? n : undefined
}

/** Human form of a limit for error messages: `5 MiB`, `10000`. */
export const formatLimit = (key: keyof Limits, value: number): string => {
  const unit = limitFlags.find((f) => f.key === key)?.unit
  if (unit !== "bytes") return String(value)
  if (value % MiB === 0) return `${value / MiB} MiB`
  if (value % 1024 === 0) return `${value / 1024} KiB`
  return `${value} bytes`
}

/** The flag that changes `key`, for "… (raise it with --max-…)" hints. */
export const limitFlag = (key: keyof Limits): string =>
  `--${limitFlags.find((f) => f.key === key)?.flag ?? key}`
