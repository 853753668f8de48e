/**
 * Packing a checkout into the artifact tarball: regular files only (symlinks and devices are skipped, as Flux
 * does, so an artifact can never point outside itself), filtered by `SourceIgnore`, in sorted order with fixed
 * timestamps and owners, so the same tree always gives the same bytes and the same digest.
 */
import { createHash } from "node:crypto"
import { createWriteStream } from "node:fs"
import { lstat, readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import { Effect } from "effect"
import * as tar from "tar"
import { formatLimit, limitFlag } from "../../limits.ts"
import { ArchiveError, LimitExceededError } from "./errors.ts"
import { type SourceIgnore, sourceIgnoreFile } from "./source-ignore.ts"

/** The files (repo-relative, `/`-separated, sorted) that belong in the artifact of `dir`. */
export const listArtifactFiles = async (dir: string, rules: SourceIgnore): Promise<string[]> => {
  const files: string[] = []
  // Matching is linear per pattern, but files × patterns is a tenant's choice: give the event loop (probes,
  // lease renewal, other tenants) a turn every few hundred entries.
  let tested = 0
  const yieldSometimes = async () => {
    if (++tested % 256 === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  const walk = async (rel: string, rules: SourceIgnore): Promise<void> => {
    const abs = rel === "" ? dir : join(dir, rel)
    const entries = (await readdir(abs, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))
    let here = rules
    if (entries.some((e) => e.name === sourceIgnoreFile && e.isFile()))
      here = here.withFile(rel, await readFile(join(abs, sourceIgnoreFile), "utf8"))
    for (const e of entries) {
      const path = rel === "" ? e.name : `${rel}/${e.name}`
      await yieldSometimes()
      if (e.isDirectory()) {
        if (!here.ignores(`${path}/`)) await walk(path, here)
      } else if (e.isFile()) {
        if (!here.ignores(path)) files.push(path)
      }
    }
  }
  await walk("", rules)
  return files.sort()
}

export interface ArchiveResult {
  /** `sha256:<hex>` of the tarball bytes. */
  readonly digest: string
  readonly size: number
  readonly files: number
}

const epoch = new Date(0)

/** The tarball cap (`--max-artifact-size`) and whose artifact it is, for the message. */
export interface ArchiveCaps {
  readonly maxBytes: number
  /** `GitRepository 'ns/name'`. */
  readonly subject: string
}

/** Thrown inside the stream pipeline when the tarball grows past the cap; mapped to a LimitExceededError. */
class TooLarge extends Error {}

/**
 * Write the artifact tarball of `dir` to `target`, returning its digest and size. The write stops as soon as
 * the tarball passes `caps.maxBytes` (the caller removes the partial file).
 */
export const archiveDirectory = Effect.fn("Archive.directory")(function* (
  dir: string,
  target: string,
  rules: SourceIgnore,
  caps?: ArchiveCaps,
) {
  const maxBytes = caps?.maxBytes ?? Number.POSITIVE_INFINITY
  const files = yield* Effect.tryPromise({
    try: () => listArtifactFiles(dir, rules),
    catch: (e) =>
      // A .sourceignore over the pattern caps keeps its typed refusal (it names the file and the flag).
      e instanceof LimitExceededError
        ? e
        : new ArchiveError({ path: dir, message: `cannot list files: ${(e as Error).message}` }),
  })
  const result = yield* Effect.tryPromise({
    try: async () => {
      const hash = createHash("sha256")
      let size = 0
      const source = tar.c(
        {
          gzip: true,
          cwd: dir,
          portable: true,
          mtime: epoch,
          noDirRecurse: true,
          follow: false,
          noPax: true,
        },
        files,
      )
      const measure = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk)
          size += chunk.length
          if (size > maxBytes) done(new TooLarge())
          else done(null, chunk)
        },
      })
      await pipeline(source, measure, createWriteStream(target, { mode: 0o644 }))
      return { digest: `sha256:${hash.digest("hex")}`, size, files: files.length }
    },
    catch: (e) =>
      e instanceof TooLarge
        ? new LimitExceededError({
            limit: "maxArtifactSize",
            message:
              `${caps?.subject ?? "the source"}: the artifact tarball exceeds the limit of ` +
              `${formatLimit("maxArtifactSize", maxBytes)} (raise it with ${limitFlag("maxArtifactSize")})`,
          })
        : new ArchiveError({ path: dir, message: `cannot write tarball: ${(e as Error).message}` }),
  })
  yield* Effect.annotateCurrentSpan({ "artifact.files": result.files, "artifact.size": result.size })
  return result satisfies ArchiveResult
})

/** Is `path` a regular file? (Used by storage to check an artifact is still on disk.) */
export const isFile = (path: string): Promise<boolean> =>
  lstat(path).then(
    (s) => s.isFile(),
    () => false,
  )
