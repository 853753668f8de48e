/**
 * GitRepository `spec.ref`: which of its fields wins (Flux's precedence commit > name > semver > tag > branch,
 * default branch `master`), how ls-remote output resolves it to a commit, and the revision string Flux shows.
 */
import semver from "semver"
import { InvalidSpecError } from "./errors.ts"

/** `spec.ref` as written by the user. */
export interface GitRefSpec {
  readonly branch?: string | undefined
  readonly tag?: string | undefined
  readonly semver?: string | undefined
  readonly name?: string | undefined
  readonly commit?: string | undefined
}

/** The one reference a GitRepository tracks, after precedence. */
export type RefSelector =
  | { readonly kind: "commit"; readonly commit: string; readonly branch: string | undefined }
  | { readonly kind: "name"; readonly name: string }
  | { readonly kind: "semver"; readonly range: string }
  | { readonly kind: "tag"; readonly tag: string }
  | { readonly kind: "branch"; readonly branch: string }

/** A reference resolved on the remote. */
export interface ResolvedRef {
  readonly selector: RefSelector
  /** The commit the reference points at (tags peeled). */
  readonly commit: string
  /** What to fetch: a full ref name (`refs/heads/main`), or undefined for a bare commit. */
  readonly fetchRef: string | undefined
  /** The short name shown in the revision (`main`, `v1.0.0`, `refs/pull/1/head`), undefined for commit-only. */
  readonly display: string | undefined
}

export const defaultBranch = "master"

const nonEmpty = (s: string | undefined): s is string => s !== undefined && s !== ""

const commitPattern = /^([0-9a-f]{40}|[0-9a-f]{64})$/

