/**
 * Checkout caps against a real git server: a 1 GiB sparse file and a tree with too many files are refused
 * from the tree's recorded sizes, before git writes a single file of the checkout, on both checkout paths
 * (shallow clone of a branch, stepwise fetch of a commit). The tarball cap stops the artifact write.
 */
import { execFile } from "node:child_process"
import { mkdtemp, open, readdir, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { commitFiles, createBareRepo, gitHttpServer } from "../../../../e2e/support/git-server.ts"
import { tempRoot } from "../../temp-root.ts"
import { checkTree, sumTree } from "./checkout-caps.ts"
import { InvalidSpecError } from "./errors.ts"
import { Git } from "./git.ts"
import { materializeAuth } from "./git-auth.ts"
import { resolveRef, selectRef } from "./git-ref.ts"
import { GitSource } from "./git-source.ts"
import { ArtifactStorage } from "./storage.ts"

const run = promisify(execFile)
const GiB = 1024 * 1024 * 1024

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "kustodian-caps-test-"))),
  (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
)

/** Pushes a commit holding `big.bin`, a sparse file of 1 GiB (about a megabyte once packed), to `bare`. */
const pushSparseGiB = async (bare: string, work: string): Promise<string> => {
  const git = (...args: string[]) =>
    run("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], { cwd: work })
  await git("init", "-q", "--initial-branch=main", ".")
  await writeFile(join(work, "app.yaml"), "a: 1\n")
  const f = await open(join(work, "big.bin"), "w")
  await f.truncate(GiB)
  await f.close()
  await git("add", "--all")
  await git("commit", "-q", "-m", "sparse")
  await git("push", "-q", bare, "HEAD:refs/heads/main")
  return (await git("rev-parse", "HEAD")).stdout.trim()
}

const caps = { maxBytes: 16 * 1024 * 1024, maxFiles: 100, subject: "GitRepository 'default/app'" }

const checkoutInto = (url: string, dir: string, ref: { branch: string } | { commit: string }) =>
  Effect.gen(function* () {
    const git = yield* Git
    const auth = yield* materializeAuth(new URL(url), undefined)
    const opts = { auth, timeout: Duration.seconds(60) }
    const selector = selectRef(ref)
    if (selector instanceof InvalidSpecError) return yield* selector
    const resolved =
      "commit" in ref ? resolveRef(selector, new Map())! : yield* git.resolve(url, selector, opts)
    return yield* Effect.result(git.checkout(url, resolved, dir, { ...opts, recurseSubmodules: false, caps }))
  }).pipe(Effect.scoped, Effect.provide(Git.layer))

describe("checkout caps", () => {
  it("sums ls-tree output and names the largest file", () => {
    const out =
      "100644 blob 78981922613b2afb6025042ff6bd878ac1994e85       2\ta\0" +
      "100644 blob 4fce05a4e4ed8cefef2d99f32c519b2fd7841b74 1073741824\tdir/big\nname\0" +
      "160000 commit 4fce05a4e4ed8cefef2d99f32c519b2fd7841b74       -\tsub\0"
    const size = sumTree(out)
    expect(size).toEqual({ bytes: GiB + 2, files: 3, largest: { path: "dir/big\nname", bytes: GiB } })
    const refused = checkTree(size, caps, "the checkout")
    expect(refused?.limit).toBe("maxCheckoutSize")
    expect(refused?.message).toContain("GitRepository 'default/app'")
    expect(refused?.message).toContain("--max-checkout-size")
    // The offending path is named, escaped: a newline in a file name cannot forge a second log line.
    expect(refused?.message).toContain('"dir/big\\nname"')
    expect(checkTree(size, { ...caps, maxBytes: 2 * GiB }, "the checkout")).toBeUndefined()
  })

  it.live(
    "refuses a 1 GiB sparse file before writing it, on the clone and the stepwise path",
    () =>
      Effect.gen(function* () {
        const server = yield* gitHttpServer()
        const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "sparse"))
        const work = yield* tempDir
        const commit = yield* Effect.promise(() => pushSparseGiB(bare, work))
        const url = server.repoUrl("sparse")
        for (const ref of [{ branch: "main" }, { commit }]) {
          const dir = yield* tempDir
          const result = yield* checkoutInto(url, dir, ref)
          expect(result._tag, JSON.stringify(ref)).toBe("Failure")
          if (result._tag !== "Failure") continue
          expect(result.failure._tag).toBe("LimitExceededError")
          expect(result.failure.message).toContain('"big.bin" (1073741824 bytes)')
          // Only git's object store is there: not one file of the tree was written.
          expect(yield* Effect.promise(() => readdir(dir))).toEqual([".git"])
        }
      }).pipe(Effect.scoped),
    120_000,
  )

  it.live("refuses a tree with too many files, and checks a tree within the caps out", () =>
    Effect.gen(function* () {
      const server = yield* gitHttpServer()
      const many = yield* Effect.promise(() => createBareRepo(server.reposDir, "many"))
      const files = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`f/${i}.yaml`, `i: ${i}\n`]))
      yield* Effect.promise(() => commitFiles(many, files))
      const dir = yield* tempDir
      const refused = yield* checkoutInto(server.repoUrl("many"), dir, { branch: "main" })
      expect(refused._tag === "Failure" && refused.failure._tag).toBe("LimitExceededError")
      expect(refused._tag === "Failure" && refused.failure.message).toMatch(
        /has 150 files, more than the limit of 100 \(raise it with --max-checkout-files\)/,
      )

      const small = yield* Effect.promise(() => createBareRepo(server.reposDir, "small"))
      yield* Effect.promise(() => commitFiles(small, { "a.yaml": "a: 1\n", "b/c.yaml": "c: 1\n" }))
      const ok = yield* tempDir
      const done = yield* checkoutInto(server.repoUrl("small"), ok, { branch: "main" })
      expect(done._tag).toBe("Success")
      expect((yield* Effect.promise(() => readdir(ok))).sort()).toEqual([".git", "a.yaml", "b"])
    }).pipe(Effect.scoped),
  )

  it.live("GitSource names the GitRepository and leaves no checkout behind; the tarball cap holds", () =>
    Effect.gen(function* () {
      const server = yield* gitHttpServer()
      const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "app"))
      // Random bytes do not compress: a 200 KiB file makes a tarball over a 100 KiB cap.
      const noise = Buffer.from(Array.from({ length: 200 * 1024 }, () => Math.floor(Math.random() * 256)))
      yield* Effect.promise(() => commitFiles(bare, { "a.yaml": "a: 1\n", "noise.bin": noise }))
      const root = yield* tempDir
      const reconcile = (
        limits: { maxCheckoutSize: number; maxCheckoutFiles: number },
        maxArtifactSize: number,
      ) =>
        Effect.gen(function* () {
          const source = yield* GitSource
          return yield* Effect.result(
            source.reconcile({
              owner: { kind: "gitrepository", namespace: "team-a", name: "app" },
              url: server.repoUrl("app"),
              ref: { branch: "main" },
              timeout: Duration.seconds(30),
              recurseSubmodules: false,
              ignore: undefined,
              secret: undefined,
              previous: undefined,
            }),
          )
        }).pipe(
          Effect.provide(
            GitSource.layerWith(limits).pipe(
              Layer.provide(Git.layer),
              Layer.provide(
                ArtifactStorage.layer({ root, advertisedAddress: "x:1", retention: 2, maxArtifactSize }),
              ),
            ),
          ),
        )
      const tooBig = yield* reconcile({ maxCheckoutSize: 1024, maxCheckoutFiles: 10 }, GiB)
      expect(tooBig._tag === "Failure" && tooBig.failure.message).toMatch(
        /^GitRepository 'team-a\/app': the checkout is \d+ bytes, more than the limit of 1 KiB/,
      )
      const tarball = yield* reconcile({ maxCheckoutSize: GiB, maxCheckoutFiles: 10 }, 100 * 1024)
      expect(tarball._tag === "Failure" && tarball.failure._tag).toBe("LimitExceededError")
      expect(tarball._tag === "Failure" && tarball.failure.message).toBe(
        "GitRepository 'team-a/app': the artifact tarball exceeds the limit of 100 KiB (raise it with --max-artifact-size)",
      )
      // Neither the checkout nor the partial tarball is left anywhere.
      const left = (yield* Effect.promise(() => readdir(tempRoot()))).filter((n) =>
        n.startsWith("kustodian-checkout-"),
      )
      expect(left).toEqual([])
      const stored = yield* Effect.promise(() =>
        readdir(join(root, "gitrepository/team-a/app")).catch(() => []),
      )
      expect(stored).toEqual([])
    }).pipe(Effect.scoped),
  )
})
