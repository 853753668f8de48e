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
import { join } from "node:path"
import { Readable, Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import type { ReadableStream as WebReadableStream } from "node:stream/web"
import { Context, Data, Effect, Layer, Option, Schedule } from "effect"
import * as tar from "tar"
import type { GitRepository } from "../../../../model/gitrepository.ts"
import { formatRef } from "../../kube/object.ts"
import { defaultLimits, formatLimit, type Limits, limitFlag } from "../../limits.ts"
import { tempRoot } from "../../temp-root.ts"
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
  /** Refuse larger tarballs (default: the layer's `--max-artifact-size`). */
  readonly maxBytes?: number
}

/** The caps the fetcher enforces: the tarball's size, then what it extracts to. */
export type FetcherLimits = Pick<Limits, "maxArtifactSize" | "maxExtractedSize" | "maxExtractedFiles">

/** undici says only "fetch failed"; what failed (ECONNREFUSED, a reset, …) is in its cause. */
const networkError = (e: unknown): string => {
  const message = e instanceof Error ? e.message : String(e)
  const cause = e instanceof Error ? (e.cause as { message?: unknown } | undefined)?.message : undefined
  return typeof cause === "string" && cause !== "" ? `${message}: ${cause}` : message
}

/** Raised by the download's byte counter. */
class DownloadTooLarge extends Error {}

const tooLarge = (maxBytes: number) =>
  `more than the limit of ${formatLimit("maxArtifactSize", maxBytes)} (raise it with ${limitFlag("maxArtifactSize")})`

/** Raised inside the unpacker when the archive extracts to more than the caps allow. */
export class ExtractionTooLarge extends Error {}

/**
 * Extracts the tarball `file` into `dir`, counting every entry and the sizes its headers announce **before**
 * tar writes it. Past a cap nothing more is written: the rest of the archive is only read through (tar's own
 * decompression-ratio guard bounds that for a gzip bomb), and the extraction fails once tar has closed, so
 * no write is still in flight when the caller removes the directory.
 */
const extractCapped = (file: string, dir: string, limits: FetcherLimits, subject: string) =>
  new Promise<{ readonly bytes: number; readonly entries: number }>((resolve, reject) => {
    let entries = 0
    let bytes = 0
    let refused: ExtractionTooLarge | undefined
    const unpack = new tar.Unpack({
      cwd: dir,
      strict: true,
      filter: (_path, entry) => {
        // Only plain files and directories: an artifact may not plant links pointing elsewhere.
        if (!("type" in entry) || (entry.type !== "File" && entry.type !== "Directory")) return false
        if (refused !== undefined) return false
        entries++
        bytes += entry.size ?? 0
        const over =
          entries > limits.maxExtractedFiles
            ? `it has more than ${formatLimit("maxExtractedFiles", limits.maxExtractedFiles)} entries ` +
              `(raise it with ${limitFlag("maxExtractedFiles")})`
            : bytes > limits.maxExtractedSize
              ? `it extracts to more than ${formatLimit("maxExtractedSize", limits.maxExtractedSize)} ` +
                `(raise it with ${limitFlag("maxExtractedSize")})`
              : undefined
        if (over === undefined) return true
        refused = new ExtractionTooLarge(`${subject}: the artifact is refused: ${over}`)
        return false
      },
    })
    // tar's own guard (decompression ratio over 1000, a gzip bomb) may stop it after our refusal: ours names
    // the cap that was hit first.
    unpack.on("error", (e: Error) => reject(refused ?? e))
    unpack.on("close", () => (refused === undefined ? resolve({ bytes, entries }) : reject(refused)))
    const input = createReadStream(file)
    input.on("error", reject)
    input.pipe(unpack)
  })

/** Extract a local artifact tarball into `dir` under the same rules and caps (`spec.include` copies). */
export const extractArtifactFile = (file: string, dir: string, limits: FetcherLimits, subject: string) =>
  extractCapped(file, dir, limits, subject)

const sourceName = (a: SourceArtifact) => formatRef(a)

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
  static readonly layerWith = (limits: FetcherLimits) =>
    Layer.effect(
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
            // Flux's words (fluxcd/pkg http/fetch), with the request and the network error's own cause.
            catch: (e) => fail(`failed to download archive: GET ${artifact.url}: ${networkError(e)}`, true),
          }).pipe(
            Effect.flatMap((res) => {
              if (res.status !== 200 || res.body === null)
                return Effect.fail(
                  fail(
                    `failed to download archive from ${artifact.url} (status: ${res.status} ${res.statusText})`,
                    res.status === 404 || res.status >= 500,
                  ),
                )
              const length = Number(res.headers.get("content-length") ?? "0")
              if (length > maxBytes)
                return Effect.fail(fail(`artifact is ${length} bytes, ${tooLarge(maxBytes)}`, false))
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
              if (size > maxBytes) done(new DownloadTooLarge())
              else {
                hash.update(chunk)
                done(null, chunk)
              }
            },
          })
          yield* Effect.tryPromise({
            try: () => pipeline(stream, measure, createWriteStream(file, { mode: 0o600 })),
            catch: (e) =>
              e instanceof DownloadTooLarge
                ? fail(`artifact ${tooLarge(maxBytes)}`, false)
                : fail(`failed to download archive: GET ${artifact.url}: ${networkError(e)}`, true),
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
          const maxBytes = options?.maxBytes ?? limits.maxArtifactSize
          const file = yield* Effect.acquireRelease(
            Effect.sync(() =>
              join(tempRoot(), `kustodian-artifact-${randomBytes(8).toString("hex")}.tar.gz`),
            ),
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
              await extractCapped(file, dir, limits, sourceName(artifact))
            },
            catch: (e) =>
              new ArtifactFetchError({
                source: sourceName(artifact),
                url: artifact.url,
                message:
                  e instanceof ExtractionTooLarge
                    ? e.message
                    : `cannot extract artifact: ${(e as Error).message}`,
                transient: false,
                stage: "extract",
              }),
          })
        }, Effect.scoped)

        return ArtifactFetcher.of({ fetch: fetchArtifact })
      }),
    )

  /** With the default limits. */
  static readonly layer = ArtifactFetcher.layerWith(defaultLimits)
}
