/**
 * The fetch stage against real git servers (smart HTTP via `git http-backend`, OpenSSH sshd): every ref kind,
 * the no-clone path for an unchanged remote, and each auth method with its failure modes. No cluster needed.
 */
import { createHash } from "node:crypto"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import {
  commitFiles,
  createBareRepo,
  createBranch,
  createTag,
  type GitHttpServer,
  gitHttpServer,
  gitSshServer,
  makeSshKeyPair,
  revParse,
} from "../../../../e2e/support/git-server.ts"
import { hasTool } from "../../../../e2e/support/tools.ts"
import { Git } from "./git.ts"
import type { AuthSecret } from "./git-auth.ts"
import type { GitRefSpec } from "./git-ref.ts"
import { GitSource, type GitSourceRequest, type PreviousArtifact } from "./git-source.ts"
import { ArtifactStorage } from "./storage.ts"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "kustodian-fetch-test-"))),
  (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
)

const sourceLayer = (root: string) =>
  GitSource.layer.pipe(
    Layer.provideMerge(Git.layer),
    Layer.provideMerge(ArtifactStorage.layer({ root, advertisedAddress: "localhost:9090", retention: 2 })),
  )

const secret = (data: Record<string, string>): AuthSecret => ({
  ref: "default/git-auth",
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)])),
})

let n = 0
const request = (url: string, over: Partial<GitSourceRequest> = {}): GitSourceRequest => ({
  owner: { kind: "gitrepository", namespace: "default", name: `repo-${n++}` },
  url,
  ref: { branch: "main" },
  timeout: Duration.seconds(30),
  recurseSubmodules: false,
  ignore: undefined,
  secret: undefined,
  previous: undefined,
  ...over,
})

/** Run the stage with a storage of its own; returns the result or the failure. */
const run = (req: GitSourceRequest) =>
  Effect.gen(function* () {
    const root = yield* tempDir
    return yield* Effect.gen(function* () {
      const source = yield* GitSource
      return yield* Effect.result(source.reconcile(req))
    }).pipe(Effect.provide(sourceLayer(root)))
  }).pipe(Effect.scoped)

const uploadPackRequests = (server: GitHttpServer) =>
  server.requests.filter((r) => r.path.endsWith("/git-upload-pack") || r.path.endsWith("/info/refs")).length

