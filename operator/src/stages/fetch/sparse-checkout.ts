/**
 * `spec.sparseCheckout`: only the listed directories of the commit go into the artifact. The list is checked
 * (relative, no `..`, bounded) before git sees it, turned into git's non-cone sparse patterns (cone mode would
 * also keep the files at the root, which Flux's artifact does not hold), and every directory must exist once
 * checked out, as Flux requires.
 *
 * @module
 */
import { lstat } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import { GitOperationError, InvalidSpecError } from "./errors.ts"

/** More directories than any monorepo split needs; each pattern is a line git matches every path against. */
export const maxSparseDirs = 100
const maxSparseDirLength = 1024

/**
 * The directories as git paths: a leading `./` and trailing `/` dropped (Flux trims `./` too). Refuses an
 * empty, absolute or `..` path and control characters, naming the entry.
 */
export const parseSparseCheckout = (
  dirs: ReadonlyArray<string> | undefined,
): ReadonlyArray<string> | undefined | InvalidSpecError => {
  if (dirs === undefined || dirs.length === 0) return undefined
  const invalid = (i: number, why: string) =>
    new InvalidSpecError({
      field: `spec.sparseCheckout[${i}]`,
      reason: "InvalidSpec",
      message: `spec.sparseCheckout[${i}] is invalid: ${why}`,
    })
  if (dirs.length > maxSparseDirs)
    return new InvalidSpecError({
      field: "spec.sparseCheckout",
      reason: "InvalidSpec",
      message: `spec.sparseCheckout lists ${dirs.length} directories; at most ${maxSparseDirs} are allowed`,
    })
  const out: string[] = []
  for (const [i, raw] of dirs.entries()) {
    if (raw.length > maxSparseDirLength) return invalid(i, `longer than ${maxSparseDirLength} characters`)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    if (/[\u0000-\u001f\u007f\\]/.test(raw)) return invalid(i, "it contains a control character or '\\'")
    let dir = raw
    while (dir.startsWith("./")) dir = dir.slice(2)
    dir = dir.replace(/\/+$/, "")
    if (dir.startsWith("/"))
      return invalid(i, `'${raw}' is absolute; give a path relative to the repository root`)
    const segments = dir.split("/")
    if (dir === "" || segments.some((s) => s === "" || s === "." || s === ".."))
      return invalid(i, `'${raw}' is not a directory inside the repository`)
    if (segments[0] === ".git") return invalid(i, `'${raw}' is inside .git`)
    out.push(dir)
  }
  return out
}

/** Escape what git's wildcard matching reads specially, so a directory named `a*` means only itself. */
const escapePattern = (dir: string): string =>
  dir.replace(/[*?[\]!#\\]/g, (c) => `\\${c}`).replace(/ $/, "\\ ")

/** `.git/info/sparse-checkout` in non-cone mode: each directory anchored at the root, with all below it. */
export const sparsePatterns = (dirs: ReadonlyArray<string>): string =>
  `${dirs.map((d) => `/${escapePattern(d)}/`).join("\n")}\n`

/**
 * Every listed directory exists in the checkout, reached through real directories only (a link is never
 * followed out of the checkout). Fails like Flux: the object's fetch fails naming the directory.
 */
export const requireSparseDirs = (url: string, checkout: string, dirs: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    for (const dir of dirs) {
      let path = checkout
      let found = true
      for (const segment of dir.split("/")) {
        path = join(path, segment)
        const st = yield* Effect.promise(() => lstat(path).catch(() => undefined))
        if (st === undefined || !st.isDirectory()) {
          found = false
          break
        }
      }
      if (!found)
        return yield* new GitOperationError({
          url,
          operation: "sparse checkout",
          message: `failed to sparse checkout directories : sparse checkout dir '${dir}' does not exist in repository`,
          transient: false,
        })
    }
  })
