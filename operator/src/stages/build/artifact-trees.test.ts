import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import { scopedTempDir, writeTree } from "../pipeline/testing/scenario.ts"
import type { ArtifactRef } from "./artifact.ts"
import { ArtifactUnpacker } from "./artifact.ts"
import { ArtifactTrees } from "./artifact-trees.ts"

/** The local-directory unpacker (a real copy), counting its calls. */
const countingUnpacker = (calls: Array<string>) =>
  Layer.effect(
    ArtifactUnpacker,
    Effect.gen(function* () {
      const local = yield* ArtifactUnpacker
      return ArtifactUnpacker.of({
        unpack: (artifact, dir) => {
          calls.push(artifact.digest)
          return local.unpack(artifact, dir)
        },
      })
    }),
  ).pipe(Layer.provide(ArtifactUnpacker.layerLocalDirectory))

const ref = (dir: string, digest: string, name = "repo"): ArtifactRef => ({
  url: dir,
  digest,
  revision: `main@sha1:${digest.slice(-4)}`,
  kind: "GitRepository",
  namespace: "apps",
  name,
})

/** Runs `body` with a fresh ArtifactTrees service over a counting unpacker; the service is closed after. */
const withTrees = <A, E>(
  body: (trees: ArtifactTrees["Service"], calls: Array<string>) => Effect.Effect<A, E>,
) => {
  const calls: Array<string> = []
  return Effect.flatMap(ArtifactTrees, (trees) => body(trees, calls)).pipe(
    Effect.provide(ArtifactTrees.layer().pipe(Layer.provide(countingUnpacker(calls)))),
  )
}

const mode = (p: string) => fs.statSync(p).mode & 0o777

describe("ArtifactTrees", () => {
  it.effect("extracts a digest once for concurrent builds, read-only", () =>
    Effect.gen(function* () {
      const src = yield* scopedTempDir()
      writeTree(src, { "app/cm.yaml": "kind: ConfigMap\n" })
      const dirs = yield* withTrees((trees, calls) =>
        Effect.gen(function* () {
          const scope = yield* Scope.make()
          const got = yield* Effect.all(
            Array.from({ length: 5 }, () => trees.acquire(ref(src, "sha256:aaaa"))),
            { concurrency: "unbounded" },
          ).pipe(Scope.provide(scope))
          expect(calls).toEqual(["sha256:aaaa"])
          expect(new Set(got).size).toBe(1)
          expect(fs.readFileSync(path.join(got[0]!, "app/cm.yaml"), "utf8")).toBe("kind: ConfigMap\n")
          expect(mode(got[0]!)).toBe(0o500)
          expect(mode(path.join(got[0]!, "app/cm.yaml"))).toBe(0o400)
          yield* Scope.close(scope, Exit.void)
          // Idle but still the source's newest digest: kept for the next build.
          expect(fs.existsSync(got[0]!)).toBe(true)
          const again = yield* trees.acquire(ref(src, "sha256:aaaa")).pipe(Effect.scoped)
          expect(again).toBe(got[0])
          expect(calls).toEqual(["sha256:aaaa"])
          return got
        }),
      )
      // The service's end removes every tree.
      expect(fs.existsSync(dirs[0]!)).toBe(false)
    }).pipe(Effect.scoped),
  )

  it.effect("removes a tree once a newer digest of its source is acquired and nobody holds it", () =>
    Effect.gen(function* () {
      const src = yield* scopedTempDir()
      writeTree(src, { "a.yaml": "a\n" })
      yield* withTrees((trees, calls) =>
        Effect.gen(function* () {
          const held = yield* Scope.make()
          const old = yield* trees.acquire(ref(src, "sha256:0001")).pipe(Scope.provide(held))
          const next = yield* trees.acquire(ref(src, "sha256:0002")).pipe(Effect.scoped)
          expect(next).not.toBe(old)
          // Still held by a build: not removed under it.
          expect(fs.existsSync(old)).toBe(true)
          yield* Scope.close(held, Exit.void)
          expect(fs.existsSync(old)).toBe(false)
          expect(fs.existsSync(next)).toBe(true)
          // Another source's tree is not affected by this source's revisions.
          const other = yield* trees.acquire(ref(src, "sha256:0003", "other")).pipe(Effect.scoped)
          expect(fs.existsSync(other)).toBe(true)
          expect(fs.existsSync(next)).toBe(true)
          expect(trees.digests().toSorted()).toEqual(["sha256:0002", "sha256:0003"])
          expect(calls).toEqual(["sha256:0001", "sha256:0002", "sha256:0003"])
        }),
      )
    }).pipe(Effect.scoped),
  )

  it.effect("gives an artifact without a digest a private tree, removed with its build", () =>
    Effect.gen(function* () {
      const src = yield* scopedTempDir()
      writeTree(src, { "a.yaml": "first\n" })
      yield* withTrees((trees, calls) =>
        Effect.gen(function* () {
          const first = yield* trees.acquire(ref(src, "")).pipe(
            Effect.tap((d) =>
              Effect.sync(() => expect(fs.readFileSync(path.join(d, "a.yaml"), "utf8")).toBe("first\n")),
            ),
            Effect.scoped,
          )
          expect(fs.existsSync(first)).toBe(false)
          // The directory changed under the same name: the next build sees the change.
          fs.writeFileSync(path.join(src, "a.yaml"), "second\n")
          const second = yield* trees.acquire(ref(src, "")).pipe(
            Effect.map((d) => fs.readFileSync(path.join(d, "a.yaml"), "utf8")),
            Effect.scoped,
          )
          expect(second).toBe("second\n")
          expect(calls).toEqual(["", ""])
          expect(trees.digests()).toEqual([])
        }),
      )
    }).pipe(Effect.scoped),
  )

  it.effect("forgets a failed extraction, so the next build tries again", () =>
    Effect.gen(function* () {
      const src = yield* scopedTempDir()
      const missing = path.join(src, "not-yet")
      yield* withTrees((trees, calls) =>
        Effect.gen(function* () {
          const failed = yield* trees.acquire(ref(missing, "sha256:bbbb")).pipe(Effect.scoped, Effect.exit)
          expect(Exit.isFailure(failed)).toBe(true)
          writeTree(missing, { "a.yaml": "a\n" })
          const dir = yield* trees.acquire(ref(missing, "sha256:bbbb")).pipe(Effect.scoped)
          expect(fs.readFileSync(path.join(dir, "a.yaml"), "utf8")).toBe("a\n")
          expect(calls).toEqual(["sha256:bbbb", "sha256:bbbb"])
        }),
      )
    }).pipe(Effect.scoped),
  )

  it.effect("refuses a tree holding a link that leaves it, naming the link, and keeps nothing", () =>
    Effect.gen(function* () {
      const src = yield* scopedTempDir()
      writeTree(src, { "app/cm.yaml": "a\n" })
      fs.symlinkSync("/etc/hostname", path.join(src, "app/leak.yaml"))
      yield* withTrees((trees) =>
        Effect.gen(function* () {
          const exit = yield* trees.acquire(ref(src, "sha256:cccc")).pipe(Effect.scoped, Effect.exit)
          const error = Exit.isFailure(exit) ? JSON.stringify(exit.cause) : expect.fail("acquired")
          expect(error).toContain("BuildFailed")
          expect(error).toContain("symlink 'app/leak.yaml' points outside the artifact root")
          expect(trees.digests()).toEqual([])
        }),
      )
    }).pipe(Effect.scoped),
  )
})
