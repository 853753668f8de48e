/**
 * The artifact storage: a directory of tarballs laid out as `<kind>/<namespace>/<name>/<commit>.tar.gz`,
 * written atomically (temp file + rename), addressed by the URL the artifact server answers on, and
 * garbage-collected so each object keeps only its last few artifacts.
 */
import { randomBytes } from "node:crypto"
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises"
import { dirname, join, normalize, sep } from "node:path"
import { Context, Effect, Layer } from "effect"
import { defaultLimits } from "../../limits.ts"
import { archiveDirectory, isFile } from "./archive.ts"
import { type ArchiveError, type LimitExceededError, StorageError } from "./errors.ts"
import type { SourceIgnore } from "./source-ignore.ts"

/** An artifact as it appears in `status.artifact` (Flux's meta.Artifact). */
export interface StoredArtifact {
  /** Storage-relative path, e.g. `gitrepository/default/podinfo/<commit>.tar.gz`. */
  readonly path: string
  /** Where consumers download it. */
  readonly url: string
  /** Flux revision string, e.g. `main@sha1:<hex>`. */
  readonly revision: string
  /** `sha256:<hex>` of the tarball. */
  readonly digest: string
  /** RFC 3339. */
  readonly lastUpdateTime: string
  readonly size: number
}

/** Which object an artifact belongs to. */
export interface ArtifactOwner {
  /** Lower-case kind, e.g. `gitrepository`. */
  readonly kind: string
  readonly namespace: string
  readonly name: string
}

export interface StorageConfig {
  /** Root directory of the storage. */
  readonly root: string
  /** `host[:port]` written into artifact URLs (Flux's `--storage-adv-addr`). */
  readonly advertisedAddress: string
  /** How many artifacts per object to keep, the current one included (Flux's default is 2). */
  readonly retention: number
  /** `--max-artifact-size`: largest tarball `store` writes (default: the limit table's). */
  readonly maxArtifactSize?: number | undefined
}

const kindNames: Readonly<Record<string, string>> = { gitrepository: "GitRepository" }

/** `GitRepository 'ns/name'`, as refusals name an owner. */
export const ownerSubject = (owner: ArtifactOwner) =>
  `${kindNames[owner.kind] ?? owner.kind} '${owner.namespace}/${owner.name}'`

const segment = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/

export class ArtifactStorage extends Context.Service<
  ArtifactStorage,
  {
    readonly config: StorageConfig
    /** Storage-relative directory of an owner's artifacts. */
    readonly dirOf: (owner: ArtifactOwner) => string
    /** Absolute path of a storage-relative artifact path, refusing anything that escapes the root. */
    readonly localPath: (path: string) => Effect.Effect<string, StorageError>
    /** The download URL of a storage-relative path. */
    readonly urlOf: (path: string) => string
    /** Is the artifact still on disk? (The storage may be an emptyDir that a restart wiped.) */
    readonly exists: (path: string) => Effect.Effect<boolean>
    /** Archive `dir` as the artifact of `owner` for `revision`, stored under `<commit>.tar.gz`. */
    readonly store: (
      owner: ArtifactOwner,
      revision: string,
      commit: string,
      dir: string,
      rules: SourceIgnore,
    ) => Effect.Effect<StoredArtifact, ArchiveError | StorageError | LimitExceededError>
    /** Remove all but the newest `retention` artifacts of `owner`, never `keep`. Returns the removed paths. */
    readonly collect: (
      owner: ArtifactOwner,
      keep: string,
    ) => Effect.Effect<ReadonlyArray<string>, StorageError>
    /** Remove everything of `owner` (the object was deleted). */
    readonly removeAll: (owner: ArtifactOwner) => Effect.Effect<void, StorageError>
  }
