import { createHash } from "node:crypto"
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as tar from "tar"
import { listArtifactFiles } from "./archive.ts"
import { ArtifactServer } from "./artifact-server.ts"
import { ArtifactFetcher, type SourceArtifact } from "./source-artifact.ts"
import { SourceIgnore } from "./source-ignore.ts"
import { ArtifactStorage } from "./storage.ts"

const tree = (files: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const dir = await mkdtemp(join(tmpdir(), "kustodian-tree-"))
      for (const [path, content] of Object.entries(files)) {
        await mkdir(dirname(join(dir, path)), { recursive: true })
        await writeFile(join(dir, path), content)
      }
      return dir
    }),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true })),
  )

const repo = {
  ".git/HEAD": "ref: refs/heads/main\n",
  ".gitignore": "x\n",
  ".github/workflows/ci.yaml": "on: push\n",
  ".sops.yaml": "creation_rules: []\n",
  "logo.png": "png",
  "deploy/app.yaml": "kind: ConfigMap\n",
  "deploy/.sourceignore": "*.md\n!keep.md\n",
  "deploy/README.md": "docs\n",
  "deploy/keep.md": "kept\n",
  "README.md": "top\n",
  "nested/.flux.yaml": "x\n",
}

describe("artifact file selection", () => {
  it.effect("applies Flux's default exclusions and .sourceignore files", () =>
    Effect.gen(function* () {
      const dir = yield* tree(repo)
      yield* Effect.promise(() => symlink("/etc/passwd", join(dir, "leak")))
      const files = yield* Effect.promise(() => listArtifactFiles(dir, SourceIgnore.forSpec(undefined)))
      expect(files).toEqual(["README.md", "deploy/.sourceignore", "deploy/app.yaml", "deploy/keep.md"])
    }).pipe(Effect.scoped),
  )

  it.effect("spec.ignore replaces the defaults but never lets .git in", () =>
    Effect.gen(function* () {
      const dir = yield* tree(repo)
      const files = yield* Effect.promise(() => listArtifactFiles(dir, SourceIgnore.forSpec("README.md\n")))
      expect(files).toContain(".sops.yaml")
      expect(files).toContain("logo.png")
      expect(files).not.toContain("README.md")
      expect(files.some((f) => f.startsWith(".git/"))).toBe(false)
      expect(files).not.toContain(".gitignore")
    }).pipe(Effect.scoped),
  )
})

const storageLayer = (root: string) =>
  ArtifactServer.layer({ port: 0, host: "127.0.0.1" }).pipe(
    Layer.provideMerge(
      ArtifactStorage.layer({ root, advertisedAddress: "artifacts.test:9090", retention: 2 }),
    ),
  )

describe("ArtifactStorage + ArtifactServer", () => {
  it.live("stores a reproducible tarball, serves it, and keeps only the newest artifacts", () =>
    Effect.gen(function* () {
      const root = yield* tree({})
      const src = yield* tree(repo)
      const owner = { kind: "gitrepository", namespace: "default", name: "podinfo" }
      const program = Effect.gen(function* () {
        const storage = yield* ArtifactStorage
        const server = yield* ArtifactServer
        const rules = SourceIgnore.forSpec(undefined)
        const a = yield* storage.store(owner, `main@sha1:${"a".repeat(40)}`, "a".repeat(40), src, rules)
        expect(a.path).toBe(`gitrepository/default/podinfo/${"a".repeat(40)}.tar.gz`)
        expect(a.url).toBe(`http://artifacts.test:9090/${a.path}`)
        expect(a.digest).toMatch(/^sha256:[0-9a-f]{64}$/)

        // The same tree gives the same bytes.
        const again = yield* storage.store(owner, `main@sha1:${"b".repeat(40)}`, "b".repeat(40), src, rules)
        expect(again.digest).toBe(a.digest)

        const res = yield* Effect.promise(() => fetch(`http://127.0.0.1:${server.port}/${a.path}`))
        expect(res.status).toBe(200)
        const body = Buffer.from(yield* Effect.promise(() => res.arrayBuffer()))
        expect(`sha256:${createHash("sha256").update(body).digest("hex")}`).toBe(a.digest)

        const out = yield* tree({})
        const tarball = join(out, "a.tar.gz")
        yield* Effect.promise(() => writeFile(tarball, body))
        const entries: string[] = []
        yield* Effect.promise(() => tar.t({ file: tarball, onReadEntry: (e) => entries.push(e.path) }))
        expect(entries.sort()).toEqual([
          "README.md",
          "deploy/.sourceignore",
          "deploy/app.yaml",
          "deploy/keep.md",
        ])

        for (const bad of ["../../etc/passwd", "gitrepository/default/podinfo/missing.tar.gz", "x.txt"]) {
          const r = yield* Effect.promise(() => fetch(`http://127.0.0.1:${server.port}/${bad}`))
          expect(r.status).toBe(404)
        }

        yield* Effect.sleep("20 millis")
        const c = yield* storage.store(owner, `main@sha1:${"c".repeat(40)}`, "c".repeat(40), src, rules)
        const removed = yield* storage.collect(owner, c.path)
        expect(removed).toEqual([`gitrepository/default/podinfo/${"a".repeat(40)}.tar.gz`])
        const left = yield* Effect.promise(() => readdir(join(root, "gitrepository/default/podinfo")))
        expect(left.sort()).toEqual([`${"b".repeat(40)}.tar.gz`, `${"c".repeat(40)}.tar.gz`])
        expect(yield* storage.exists(a.path)).toBe(false)
        expect(yield* storage.exists(c.path)).toBe(true)
      })
      yield* program.pipe(Effect.provide(storageLayer(root)))
    }).pipe(Effect.scoped),
  )
})

