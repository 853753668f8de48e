/**
 * Which files of a checkout go into the artifact: Flux's rules in Flux's order — VCS files always out, the
 * default exclusions (images, archives, CI config, `.sops.yaml`, …) unless `spec.ignore` is set, every
 * `.sourceignore` file (patterns relative to its own directory), and `spec.ignore` last so it can re-include.
 */
import ignore, { type Ignore } from "ignore"

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

/** One set of patterns anchored at a directory (repo-relative, "" for the root). */
interface Layer {
  readonly base: string
  readonly matcher: Ignore
}

/** The ignore rules in effect while walking a checkout; add `.sourceignore` layers as directories are entered. */
export class SourceIgnore {
  private readonly layers: Layer[]
  private readonly last: Layer | undefined

  private constructor(layers: Layer[], last: Layer | undefined) {
    this.layers = layers
    this.last = last
  }

  /** Rules for a GitRepository: `spec.ignore` (undefined = Flux defaults apply). */
  static forSpec(specIgnore: string | undefined): SourceIgnore {
    const first = ignore().add(excludeVcs)
    if (specIgnore === undefined) first.add(defaultExclusions)
    const last = specIgnore === undefined ? undefined : { base: "", matcher: ignore().add(specIgnore) }
    return new SourceIgnore([{ base: "", matcher: first }], last)
  }

  /** A copy with the patterns of a `.sourceignore` found in directory `base` (repo-relative). */
  withFile(base: string, content: string): SourceIgnore {
    return new SourceIgnore([...this.layers, { base, matcher: ignore().add(content) }], this.last)
  }

  /** Is the repo-relative `path` excluded? Directories must be passed with a trailing `/`. */
  ignores(path: string): boolean {
    let ignored = false
    const all = this.last === undefined ? this.layers : [...this.layers, this.last]
    for (const { base, matcher } of all) {
      if (base !== "" && !path.startsWith(`${base}/`)) continue
      const rel = base === "" ? path : path.slice(base.length + 1)
      if (rel === "" || rel === "/") continue
      const r = matcher.test(rel)
      if (r.ignored) ignored = true
      else if (r.unignored) ignored = false
    }
    return ignored
  }
}
