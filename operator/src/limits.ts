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
  /** Encrypted values (leaves and comments, aliases expanded) one build may decrypt, over all its files. */
  readonly maxDecryptedValues: number
  /** Largest output of one `kustomize build` (kustomize's stdout, before parsing). */
  readonly maxBuildOutputSize: number
  /** Sum of the file sizes of one GitRepository checkout, checked from the tree before any file is written. */
  readonly maxCheckoutSize: number
  /** Entries (files, links, submodules) of one GitRepository checkout, checked the same way. */
  readonly maxCheckoutFiles: number
  /** Largest artifact tarball (gzip bytes), when it is written and when a build downloads it. */
  readonly maxArtifactSize: number
  /** Sum of the file sizes an artifact may extract to (a tarball can be a gzip bomb). */
  readonly maxExtractedSize: number
  /** Entries an artifact may extract to. */
  readonly maxExtractedFiles: number
  /** Objects one Kustomization build may produce (kustomize "diamonds" multiply a base per path). */
  readonly maxBuildObjects: number
  /** Ignore patterns of one GitRepository: `spec.ignore` plus every `.sourceignore`, all files together. */
  readonly maxIgnorePatterns: number
  /** Longest single ignore pattern line. */
  readonly maxIgnorePatternLength: number
  /** Text one object's `postBuild` substitution may produce, intermediate results of nested expressions included. */
  readonly maxSubstitutedSize: number
  /** Largest stdout of one git command (ls-remote, ls-tree); stderr is always cut to its first and last 16 KiB. */
  readonly maxGitOutputSize: number
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
    key: "maxDecryptedValues",
    flag: "max-decrypted-values",
    unit: "count",
    help: "most SOPS values one build decrypts (all files together)",
  },
  {
    key: "maxBuildOutputSize",
    flag: "max-build-output-size",
    unit: "bytes",
    help: "largest output of one kustomize build",
  },
  {
    key: "maxCheckoutSize",
    flag: "max-checkout-size",
    unit: "bytes",
    help: "largest GitRepository checkout (sum of file sizes, checked before checkout)",
  },
  { key: "maxCheckoutFiles", flag: "max-checkout-files", unit: "count", help: "most files in a checkout" },
  { key: "maxArtifactSize", flag: "max-artifact-size", unit: "bytes", help: "largest artifact tarball" },
  {
    key: "maxExtractedSize",
    flag: "max-extracted-size",
    unit: "bytes",
    help: "largest extracted artifact (sum of file sizes)",
  },
  {
    key: "maxExtractedFiles",
    flag: "max-extracted-files",
    unit: "count",
    help: "most entries in an extracted artifact",
  },
  {
    key: "maxBuildObjects",
    flag: "max-build-objects",
    unit: "count",
    help: "most objects one build produces",
  },
  {
    key: "maxIgnorePatterns",
    flag: "max-ignore-patterns",
    unit: "count",
    help: "most ignore patterns of one GitRepository (spec.ignore and all .sourceignore files)",
  },
  {
    key: "maxIgnorePatternLength",
    flag: "max-ignore-pattern-length",
    unit: "bytes",
    help: "longest ignore pattern",
  },
  {
    key: "maxSubstitutedSize",
    flag: "max-substituted-size",
    unit: "bytes",
    help: "most text postBuild substitution produces for one object",
  },
  {
    key: "maxGitOutputSize",
    flag: "max-git-output-size",
    unit: "bytes",
    help: "largest stdout of one git command",
  },
]

const MiB = 1024 * 1024

export const defaultLimits: Limits = {
  maxDecryptionSize: 5 * MiB,
  // Real fleets decrypt hundreds to a few thousand values per build (a few files of tens of keys each);
  // 100k is far above that and still bounds the AES-GCM work and the plaintext held in memory.
  maxDecryptedValues: 100_000,
  // Far above any real Kustomization (Flux's largest published fleets apply a few MiB per object) and far
  // below what would put the operator's heap at risk when parsed.
  maxBuildOutputSize: 64 * MiB,
  // Checkouts, tarballs and extracted trees share the pod's /tmp (a 512 MiB emptyDir) with every concurrent
  // reconcile: a few of the largest must fit at once. Flux caps artifacts at 50 MiB; a monorepo raises these.
  maxCheckoutSize: 128 * MiB,
  maxCheckoutFiles: 50_000,
  maxArtifactSize: 64 * MiB,
  maxExtractedSize: 128 * MiB,
  maxExtractedFiles: 50_000,
  // Far above real fleets (a few thousand objects per Kustomization), far below a 20-level diamond's 10^6.
  maxBuildObjects: 20_000,
  // Real .sourceignore files hold tens of patterns. Every file is tested against every pattern in effect
  // (linear each, RE2: ~1 µs for a wildcard pattern without literals), so this bounds files × patterns.
  maxIgnorePatterns: 1_000,
  // git's PATH_MAX: no pattern longer than a path can be useful.
  maxIgnorePatternLength: 4096,
  // An object the API server stores is at most ~1.5 MiB (etcd's request limit); nested replacements can grow
  // exponentially (`${a//x/${a//x/…}}`), so the whole evaluation is budgeted.
  maxSubstitutedSize: 16 * MiB,
  // ls-tree of a 50 000-file checkout is a few MiB; a server advertising millions of refs is refused.
  maxGitOutputSize: 64 * MiB,
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