>()("kustodian/stages/fetch/ArtifactStorage") {
  static readonly layer = (config: StorageConfig) =>
    Layer.effect(
      ArtifactStorage,
      Effect.gen(function* () {
        yield* Effect.tryPromise({
          try: () => mkdir(config.root, { recursive: true }),
          catch: (e) =>
            new StorageError({ path: config.root, operation: "mkdir", message: (e as Error).message }),
        })
        const root = normalize(config.root)

        const dirOf = (owner: ArtifactOwner) => `${owner.kind}/${owner.namespace}/${owner.name}`

        const localPath = (path: string): Effect.Effect<string, StorageError> => {
          const abs = normalize(join(root, path))
          // No `..` at all, not only none that leaves the root: callers check a path by its prefix (an include's
          // artifact is under the included object's directory), which `gitrepository/a/x/../../b/y/…` passes.
          return !path.split(/[/\\]/).includes("..") && abs.startsWith(root.endsWith(sep) ? root : root + sep)
            ? Effect.succeed(abs)
            : Effect.fail(
                new StorageError({ path, operation: "resolve", message: "path escapes the storage root" }),
              )
        }

        const urlOf = (path: string) => `http://${config.advertisedAddress}/${path}`

        const exists = (path: string) =>
          localPath(path).pipe(
            Effect.flatMap((p) => Effect.promise(() => isFile(p))),
            Effect.orElseSucceed(() => false),
          )

        const fail = (path: string, operation: string) => (e: unknown) =>
          new StorageError({ path, operation, message: (e as Error).message })

        const store = Effect.fn("ArtifactStorage.store")(function* (
          owner: ArtifactOwner,
          revision: string,
          commit: string,
          dir: string,
          rules: SourceIgnore,
        ) {
          for (const s of [owner.kind, owner.namespace, owner.name, commit])
            if (!segment.test(s))
              return yield* new StorageError({
                path: dirOf(owner),
                operation: "store",
                message: `'${s}' is not a valid path segment`,
              })
          const path = `${dirOf(owner)}/${commit}.tar.gz`
          const target = yield* localPath(path)
          yield* Effect.tryPromise({
            try: () => mkdir(dirname(target), { recursive: true }),
            catch: fail(path, "mkdir"),
          })
          const tmp = `${target}.tmp-${randomBytes(6).toString("hex")}`
          const caps = {
            maxBytes: config.maxArtifactSize ?? defaultLimits.maxArtifactSize,
            subject: ownerSubject(owner),
          }
          const result = yield* archiveDirectory(dir, tmp, rules, caps).pipe(
            Effect.onError(() => Effect.promise(() => rm(tmp, { force: true }))),
          )
          yield* Effect.tryPromise({ try: () => rename(tmp, target), catch: fail(path, "rename") })
          return {
            path,
            url: urlOf(path),
            revision,
            digest: result.digest,
            lastUpdateTime: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
            size: result.size,
          } satisfies StoredArtifact
        })

        const collect = Effect.fn("ArtifactStorage.collect")(function* (owner: ArtifactOwner, keep: string) {
          const dir = yield* localPath(dirOf(owner))
          const names = yield* Effect.tryPromise({
            try: () => readdir(dir).catch(() => [] as string[]),
            catch: fail(dirOf(owner), "readdir"),
          })
          const entries = yield* Effect.tryPromise({
            try: () =>
              Promise.all(
                names
                  .filter((n) => n.endsWith(".tar.gz") || n.includes(".tar.gz.tmp-"))
                  .map(async (n) => ({ name: n, mtime: (await stat(join(dir, n))).mtimeMs })),
              ),
            catch: fail(dirOf(owner), "stat"),
          })
          const keepName = keep.split("/").pop()
          const tarballs = entries
            .filter((e) => e.name.endsWith(".tar.gz") && e.name !== keepName)
            .sort((a, b) => b.mtime - a.mtime)
          // Leftover temp files are from an interrupted store; anything older than a minute is dead.
          const stale = entries.filter((e) => !e.name.endsWith(".tar.gz") && Date.now() - e.mtime > 60_000)
          const doomed = [...tarballs.slice(Math.max(0, config.retention - 1)), ...stale].map((e) => e.name)
          yield* Effect.tryPromise({
            try: () => Promise.all(doomed.map((n) => rm(join(dir, n), { force: true }))),
            catch: fail(dirOf(owner), "remove"),
          })
          return doomed.map((n) => `${dirOf(owner)}/${n}`)
        })

        const removeAll = Effect.fn("ArtifactStorage.removeAll")(function* (owner: ArtifactOwner) {
          const dir = yield* localPath(dirOf(owner))
          yield* Effect.tryPromise({
            try: () => rm(dir, { recursive: true, force: true }),
            catch: fail(dirOf(owner), "remove"),
          })
        })

        return ArtifactStorage.of({ config, dirOf, localPath, urlOf, exists, store, collect, removeAll })
      }),
    )
}
