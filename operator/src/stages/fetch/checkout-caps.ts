/**
 * The size and file-count caps of a checkout, checked from the commit's tree (`git ls-tree -r -l -z`) after the
 * objects are fetched and before a single file is written. Git stores a 1 GiB file of zeros as a pack of about a
 * megabyte, so only the tree's recorded sizes tell what a checkout would cost; writing it first would fill the
 * pod's memory-backed /tmp and get the pod evicted.
 *
 * @module
 */
import { lstat, readdir } from "node:fs/promises"
import { join } from "node:path"
import { formatLimit, type Limits, limitFlag } from "../../limits.ts"
import { LimitExceededError } from "./errors.ts"

/** What a checkout may hold, and whose checkout it is (for the message). */
export interface CheckoutCaps {
  readonly maxBytes: Limits["maxCheckoutSize"]
  readonly maxFiles: Limits["maxCheckoutFiles"]
  /** `GitRepository 'ns/name'`. */
  readonly subject: string
}

/** What a tree would check out to. */
export interface TreeSize {
  readonly bytes: number
  readonly files: number
  /** The largest blob, for the message: the offending path is what the user must find. */
  readonly largest: { readonly path: string; readonly bytes: number } | undefined
}

/**
 * Sums `git ls-tree -r -l -z` output: `<mode> SP <type> SP <oid> SP+ <size> TAB <path> NUL`. Submodules
 * (type `commit`, size `-`) count as entries of no size; their own trees are checked after their update.
 */
export const sumTree = (out: string): TreeSize => {
  let bytes = 0
  let files = 0
  let largest: TreeSize["largest"]
  for (const entry of out.split("\0")) {
    if (entry === "") continue
    files++
    const tab = entry.indexOf("\t")
    const meta = tab < 0 ? entry : entry.slice(0, tab)
    const size = Number(meta.slice(meta.lastIndexOf(" ") + 1))
    if (!Number.isFinite(size)) continue
    bytes += size
    if (largest === undefined || size > largest.bytes) largest = { path: entry.slice(tab + 1), bytes: size }
  }
  return { bytes, files, largest }
}

/** A path as it may appear in a message: quoted, control characters escaped, at most 200 characters. */
export const quotePath = (p: string): string => JSON.stringify(p.length > 200 ? `${p.slice(0, 200)}…` : p)

/** The refusal for `size`, or undefined when it fits. */
export const checkTree = (
  size: TreeSize,
  caps: CheckoutCaps,
  what: string,
): LimitExceededError | undefined => {
  if (size.files > caps.maxFiles)
    return new LimitExceededError({
      limit: "maxCheckoutFiles",
      message:
        `${caps.subject}: ${what} has ${size.files} files, more than the limit of ` +
        `${formatLimit("maxCheckoutFiles", caps.maxFiles)} (raise it with ${limitFlag("maxCheckoutFiles")})`,
    })
  if (size.bytes > caps.maxBytes)
    return new LimitExceededError({
      limit: "maxCheckoutSize",
      message:
        `${caps.subject}: ${what} is ${size.bytes} bytes, more than the limit of ` +
        `${formatLimit("maxCheckoutSize", caps.maxBytes)} (raise it with ${limitFlag("maxCheckoutSize")})` +
        (size.largest === undefined
          ? ""
          : `; largest file ${quotePath(size.largest.path)} (${size.largest.bytes} bytes)`),
    })
  return undefined
}

/**
 * What a checked-out directory holds on disk (`.git` directories excluded), stopping as soon as `caps` are
 * exceeded. Submodules are only known after `git submodule update` wrote them, so they are measured here.
 */
export const measureDir = async (dir: string, caps: CheckoutCaps): Promise<TreeSize> => {
  let bytes = 0
  let files = 0
  let largest: TreeSize["largest"]
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(rel === "" ? dir : join(dir, rel), { withFileTypes: true })
    for (const e of entries) {
      if (e.name === ".git") continue
      if (files > caps.maxFiles || bytes > caps.maxBytes) return
      const path = rel === "" ? e.name : `${rel}/${e.name}`
      if (e.isDirectory()) {
        await walk(path)
        continue
      }
      files++
      if (e.isFile()) {
        const size = (await lstat(join(dir, path))).size
        bytes += size
        if (largest === undefined || size > largest.bytes) largest = { path, bytes: size }
      }
    }
  }
  await walk("")
  return { bytes, files, largest }
}
