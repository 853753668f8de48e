/**
 * `spec.include`: the artifacts of other GitRepositories of the namespace, copied into this one's checkout
 * before it is archived, as Flux's `reconcileInclude` does — the included artifact is extracted (plain files and
 * directories only, within the extraction caps), its `fromPath` (default: the root) moved to `toPath` (default:
 * the included repository's name), replacing an empty directory there. Both paths are checked first: relative,
 * no `..`, and `toPath` reached through real directories of the checkout only, so neither a spec nor a link in
 * the repository writes outside the artifact.
 *
 * @module
 */
import { lstat, mkdir, mkdtemp, rename, rm } from "node:fs/promises"
import { dirname, join } from "node:path"
import { Effect } from "effect"
import { defaultLimits } from "../../limits.ts"
import { tempRoot } from "../../temp-root.ts"
import { IncludeError, InvalidSpecError } from "./errors.ts"
import { ExtractionTooLarge, extractArtifactFile } from "./source-artifact.ts"
import { ArtifactStorage, type StoredArtifact } from "./storage.ts"

/** One checked `spec.include[]` entry with the included repository's current artifact. */
export interface Include {
  readonly name: string
  /** Relative path in the included artifact; "" is its root. */
  readonly fromPath: string
  /** Relative path in this checkout; never "". */
  readonly toPath: string
  readonly artifact: StoredArtifact
}

/** `spec.include[]` as written. */
export interface IncludeSpec {
  readonly repository: { readonly name: string }
  readonly fromPath?: string | undefined
  readonly toPath?: string | undefined
}

/** Flux never bounds the list; a hundred artifacts copied into one is already far past any real layout. */
export const maxIncludes = 100

/** A path as relative segments: `./` and trailing `/` dropped; undefined when it is absolute or climbs. */
const relative = (raw: string): string | undefined => {
  let p = raw.trim()
  while (p.startsWith("./")) p = p.slice(2)
  p = p.replace(/\/+$/, "")
  if (p === "" || p === ".") return ""
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (p.startsWith("/") || /[\u0000-\u001f\\]/.test(p)) return undefined
  const segments = p.split("/")
  if (segments.some((s) => s === "" || s === "." || s === "..")) return undefined
  if (segments[0] === ".git") return undefined
  return p
}

/** Check the entries' paths (the artifacts are looked up by the controller). */
export const parseIncludes = (
  owner: string,
  includes: ReadonlyArray<IncludeSpec>,
): ReadonlyArray<{ name: string; fromPath: string; toPath: string }> | InvalidSpecError => {
  if (includes.length > maxIncludes)
    return new InvalidSpecError({
      field: "spec.include",
      reason: "InvalidSpec",
      message: `spec.include lists ${includes.length} repositories; at most ${maxIncludes} are allowed`,
    })
  const out: Array<{ name: string; fromPath: string; toPath: string }> = []
  for (const [i, incl] of includes.entries()) {
    const invalid = (field: string, why: string) =>
      new InvalidSpecError({
        field: `spec.include[${i}].${field}`,
        reason: "IllegalPath",
        message: `spec.include[${i}].${field} is invalid: ${why}`,
      })
    const name = incl.repository.name
    if (name === owner)
      return new InvalidSpecError({
        field: `spec.include[${i}].repository.name`,
        reason: "InvalidSpec",
        message: `spec.include[${i}] names this GitRepository itself`,
      })
    const fromPath = relative(incl.fromPath ?? "")
    if (fromPath === undefined)
      return invalid("fromPath", `'${incl.fromPath}' is not a path inside the included artifact`)
    const toRaw = incl.toPath === undefined || incl.toPath === "" ? name : incl.toPath
    const toPath = relative(toRaw)
    if (toPath === undefined || toPath === "")
      return invalid("toPath", `'${toRaw}' is not a path inside the artifact`)
    out.push({ name, fromPath, toPath })
  }
  return out
}