/** Apply Flux's precedence to `spec.ref`; fails on values that can never resolve (the field is named). */
export const selectRef = (ref: GitRefSpec | undefined): RefSelector | InvalidSpecError => {
  if (nonEmpty(ref?.commit)) {
    if (!commitPattern.test(ref.commit))
      return new InvalidSpecError({
        field: "spec.ref.commit",
        reason: "InvalidRef",
        message: `spec.ref.commit '${ref.commit}' is not a full hexadecimal commit SHA`,
      })
    return { kind: "commit", commit: ref.commit, branch: nonEmpty(ref.branch) ? ref.branch : undefined }
  }
  if (nonEmpty(ref?.name)) {
    if (!ref.name.startsWith("refs/") || /\s|\.\.|[~^:?*[\\]/.test(ref.name))
      return new InvalidSpecError({
        field: "spec.ref.name",
        reason: "InvalidRef",
        message: `spec.ref.name '${ref.name}' is not a full git reference such as 'refs/heads/main'`,
      })
    return { kind: "name", name: ref.name }
  }
  if (nonEmpty(ref?.semver)) {
    const range = normalizeRange(ref.semver)
    if (range === undefined)
      return new InvalidSpecError({
        field: "spec.ref.semver",
        reason: "InvalidRef",
        message: `spec.ref.semver '${ref.semver}' is not a valid semver range`,
      })
    return { kind: "semver", range }
  }
  if (nonEmpty(ref?.tag)) return { kind: "tag", tag: ref.tag }
  return { kind: "branch", branch: nonEmpty(ref?.branch) ? ref.branch : defaultBranch }
}

/** Flux's ranges (Masterminds) allow `,` as AND; node-semver wants spaces. */
const normalizeRange = (raw: string): string | undefined => {
  const r = raw.replace(/\s*,\s*/g, " ").trim()
  return semver.validRange(r) === null ? undefined : r
}

/** Tag → version the way Flux's semver library reads tags: optional `v`, missing minor/patch are 0. */
export const tagVersion = (tag: string): string | undefined => {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.exec(tag)
  if (m === null) return undefined
  const v = `${m[1]}.${m[2] ?? "0"}.${m[3] ?? "0"}${m[4] ?? ""}${m[5] ?? ""}`
  return semver.valid(v) ?? undefined
}

/** ls-remote output as a map from ref name to commit, annotated tags already peeled. */
export const parseLsRemote = (stdout: string): ReadonlyMap<string, string> => {
  const direct = new Map<string, string>()
  const peeled = new Map<string, string>()
  for (const line of stdout.split("\n")) {
    const [sha, name] = line.trim().split(/\s+/)
    if (sha === undefined || name === undefined) continue
    if (name.endsWith("^{}")) peeled.set(name.slice(0, -3), sha)
    else direct.set(name, sha)
  }
  for (const [name, sha] of peeled) direct.set(name, sha)
  return direct
}

/** The ls-remote patterns that answer for `selector`; commit-only needs no ls-remote. */
export const lsRemotePatterns = (selector: RefSelector): ReadonlyArray<string> | undefined => {
  switch (selector.kind) {
    case "commit":
      return undefined
    case "name":
      return [selector.name, `${selector.name}^{}`]
    case "semver":
      return ["refs/tags/*"]
    case "tag":
      return [`refs/tags/${selector.tag}`, `refs/tags/${selector.tag}^{}`]
    case "branch":
      return [`refs/heads/${selector.branch}`]
  }
}

/** Why a selector did not resolve, in words a user can act on. */
export const notFoundMessage = (selector: RefSelector): string => {
  switch (selector.kind) {
    case "commit":
      return `commit '${selector.commit}' not found`
    case "name":
      return `reference '${selector.name}' not found`
    case "semver":
      return `no tag matches semver range '${selector.range}'`
    case "tag":
      return `tag '${selector.tag}' not found`
    case "branch":
      return `branch '${selector.branch}' not found`
  }
}

/** Resolve `selector` against ls-remote refs; undefined when the remote has no such ref. */
export const resolveRef = (
  selector: RefSelector,
  refs: ReadonlyMap<string, string>,
): ResolvedRef | undefined => {
  switch (selector.kind) {
    case "commit":
      return {
        selector,
        commit: selector.commit,
        fetchRef: selector.branch === undefined ? undefined : `refs/heads/${selector.branch}`,
        display: selector.branch,
      }
    case "name": {
      const commit = refs.get(selector.name)
      return commit === undefined
        ? undefined
        : { selector, commit, fetchRef: selector.name, display: selector.name }
    }
    case "tag": {
      const commit = refs.get(`refs/tags/${selector.tag}`)
      return commit === undefined
        ? undefined
        : { selector, commit, fetchRef: `refs/tags/${selector.tag}`, display: selector.tag }
    }
    case "branch": {
      const commit = refs.get(`refs/heads/${selector.branch}`)
      return commit === undefined
        ? undefined
        : { selector, commit, fetchRef: `refs/heads/${selector.branch}`, display: selector.branch }
    }
    case "semver": {
      let best: { tag: string; version: string; commit: string } | undefined
      for (const [name, commit] of refs) {
        if (!name.startsWith("refs/tags/")) continue
        const tag = name.slice("refs/tags/".length)
        const version = tagVersion(tag)
        if (version === undefined || !semver.satisfies(version, selector.range)) continue
        // Equal versions (v1.0.0 and 1.0.0): prefer the lexically smaller tag so the choice is stable.
        if (
          best === undefined ||
          semver.gt(version, best.version) ||
          (semver.eq(version, best.version) && tag < best.tag)
        )
          best = { tag, version, commit }
      }
      return best === undefined
        ? undefined
        : { selector, commit: best.commit, fetchRef: `refs/tags/${best.tag}`, display: best.tag }
    }
  }
}

/** Flux's revision string: `main@sha1:<hex>`, `v1.0.0@sha1:<hex>`, `refs/pull/1/head@sha1:<hex>`, `sha1:<hex>`. */
export const revisionOf = (display: string | undefined, commit: string): string => {
  const algo = commit.length === 64 ? "sha256" : "sha1"
  return display === undefined ? `${algo}:${commit}` : `${display}@${algo}:${commit}`
}

/** The commit hex inside a revision string (any of Flux's forms, including legacy `main/<hex>`). */
export const commitOfRevision = (revision: string): string | undefined =>
  /(?:^|@|:|\/)([0-9a-f]{40}|[0-9a-f]{64})$/.exec(revision)?.[1]
