/**
 * Which files of a checkout go into the artifact: Flux's rules in Flux's order — VCS files always out, the
 * default exclusions (images, archives, CI config, `.sops.yaml`, …) unless `spec.ignore` is set, every
 * `.sourceignore` file (patterns relative to its own directory), and `spec.ignore` last so it can re-include.
 * Patterns have git's semantics and run on RE2 (gitignore.ts); their number and length are capped
 * (`--max-ignore-patterns`, `--max-ignore-pattern-length`) because every file is tested against every pattern.
 */
import { Effect } from "effect"
import { defaultLimits, formatLimit, type Limits, limitFlag } from "../../limits.ts"
import { LimitExceededError } from "./errors.ts"
import { compileRule, type IgnoreRule, matchRules, patternLines } from "./gitignore.ts"

/** Always excluded: the repository's own machinery (`.git` without a slash: submodules have a `.git` file). */
export const excludeVcs = [".git", ".gitignore", ".gitmodules", ".gitattributes"]

/** Excluded unless `spec.ignore` is set (Flux's ExcludeExt, ExcludeCI, ExcludeExtra). */
export const defaultExclusions = [
  "*.jpg",
  "*.jpeg",
  "*.gif",
  "*.png",
  "*.wmv",
  "*.flv",
  "*.tar.gz",
  "*.zip",
  ".github/",
  ".circleci/",
  ".travis.yml",
  ".gitlab-ci.yml",
  "appveyor.yml",
  ".drone.yml",
  "cloudbuild.yaml",
  "codeship-services.yml",
  "codeship-steps.yml",
  "**/.goreleaser.yml",
  "**/.sops.yaml",
  "**/.flux.yaml",
]

export const sourceIgnoreFile = ".sourceignore"

export type IgnoreLimits = Pick<Limits, "maxIgnorePatterns" | "maxIgnorePatternLength">

export interface SourceIgnoreOptions {
  readonly limits?: IgnoreLimits
  /** `GitRepository 'ns/name'`, to name the object in limit errors. */
  readonly subject?: string
}

/** One set of patterns anchored at a directory (repo-relative, "" for the root). */
interface Layer {
  readonly base: string
  readonly rules: ReadonlyArray<IgnoreRule>
}

/** Shared by a SourceIgnore and every copy made from it, so the pattern cap counts all files of a checkout. */
interface Budget {
  used: number
  readonly limits: IgnoreLimits
  readonly subject: string | undefined
}

const refuse = (budget: Budget, limit: keyof IgnoreLimits, message: string) =>
  new LimitExceededError({
    limit,
    message: `${budget.subject === undefined ? "" : `${budget.subject}: `}${message} (limit ${formatLimit(
      limit,
      budget.limits[limit],
    )}, raise it with ${limitFlag(limit)})`,
  })

/** Parse and compile `content` (named `source` in errors), charging its patterns to `budget`. */
const compile = (content: string, source: string, budget: Budget | undefined): IgnoreRule[] => {
  const lines = patternLines(content)
  if (budget !== undefined) {
    for (const l of lines) {
      if (Buffer.byteLength(l.text) > budget.limits.maxIgnorePatternLength)
        throw refuse(budget, "maxIgnorePatternLength", `${source} line ${l.line}: ignore pattern too long`)
    }
    budget.used += lines.length
    if (budget.used > budget.limits.maxIgnorePatterns)
      throw refuse(budget, "maxIgnorePatterns", `${source}: too many ignore patterns`)
  }
  return lines.map(compileRule)
}

const builtIn = (patterns: ReadonlyArray<string>) => compile(patterns.join("\n"), "built-in", undefined)
const vcsRules = builtIn(excludeVcs)
const defaultRules = builtIn([...excludeVcs, ...defaultExclusions])

/** The ignore rules in effect while walking a checkout; add `.sourceignore` layers as directories are entered. */
export class SourceIgnore {
  private readonly layers: ReadonlyArray<Layer>
  private readonly last: Layer | undefined
  private readonly budget: Budget

  private constructor(layers: ReadonlyArray<Layer>, last: Layer | undefined, budget: Budget) {
    this.layers = layers
    this.last = last
    this.budget = budget
  }

  /**
   * Rules for a GitRepository: `spec.ignore` (undefined = Flux defaults apply). Throws a LimitExceededError
   * (naming `spec.ignore`) when the patterns pass the limits; {@link SourceIgnore.make} is the Effect form.
   */
  static forSpec(specIgnore: string | undefined, options: SourceIgnoreOptions = {}): SourceIgnore {
    const budget: Budget = { used: 0, limits: options.limits ?? defaultLimits, subject: options.subject }
    const first = { base: "", rules: specIgnore === undefined ? defaultRules : vcsRules }
    const last =
      specIgnore === undefined ? undefined : { base: "", rules: compile(specIgnore, "spec.ignore", budget) }
    return new SourceIgnore([first], last, budget)
  }

  /** {@link SourceIgnore.forSpec} with the limit refusal as a typed failure. */
  static make(
    specIgnore: string | undefined,
    options: SourceIgnoreOptions = {},
  ): Effect.Effect<SourceIgnore, LimitExceededError> {
    return Effect.try({
      try: () => SourceIgnore.forSpec(specIgnore, options),
      catch: (e) => {
        if (e instanceof LimitExceededError) return e
        throw e
      },
    })
  }

  /**
   * A copy with the patterns of a `.sourceignore` found in directory `base` (repo-relative). Throws a
   * LimitExceededError naming that file when the checkout's patterns pass the limits.
   */
  withFile(base: string, content: string): SourceIgnore {
    const source = base === "" ? sourceIgnoreFile : `${base}/${sourceIgnoreFile}`
    return new SourceIgnore(
      [...this.layers, { base, rules: compile(content, source, this.budget) }],
      this.last,
      this.budget,
    )
  }

  /** Is the repo-relative `path` excluded? Directories must be passed with a trailing `/`. */
  ignores(path: string): boolean {
    const isDir = path.endsWith("/")
    const p = isDir ? path.slice(0, -1) : path
    if (p === "") return false
    // Later layers win; within a layer, the last matching pattern does (git's order).
    const all = this.last === undefined ? this.layers : [...this.layers, this.last]
    for (let i = all.length - 1; i >= 0; i--) {
      const { base, rules } = all[i] as Layer
      if (base !== "" && !p.startsWith(`${base}/`)) continue
      const rel = base === "" ? p : p.slice(base.length + 1)
      if (rel === "") continue
      const verdict = matchRules(rules, rel, isDir)
      if (verdict !== undefined) return verdict
    }
    return false
  }
}