/** Every existing component of `path` under `root` is a real directory (the last one may be missing). */
const confined = (root: string, path: string) =>
  Effect.promise(async () => {
    let at = root
    const segments = path.split("/")
    for (const segment of segments) {
      at = join(at, segment)
      const st = await lstat(at).catch(() => undefined)
      if (st === undefined) return true
      if (st.isSymbolicLink()) return false
      if (!st.isDirectory()) return false
    }
    return true
  })

/**
 * What all the includes of one GitRepository may extract to together: the checkout's own caps. Each artifact is
 * within the extraction caps on its own, but a hundred includes of one highly compressible artifact (a few KiB
 * pushed) would otherwise write a hundred times that cap into the temp volume every concurrent reconcile shares.
 */
export interface IncludeBudget {
  readonly maxBytes: number
  readonly maxFiles: number
}

/** Copy each include into `checkout` (in spec order: a later one may fill a directory of an earlier one). */
export const copyIncludes = Effect.fn("Include.copy")(function* (
  subject: string,
  checkout: string,
  includes: ReadonlyArray<Include>,
  budget: IncludeBudget,
) {
  const storage = yield* ArtifactStorage
  let bytesLeft = budget.maxBytes
  let filesLeft = budget.maxFiles
  for (const incl of includes) {
    const copyFailure = (why: string) =>
      new IncludeError({
        reason: "CopyFailure",
        message: `failed to copy '${incl.name}' include from ${incl.fromPath || "."} to ${incl.toPath}: ${why}`,
      })
    if (!(yield* confined(checkout, incl.toPath)))
      return yield* new IncludeError({
        reason: "IllegalPath",
        message: `path calculation for include '${incl.name}' failed: '${incl.toPath}' goes through a link or a file of the repository`,
      })
    const file = yield* storage
      .localPath(incl.artifact.path)
      .pipe(Effect.mapError((e) => copyFailure(e.message)))
    yield* Effect.scoped(
      Effect.gen(function* () {
        const tmp = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(join(tempRoot(), "kustodian-include-"))),
          (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
        )
        const bytesCap = Math.min(defaultLimits.maxExtractedSize, bytesLeft)
        const filesCap = Math.min(defaultLimits.maxExtractedFiles, filesLeft)
        const extracted = yield* Effect.tryPromise({
          try: () =>
            extractArtifactFile(
              file,
              tmp,
              { ...defaultLimits, maxExtractedSize: bytesCap, maxExtractedFiles: filesCap },
              `${subject}: include '${incl.name}'`,
            ),
          catch: (e) =>
            copyFailure(
              e instanceof ExtractionTooLarge &&
                (bytesCap < defaultLimits.maxExtractedSize || filesCap < defaultLimits.maxExtractedFiles)
                ? `the includes together extract to more than the checkout's bounds of ${budget.maxBytes} bytes ` +
                    `and ${budget.maxFiles} entries (raise them with --max-checkout-size, --max-checkout-files)`
                : (e as Error).message,
            ),
        })
        bytesLeft -= extracted.bytes
        filesLeft -= extracted.entries
        const from = incl.fromPath === "" ? tmp : join(tmp, incl.fromPath)
        // The extraction holds no links, so `from` is inside `tmp` once it exists.
        if ((yield* Effect.promise(() => lstat(from).catch(() => undefined))) === undefined)
          return yield* copyFailure(`'${incl.fromPath}' does not exist in the artifact of '${incl.name}'`)
        const to = join(checkout, incl.toPath)
        yield* Effect.tryPromise({
          try: async () => {
            await mkdir(dirname(to), { recursive: true })
            await rename(from, to)
          },
          catch: (e) => copyFailure((e as NodeJS.ErrnoException).code ?? (e as Error).message),
        })
      }),
    )
  }
})

/** What `status.includedArtifacts` holds, compared by content: the same digest and revision is the same include. */
export const sameArtifacts = (
  a: ReadonlyArray<Pick<StoredArtifact, "digest" | "revision">> | undefined,
  b: ReadonlyArray<Pick<StoredArtifact, "digest" | "revision">> | undefined,
): boolean =>
  (a ?? []).length === (b ?? []).length &&
  (a ?? []).every((x, i) => x.digest === b?.[i]?.digest && x.revision === b?.[i]?.revision)
