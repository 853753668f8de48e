/**
 * The files `kustodian check` looks at: a bounded walk of the paths it is given (file count, file size,
 * directory depth), `.git` and `node_modules` skipped, symbolic links followed only while they stay inside the
 * path being checked (each real file and directory visited once, so link loops end).
 *
 * @module
 */
import { lstatSync, readdirSync, realpathSync, statSync } from "node:fs"
import { join, relative, resolve, sep } from "node:path"
import { Data, Effect } from "effect"

export const walkLimits = {
  /** Most files looked at under one PATH. */
  maxFiles: 20_000,
  /** Largest file read (as the build's bound). */
  maxFileSize: 5 * 1024 * 1024,
  /** Deepest directory below PATH. */
  maxDepth: 32,
} as const

/** The path given to `check` cannot be read at all. */
export class CheckPathError extends Data.TaggedError("CheckPathError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot check ${this.path}: ${this.reason}`
  }
}

export interface WalkResult {
  /** The walked path, links resolved. */
  readonly root: string
  /** Absolute paths of regular files, in a stable order. */
  readonly files: ReadonlyArray<string>
  /** Files over the size bound (absolute), not read. */
  readonly oversized: ReadonlyArray<string>
  /** What was left out and why (links leaving PATH, depth, count), for one notice each. */
  readonly skipped: ReadonlyArray<{ readonly path: string; readonly reason: string }>
}

const skippedDirs = new Set([".git", "node_modules"])

const inside = (root: string, p: string) => {
  const rel = relative(root, p)
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !rel.startsWith(sep))
}

/** Walks `path` (a file or a directory). */
export const walkPath = Effect.fn("check.walkPath")(function* (
  path: string,
  limits: typeof walkLimits = walkLimits,
) {
  const abs = resolve(path)
  const root = yield* Effect.try({
    try: () => realpathSync(abs),
    catch: (e) => new CheckPathError({ path, reason: (e as NodeJS.ErrnoException).code ?? String(e) }),
  })
  const files: Array<string> = []
  const oversized: Array<string> = []
  const skipped: Array<{ path: string; reason: string }> = []
  const seen = new Set<string>()
  let truncated = false

  const visit = (p: string, depth: number): void => {
    if (truncated) return
    let st: ReturnType<typeof lstatSync>
    try {
      st = lstatSync(p)
    } catch {
      return
    }
    if (st.isSymbolicLink()) {
      let real: string
      try {
        real = realpathSync(p)
      } catch {
        skipped.push({ path: p, reason: "dangling symbolic link" })
        return
      }
      if (!inside(root, real)) {
        skipped.push({ path: p, reason: "symbolic link leaving the checked path, not followed" })
        return
      }
      try {
        st = statSync(real)
      } catch {
        return
      }
    }
    let real: string
    try {
      real = realpathSync(p)
    } catch {
      return
    }
    if (seen.has(real)) return
    seen.add(real)
    if (st.isDirectory()) {
      if (depth > limits.maxDepth) {
        skipped.push({ path: p, reason: `deeper than ${limits.maxDepth} directories, not checked` })
        return
      }
      let names: Array<string>
      try {
        names = readdirSync(p).sort()
      } catch (e) {
        skipped.push({ path: p, reason: `unreadable (${(e as NodeJS.ErrnoException).code ?? "error"})` })
        return
      }
      for (const n of names) {
        if (skippedDirs.has(n)) continue
        visit(join(p, n), depth + 1)
      }
      return
    }
    if (!st.isFile()) return
    if (files.length + oversized.length >= limits.maxFiles) {
      truncated = true
      skipped.push({ path: abs, reason: `more than ${limits.maxFiles} files, the rest not checked` })
      return
    }
    if (st.size > limits.maxFileSize) oversized.push(p)
    else files.push(p)
  }
  visit(abs, 0)
  return { root, files, oversized, skipped } satisfies WalkResult
})
