/**
 * The fetcher's caps on what a build downloads and extracts: the tarball's size, the sum of the sizes its
 * entries announce and their count. A refused archive writes no file past the cap; the message names the
 * source and the flag.
 */
import { mkdtemp, open, readdir, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { defaultLimits } from "../../limits.ts"
import { ArtifactFetcher, type FetcherLimits } from "./source-artifact.ts"
import { SourceIgnore } from "./source-ignore.ts"
import { ArtifactStorage } from "./storage.ts"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "kustodian-extract-test-"))),
  (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
)

/** Stores `files` (path → bytes, or a number: a sparse file of that size) as an artifact; fetches it back. */
const roundTrip = (files: Record<string, string | number>, limits: FetcherLimits) =>
  Effect.gen(function* () {
    const root = yield* tempDir
    const src = yield* tempDir
    const out = yield* tempDir
    yield* Effect.promise(async () => {
      for (const [name, content] of Object.entries(files)) {
        if (typeof content === "string") await writeFile(join(src, name), content)
        else {
          const f = await open(join(src, name), "w")
          await f.truncate(content)
          await f.close()
        }
      }
    })
    const result = yield* Effect.gen(function* () {
      const storage = yield* ArtifactStorage
      const fetcher = yield* ArtifactFetcher
      const owner = { kind: "gitrepository", namespace: "team-a", name: "app" }
      const a = yield* storage.store(
        owner,
        "main@sha1:abc",
        "a".repeat(40),
        src,
        SourceIgnore.forSpec(undefined),
      )
      const source = { kind: "GitRepository", namespace: "team-a", name: "app", ...a }
      return yield* Effect.result(fetcher.fetch(source, out))
    }).pipe(
      Effect.provide(
        ArtifactFetcher.layerWith(limits).pipe(
          Layer.provideMerge(ArtifactStorage.layer({ root, advertisedAddress: "x:1", retention: 2 })),
        ),
      ),
    )
    return { result, written: yield* Effect.promise(() => readdir(out)) }
  }).pipe(Effect.scoped)

describe("artifact extraction caps", () => {
  it.live("refuses an archive that extracts to more than the size cap, writing nothing of the big file", () =>
    Effect.gen(function* () {
      const { result, written } = yield* roundTrip(
        { "a.yaml": "a: 1\n", "big.bin": 8 * 1024 * 1024 },
        { ...defaultLimits, maxExtractedSize: 1024 * 1024 },
      )
      expect(result._tag === "Failure" && result.failure.message).toBe(
        "GitRepository/team-a/app: the artifact is refused: it extracts to more than 1 MiB (raise it with --max-extracted-size)",
      )
      expect(result._tag === "Failure" && result.failure.transient).toBe(false)
      expect(written).not.toContain("big.bin")
    }),
  )

  it.live("refuses too many entries and too large a tarball; extracts what fits", () =>
    Effect.gen(function* () {
      const many = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}.yaml`, `i: ${i}\n`]))
      const entries = yield* roundTrip(many, { ...defaultLimits, maxExtractedFiles: 10 })
      expect(entries.result._tag === "Failure" && entries.result.failure.message).toMatch(
        /more than 10 entries \(raise it with --max-extracted-files\)$/,
      )
      expect(entries.written.length).toBeLessThanOrEqual(10)

      const tarball = yield* roundTrip(many, { ...defaultLimits, maxArtifactSize: 100 })
      expect(tarball.result._tag === "Failure" && tarball.result.failure.message).toBe(
        "artifact more than the limit of 100 bytes (raise it with --max-artifact-size)",
      )

      const fits = yield* roundTrip(many, defaultLimits)
      expect(fits.result._tag).toBe("Success")
      expect(fits.written).toHaveLength(30)
    }),
  )
})