describe("GitSource over smart HTTP", () => {
  it.live("resolves every ref kind to the right commit and Flux revision", () =>
    Effect.gen(function* () {
      const server = yield* gitHttpServer()
      const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "app"))
      const first = yield* Effect.promise(() => commitFiles(bare, { "app.yaml": "v: 1\n" }))
      yield* Effect.promise(() => createTag(bare, "v1.0.0", first))
      const second = yield* Effect.promise(() => commitFiles(bare, { "app.yaml": "v: 2\n" }))
      yield* Effect.promise(() => createTag(bare, "v1.1.0", second, { message: "annotated" }))
      yield* Effect.promise(() => createTag(bare, "v2.0.0-rc.1", second))
      const third = yield* Effect.promise(() => commitFiles(bare, { "app.yaml": "v: 3\n" }))
      yield* Effect.promise(() => createBranch(bare, "master", first))
      yield* Effect.promise(() => createBranch(bare, "release", second))
      const url = server.repoUrl("app")
      expect(yield* Effect.promise(() => revParse(bare, "v1.1.0"))).toBe(second)

      const cases: ReadonlyArray<[GitRefSpec | undefined, string, string]> = [
        [undefined, `master@sha1:${first}`, "v: 1\n"],
        [{ branch: "main" }, `main@sha1:${third}`, "v: 3\n"],
        [{ tag: "v1.0.0" }, `v1.0.0@sha1:${first}`, "v: 1\n"],
        [{ tag: "v1.1.0", branch: "main" }, `v1.1.0@sha1:${second}`, "v: 2\n"],
        [{ semver: ">=1.0.0 <2.0.0", tag: "v1.0.0" }, `v1.1.0@sha1:${second}`, "v: 2\n"],
        [{ name: "refs/heads/release", semver: "*" }, `refs/heads/release@sha1:${second}`, "v: 2\n"],
        [{ name: "refs/tags/v1.1.0" }, `refs/tags/v1.1.0@sha1:${second}`, "v: 2\n"],
        [{ commit: first, name: "refs/heads/main" }, `sha1:${first}`, "v: 1\n"],
        [{ commit: second, branch: "main" }, `main@sha1:${second}`, "v: 2\n"],
      ]
      for (const [ref, revision, content] of cases) {
        const root = yield* tempDir
        const stored = yield* Effect.gen(function* () {
          const source = yield* GitSource
          const storage = yield* ArtifactStorage
          const result = yield* source.reconcile(request(url, { ref }))
          const file = yield* storage.localPath(result.artifact.path)
          const bytes = yield* Effect.promise(() => readFile(file))
          return { result, bytes }
        }).pipe(Effect.provide(sourceLayer(root)))
        expect(stored.result.artifact.revision, JSON.stringify(ref)).toBe(revision)
        expect(stored.result.artifact.digest).toBe(
          `sha256:${createHash("sha256").update(stored.bytes).digest("hex")}`,
        )
        const commit = revision.split(":").pop()!
        expect(stored.result.artifact.path).toMatch(new RegExp(`/${commit}\\.tar\\.gz$`))
        const extracted = yield* tempDir
        yield* Effect.promise(async () => {
          const tar = await import("tar")
          await tar.x({ file: join(root, stored.result.artifact.path), cwd: extracted })
        })
        expect(yield* Effect.promise(() => readFile(join(extracted, "app.yaml"), "utf8"))).toBe(content)
      }
    }).pipe(Effect.scoped),
  )

  it.live("names what is missing: branch, tag, semver match, commit", () =>
    Effect.gen(function* () {
      const server = yield* gitHttpServer()
      const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "app"))
      yield* Effect.promise(() => commitFiles(bare, { "a.yaml": "a: 1\n" }))
      const url = server.repoUrl("app")
      const cases: ReadonlyArray<[GitRefSpec, string]> = [
        [{ branch: "nope" }, "branch 'nope' not found"],
        [{ tag: "v9" }, "tag 'v9' not found"],
        [{ semver: "^3" }, "no tag matches semver range '^3'"],
        [{ commit: "0".repeat(40) }, `commit '${"0".repeat(40)}' not found`],
      ]
      for (const [ref, message] of cases) {
        const r = yield* run(request(url, { ref }))
        expect(r._tag).toBe("Failure")
        if (r._tag === "Failure") {
          expect(r.failure._tag).toBe("GitOperationError")
          expect(r.failure.message).toContain(message)
          expect(r.failure.reason).toBe("GitOperationFailed")
        }
      }
    }).pipe(Effect.scoped),
  )

  it.live("an unchanged remote costs one ls-remote and no clone; a new commit makes a new artifact", () =>
    Effect.gen(function* () {
      const server = yield* gitHttpServer()
      const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "app"))
      yield* Effect.promise(() => commitFiles(bare, { "a.yaml": "a: 1\n" }))
      const root = yield* tempDir
      yield* Effect.gen(function* () {
        const source = yield* GitSource
        const req = request(server.repoUrl("app"))
        const first = yield* source.reconcile(req)
        expect(first._tag).toBe("Stored")
        const previous: PreviousArtifact = {
          artifact: first.artifact,
          observedIgnore: undefined,
          observedRecurseSubmodules: false,
        }

        const before = uploadPackRequests(server)
        const again = yield* source.reconcile({ ...req, previous })
        expect(again._tag).toBe("UpToDate")
        expect(again.artifact).toEqual(first.artifact)
        // ls-remote over protocol v2: GET info/refs + one POST (ls-refs); a fetch would add more.
        expect(uploadPackRequests(server) - before).toBe(2)
        expect((yield* source.stats).clones).toBe(1)

        // Changing spec.ignore rebuilds the artifact even though the commit is the same.
        const rebuilt = yield* source.reconcile({ ...req, previous, ignore: "*.md\n" })
        expect(rebuilt._tag).toBe("Stored")

        const next = yield* Effect.promise(() => commitFiles(bare, { "a.yaml": "a: 2\n" }))
        const moved = yield* source.reconcile({ ...req, previous })
        expect(moved._tag).toBe("Stored")
        expect(moved.artifact.revision).toBe(`main@sha1:${next}`)
        if (moved._tag === "Stored") expect(moved.subject).toBe("test commit")
      }).pipe(Effect.provide(sourceLayer(root)))
    }).pipe(Effect.scoped),
  )

  it.live("authenticates with basic auth and reports a wrong password without leaking it", () =>
    Effect.gen(function* () {
      const server = yield* gitHttpServer({
        auth: { basic: { username: "flux", password: "correct-horse-42" } },
      })
      const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "private"))
      yield* Effect.promise(() => commitFiles(bare, { "a.yaml": "a: 1\n" }))
      const url = server.repoUrl("private")

      const ok = yield* run(
        request(url, { secret: secret({ username: "flux", password: "correct-horse-42" }) }),
      )
      expect(ok._tag).toBe("Success")

      const anonymous = yield* run(request(url))
      expect(anonymous._tag).toBe("Failure")
      if (anonymous._tag === "Failure") expect(anonymous.failure.reason).toBe("AuthenticationFailed")

      const wrong = yield* run(
        request(url, { secret: secret({ username: "flux", password: "wrong-pass-99" }) }),
      )
      expect(wrong._tag).toBe("Failure")
      if (wrong._tag === "Failure") {
        expect(wrong.failure._tag).toBe("GitAuthError")
        expect(wrong.failure.reason).toBe("AuthenticationFailed")
        expect(wrong.failure.message).toContain("authentication failed")
        expect(wrong.failure.message).toContain(url)
        expect(wrong.failure.message).not.toContain("wrong-pass-99")
        expect(wrong.failure.message).not.toContain(Buffer.from("flux:wrong-pass-99").toString("base64"))
      }
    }).pipe(Effect.scoped),
  )

  it.live("authenticates with a bearer token", () =>
    Effect.gen(function* () {
      const server = yield* gitHttpServer({ auth: { bearerToken: "tok-3f9a8b7c6d" } })
      const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "private"))
      yield* Effect.promise(() => commitFiles(bare, { "a.yaml": "a: 1\n" }))
      const url = server.repoUrl("private")
      const ok = yield* run(request(url, { secret: secret({ bearerToken: "tok-3f9a8b7c6d" }) }))
      expect(ok._tag).toBe("Success")
      expect(server.requests.filter((r) => r.user === "bearer").length).toBeGreaterThan(0)
      const wrong = yield* run(request(url, { secret: secret({ bearerToken: "tok-wrong-1234" }) }))
      expect(wrong._tag).toBe("Failure")
      if (wrong._tag === "Failure") {
        expect(wrong.failure.reason).toBe("AuthenticationFailed")
        expect(wrong.failure.message).not.toContain("tok-wrong-1234")
      }
    }).pipe(Effect.scoped),
  )

  it.live("trusts a private CA from ca.crt over HTTPS and fails without it", () =>
    Effect.gen(function* () {
      const server = yield* gitHttpServer({
        tls: true,
        auth: { basic: { username: "u", password: "p4ssw0rd" } },
      })
      const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "app"))
      yield* Effect.promise(() => commitFiles(bare, { "a.yaml": "a: 1\n" }))
      const url = server.repoUrl("app")
      const withCa = yield* run(
        request(url, { secret: secret({ username: "u", password: "p4ssw0rd", "ca.crt": server.caPem! }) }),
      )
      expect(withCa._tag).toBe("Success")
      const withoutCa = yield* run(request(url, { secret: secret({ username: "u", password: "p4ssw0rd" }) }))
      expect(withoutCa._tag).toBe("Failure")
      if (withoutCa._tag === "Failure") expect(withoutCa.failure.message).toMatch(/certificate|SSL/i)
    }).pipe(Effect.scoped),
  )

  it.live("rejects URLs it must not run and refs that can never resolve, naming the field", () =>
    Effect.gen(function* () {
      for (const [url, ref, field] of [
        ["file:///etc", undefined, "spec.url"],
        ["https://user:pw@example.com/r.git", undefined, "spec.url"],
        ["https://example.com/r.git", { semver: "1.x.y.z..." }, "spec.ref.semver"],
      ] as const) {
        const r = yield* run(request(url, { ref }))
        expect(r._tag).toBe("Failure")
        if (r._tag === "Failure") {
          expect(r.failure._tag).toBe("InvalidSpecError")
          if (r.failure._tag === "InvalidSpecError") expect(r.failure.field).toBe(field)
          expect(r.failure.message).toContain(field)
          expect(r.failure.message).not.toContain("pw@")
        }
      }
    }),
  )

  it.live("times out a git operation and says so", () =>
    Effect.gen(function* () {
      // A listener that accepts and never answers (it reads, so it notices when git is killed).
      const net = yield* Effect.promise(() => import("node:net"))
      const server = net.createServer((socket) => socket.resume())
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))),
        () => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve()))),
      )
      const port = (server.address() as { port: number }).port
      const r = yield* run(request(`http://127.0.0.1:${port}/r.git`, { timeout: Duration.seconds(1) }))
      expect(r._tag).toBe("Failure")
      if (r._tag === "Failure") expect(r.failure.message).toContain("timed out after")
    }).pipe(Effect.scoped),
  )

  it.live("checks out submodules when asked", () =>
    Effect.gen(function* () {
      const server = yield* gitHttpServer()
      const lib = yield* Effect.promise(() => createBareRepo(server.reposDir, "lib"))
      const libCommit = yield* Effect.promise(() => commitFiles(lib, { "lib.yaml": "lib: 1\n" }))
      const app = yield* Effect.promise(() => createBareRepo(server.reposDir, "app"))
      yield* Effect.promise(() =>
        commitFiles(app, {
          "app.yaml": "a: 1\n",
          ".gitmodules": `[submodule "lib"]\n\tpath = lib\n\turl = ${server.repoUrl("lib")}\n`,
        }),
      )
      // Record the gitlink with the real git CLI (commitFiles writes files only).
      const { git } = yield* Effect.promise(() => import("../../../../e2e/support/git-server.ts"))
      const work = yield* tempDir
      yield* Effect.promise(async () => {
        await git(["clone", "--quiet", app, work])
        await git(["update-index", "--add", "--cacheinfo", `160000,${libCommit},lib`], { cwd: work })
        await git(["commit", "--quiet", "-m", "add lib"], {
          cwd: work,
          env: {
            ...process.env,
            GIT_AUTHOR_NAME: "t",
            GIT_AUTHOR_EMAIL: "t@t",
            GIT_COMMITTER_NAME: "t",
            GIT_COMMITTER_EMAIL: "t@t",
          },
        })
        await git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], { cwd: work })
      })
      const root = yield* tempDir
      const files = yield* Effect.gen(function* () {
        const source = yield* GitSource
        const storage = yield* ArtifactStorage
        const r = yield* source.reconcile(request(server.repoUrl("app"), { recurseSubmodules: true }))
        const file = yield* storage.localPath(r.artifact.path)
        const entries: string[] = []
        const tar = yield* Effect.promise(() => import("tar"))
        yield* Effect.promise(() => tar.t({ file, onReadEntry: (e) => entries.push(e.path) }))
        return entries.sort()
      }).pipe(Effect.provide(sourceLayer(root)))
      expect(files).toEqual(["app.yaml", "lib/lib.yaml"])
    }).pipe(Effect.scoped),
  )
})