describe("ArtifactFetcher", () => {
  it.live(
    "extracts a served artifact after checking its digest, locally or over HTTP, and refuses a wrong digest",
    () =>
      Effect.gen(function* () {
        const root = yield* tree({})
        const src = yield* tree(repo)
        const owner = { kind: "gitrepository", namespace: "default", name: "podinfo" }
        const commit = "d".repeat(40)
        const { artifact, port } = yield* Effect.gen(function* () {
          const storage = yield* ArtifactStorage
          const server = yield* ArtifactServer
          const artifact = yield* storage.store(
            owner,
            `main@sha1:${commit}`,
            commit,
            src,
            SourceIgnore.forSpec(undefined),
          )
          return { artifact, port: server.port }
        }).pipe(Effect.provide(storageLayer(root)))
        const source: SourceArtifact = {
          kind: "GitRepository",
          namespace: "default",
          name: "podinfo",
          revision: artifact.revision,
          digest: artifact.digest,
          url: `http://127.0.0.1:${port}/${artifact.path}`,
          path: artifact.path,
          lastUpdateTime: artifact.lastUpdateTime,
        }
        // Over HTTP (no storage in context): the server is gone with its layer, so start one again.
        yield* Effect.gen(function* () {
          const server = yield* ArtifactServer
          const fetcher = yield* ArtifactFetcher
          const out = yield* tree({})
          yield* fetcher.fetch({ ...source, url: `http://127.0.0.1:${server.port}/${artifact.path}` }, out)
          expect(yield* Effect.promise(() => readFile(join(out, "deploy/app.yaml"), "utf8"))).toBe(
            "kind: ConfigMap\n",
          )

          const wrong = yield* Effect.result(
            fetcher.fetch(
              {
                ...source,
                url: `http://127.0.0.1:${server.port}/${artifact.path}`,
                digest: `sha256:${"0".repeat(64)}`,
              },
              yield* tree({}),
            ),
          )
          expect(wrong._tag).toBe("Failure")
          if (wrong._tag === "Failure") {
            expect(wrong.failure.message).toContain("digest mismatch")
            expect(wrong.failure.reason).toBe("ArtifactFailed")
          }
        }).pipe(
          Effect.provide(
            Layer.mergeAll(ArtifactFetcher.layer, ArtifactServer.layer({ port: 0, host: "127.0.0.1" })).pipe(
              Layer.provide(ArtifactStorage.layer({ root, advertisedAddress: "elsewhere:1", retention: 2 })),
            ),
          ),
        )
        // In the operator process: the URL is ours, the tarball is read from storage without HTTP.
        yield* Effect.gen(function* () {
          const fetcher = yield* ArtifactFetcher
          const storage = yield* ArtifactStorage
          const out = yield* tree({})
          yield* fetcher.fetch({ ...source, url: storage.urlOf(artifact.path) }, out)
          expect(yield* Effect.promise(() => readFile(join(out, "README.md"), "utf8"))).toBe("top\n")
        }).pipe(
          Effect.provide(
            ArtifactFetcher.layer.pipe(
              Layer.provideMerge(
                ArtifactStorage.layer({ root, advertisedAddress: "unreachable.invalid:9", retention: 2 }),
              ),
            ),
          ),
        )
      }).pipe(Effect.scoped),
  )
})

describe("ArtifactStorage.localPath", () => {
  it.effect(
    "refuses a path that climbs, even one that lands inside the root (another object's directory)",
    () =>
      Effect.gen(function* () {
        const root = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(join(tmpdir(), "kustodian-storage-"))),
          (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
        )
        const storage = yield* ArtifactStorage.pipe(
          Effect.provide(
            ArtifactStorage.layer({ root, advertisedAddress: "artifacts.test:9090", retention: 2 }),
          ),
        )
        // An included repository's status (writable by whoever may write gitrepositories/status) that starts in its
        // own directory and climbs into another tenant's: it must not resolve.
        const climbing = "gitrepository/tenant-a/lib/../../tenant-b/private/0123abcd.tar.gz"
        const refused = yield* Effect.flip(storage.localPath(climbing))
        expect(refused.message).toContain("escapes")
        expect(yield* storage.exists(climbing)).toBe(false)
        expect(yield* storage.localPath("gitrepository/tenant-a/lib/0123abcd.tar.gz")).toBe(
          join(root, "gitrepository/tenant-a/lib/0123abcd.tar.gz"),
        )
      }).pipe(Effect.scoped),
  )
})
