/**
 * The consumer side of source artifacts — what the Kustomization build uses: `sourceArtifactOf` reads a
 * GitRepository's status into a `SourceArtifact`, and `ArtifactFetcher.fetch` puts that artifact's files into
 * a directory after checking its sha256 against `digest`. In the operator process it reads the tarball straight
 * from the storage directory; anywhere else it downloads `url` (with retries, since a new artifact may be
 * announced before a restarted server has it, as Flux's fetcher does on 404).
 */
import { createHash, randomBytes } from "node:crypto"
import { createReadStream, createWriteStream } from "node:fs"
import { mkdir, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Readable, Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import type { ReadableStream as WebReadableStream } from "node:stream/web"
import { Context, Data, Effect, Layer, Option, Schedule } from "effect"
import * as tar from "tar"
import type { GitRepository } from "../../../../model/gitrepository.ts"
import { ArtifactStorage } from "./storage.ts"

/** A source's current artifact, as a consumer sees it. */
export interface SourceArtifact {
  /** `GitRepository` (the only kind served today). */
  readonly kind: string
  readonly namespace: string
  readonly name: string
  /** Flux revision, e.g. `main@sha1:<hex>`; compare for equality only. */
  readonly revision: string
  /** `sha256:<hex>` of the tarball; the fetcher refuses bytes that do not match. */
  readonly digest: string
  /** Where the artifact server serves it. */
  readonly url: string
  /** Storage-relative path, e.g. `gitrepository/<ns>/<name>/<commit>.tar.gz`. */
  readonly path: string
  readonly lastUpdateTime: string
}

/** The artifact of a GitRepository's status, or undefined while it has none (not yet reconciled, or failing). */
export const sourceArtifactOf = (repo: GitRepository): SourceArtifact | undefined => {
  const a = repo.status?.artifact
  if (a === undefined || a.digest === undefined) return undefined
  return {
    kind: "GitRepository",
    namespace: repo.metadata.namespace ?? "",
    name: repo.metadata.name ?? "",
    revision: a.revision,
    digest: a.digest,
    url: a.url,
    path: a.path,
    lastUpdateTime: a.lastUpdateTime,
  }
}

/** The artifact could not be had: download failed, digest mismatch, or a bad archive. Reason ArtifactFailed. */
export class ArtifactFetchError extends Data.TaggedError("ArtifactFetchError")<{
  readonly source: string
  readonly url: string
  readonly message: string
  /**
   * A 404, a network error or a digest mismatch may heal (the source is re-publishing, or the status the caller
   * read is already stale); an oversized or unreadable archive won't.
   */
  readonly transient: boolean
  /** Only download failures are retried inside `fetch`; a mismatch needs the caller to re-read the status. */
  readonly stage: "download" | "verify" | "extract"
}> {
  readonly reason = "ArtifactFailed"
}

export interface FetchOptions {
  /** Refuse larger artifacts (Flux's default is 50 MiB; ours is bigger because monorepos exist). */
  readonly maxBytes?: number
}

const defaultMaxBytes = 512 * 1024 * 1024

const sourceName = (a: SourceArtifact) => `${a.kind}/${a.namespace}/${a.name}`

export class ArtifactFetcher extends Context.Service<
  ArtifactFetcher,
  {
    /**
     * Extract `artifact` into `dir` (created if missing). Only regular files and directories are extracted,
     * never outside `dir`.
     */
    readonly fetch: (
      artifact: SourceArtifact,
      dir: string,
      options?: FetchOptions,
    ) => Effect.Effect<void, ArtifactFetchError>
  }
>()("kustodian/stages/fetch/ArtifactFetcher") {
  /** Uses the local ArtifactStorage when one is in context (the operator), HTTP otherwise. */
  static readonly layer = Layer.effect(
    ArtifactFetcher,
    Effect.gen(function* () {
      const storage = yield* Effect.serviceOption(ArtifactStorage)

      const open = (
        artifact: SourceArtifact,
        maxBytes: number,
      ): Effect.Effect<Readable, ArtifactFetchError> => {
        const fail = (message: string, transient: boolean) =>
          new ArtifactFetchError({
            source: sourceName(artifact),
            url: artifact.url,
            message,
            transient,
            stage: "download",
          })
        if (Option.isSome(storage) && artifact.url === storage.value.urlOf(artifact.path)) {
          const s = storage.value
          return s.localPath(artifact.path).pipe(
            Effect.mapError((e) => fail(e.message, false)),
            Effect.flatMap((p) =>
              s
                .exists(artifact.path)
                .pipe(
                  Effect.flatMap((ok) =>
                    ok
                      ? Effect.succeed(createReadStream(p))
                      : Effect.fail(fail("artifact not found in storage", true)),
                  ),
                ),
            ),
          )
        }
        return Effect.tryPromise({
          try: (signal) => fetch(artifact.url, { signal }),
          catch: (e) => fail(`download failed: ${(e as Error).message}`, true),
        }).pipe(
          Effect.flatMap((res) => {
            if (res.status !== 200 || res.body === null)
              return Effect.fail(
                fail(`download failed: HTTP ${res.status}`, res.status === 404 || res.status >= 500),
              )
            const length = Number(res.headers.get("content-length") ?? "0")
            if (length > maxBytes)
              return Effect.fail(
                fail(`artifact is ${length} bytes, more than the limit of ${maxBytes}`, false),
              )
            return Effect.succeed(Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>))
          }),
        )
      }

      const download = Effect.fn("ArtifactFetcher.download")(function* (
        artifact: SourceArtifact,
        file: string,
        maxBytes: number,
      ) {
        const fail = (message: string, transient: boolean, stage: "download" | "verify" = "download") =>
          new ArtifactFetchError({
            source: sourceName(artifact),
            url: artifact.url,
            message,
            transient,
            stage,
          })
        const stream = yield* open(artifact, maxBytes)
        const hash = createHash("sha256")
        let size = 0
        const measure = new Transform({
          transform(chunk: Buffer, _enc, done) {
            size += chunk.length
            if (size > maxBytes) done(new Error(`artifact exceeds the limit of ${maxBytes} bytes`))
            else {
              hash.update(chunk)
              done(null, chunk)
            }
          },
        })
        yield* Effect.tryPromise({
          try: () => pipeline(stream, measure, createWriteStream(file, { mode: 0o600 })),
          catch: (e) => fail(`download failed: ${(e as Error).message}`, true),
        })
        const [algo, expected] = artifact.digest.split(":")
        if (algo !== "sha256")
          return yield* fail(
            `unsupported digest algorithm '${algo}' (only sha256 is supported)`,
            false,
            "verify",
          )
        const actual = hash.digest("hex")
        if (actual !== expected)
          return yield* fail(
            `digest mismatch: expected sha256:${expected}, got sha256:${actual}`,
            true,
            "verify",
          )
      })

      const fetchArtifact = Effect.fn("ArtifactFetcher.fetch")(function* (
        artifact: SourceArtifact,
        dir: string,
        options?: FetchOptions,
      ) {
        yield* Effect.annotateCurrentSpan({
          "artifact.revision": artifact.revision,
          "artifact.url": artifact.url,
        })
        const maxBytes = options?.maxBytes ?? defaultMaxBytes
        const file = yield* Effect.acquireRelease(
          Effect.sync(() => join(tmpdir(), `kustodian-artifact-${randomBytes(8).toString("hex")}.tar.gz`)),
          (f) => Effect.promise(() => rm(f, { force: true })),
        )
        yield* download(artifact, file, maxBytes).pipe(
          Effect.retry({
            schedule: Schedule.exponential("250 millis").pipe(Schedule.jittered),
            times: 4,
            while: (e) => e.transient && e.stage === "download",
          }),
        )
        yield* Effect.tryPromise({
          try: async () => {
            await mkdir(dir, { recursive: true })
            await tar.x({
              file,
              cwd: dir,
              strict: true,
              // Only plain files and directories: an artifact may not plant links pointing elsewhere.
              filter: (_path, entry) =>
                "type" in entry && (entry.type === "File" || entry.type === "Directory"),
            })
          },
          catch: (e) =>
            new ArtifactFetchError({
              source: sourceName(artifact),
              url: artifact.url,
              message: `cannot extract artifact: ${(e as Error).message}`,
              transient: false,
              stage: "extract",
            }),
        })
      }, Effect.scoped)

      return ArtifactFetcher.of({ fetch: fetchArtifact })
    }),
  )
}