describe.skipIf(!hasTool("sshd"))("GitSource over SSH", () => {
  it.live(
    "authenticates with identity + known_hosts, refuses unknown host keys, handles key passphrases",
    () =>
      Effect.gen(function* () {
        const server = yield* gitSshServer()
        const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "app"))
        const head = yield* Effect.promise(() => commitFiles(bare, { "a.yaml": "a: 1\n" }))
        const url = server.repoUrl("app")

        const ok = yield* run(
          request(url, {
            secret: secret({ identity: server.clientPrivateKey, known_hosts: server.knownHosts }),
          }),
        )
        expect(ok._tag).toBe("Success")
        if (ok._tag === "Success") expect(ok.success.artifact.revision).toBe(`main@sha1:${head}`)

        // A known_hosts entry for another key: host key checking must refuse.
        const keys = yield* tempDir
        const other = yield* Effect.promise(() => makeSshKeyPair(keys, "other"))
        const wrongHost = `[127.0.0.1]:${server.port} ${other.publicKey.split(" ").slice(0, 2).join(" ")}\n`
        const unknown = yield* run(
          request(url, { secret: secret({ identity: server.clientPrivateKey, known_hosts: wrongHost }) }),
        )
        expect(unknown._tag).toBe("Failure")
        if (unknown._tag === "Failure") {
          expect(unknown.failure.reason).toBe("AuthenticationFailed")
          expect(unknown.failure.message).toContain("host key verification failed")
          expect(unknown.failure.message).not.toContain("PRIVATE KEY")
        }

        const noKnownHosts = yield* run(
          request(url, { secret: secret({ identity: server.clientPrivateKey }) }),
        )
        expect(noKnownHosts._tag).toBe("Failure")
        if (noKnownHosts._tag === "Failure") expect(noKnownHosts.failure.message).toContain("known_hosts")

        // An unauthorised key is an authentication failure.
        const stranger = yield* run(
          request(url, { secret: secret({ identity: other.privateKey, known_hosts: server.knownHosts }) }),
        )
        expect(stranger._tag).toBe("Failure")
        if (stranger._tag === "Failure") expect(stranger.failure.reason).toBe("AuthenticationFailed")

        // A passphrase-protected key, decrypted by ssh through the askpass helper.
        const protectedKey = join(keys, "protected")
        const { execFileSync } = yield* Effect.promise(() => import("node:child_process"))
        execFileSync("ssh-keygen", [
          "-q",
          "-t",
          "ed25519",
          "-N",
          "open-sesame-7",
          "-C",
          "p",
          "-f",
          protectedKey,
        ])
        server.authorize(yield* Effect.promise(() => readFile(`${protectedKey}.pub`, "utf8")))
        const identity = yield* Effect.promise(() => readFile(protectedKey, "utf8"))
        const withPass = yield* run(
          request(url, {
            secret: secret({ identity, password: "open-sesame-7", known_hosts: server.knownHosts }),
          }),
        )
        expect(withPass._tag).toBe("Success")
        const badPass = yield* run(
          request(url, {
            secret: secret({ identity, password: "wrong-sesame", known_hosts: server.knownHosts }),
          }),
        )
        expect(badPass._tag).toBe("Failure")
        if (badPass._tag === "Failure") {
          expect(badPass.failure.message).toContain("cannot be decrypted with its 'password'")
          expect(badPass.failure.reason).toBe("AuthenticationFailed")
          expect(badPass.failure.message).not.toContain("wrong-sesame")
        }
      }).pipe(Effect.scoped),
  )
})
