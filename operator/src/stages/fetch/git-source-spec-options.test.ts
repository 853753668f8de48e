/**
 * The fetch stage's optional spec fields against the real tools, no cluster: `sparseCheckout` (git's sparse
 * patterns), `verify` (commits and tags signed by the real gpg and ssh-keygen), `proxySecretRef` (a local HTTP
 * proxy in front of the test git server) and `provider: github` (a local server of GitHub's installation-token
 * endpoint in front of a git server that accepts only the minted token).
 */
import { mkdtemp, readdir, rm, symlink } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, type Scope } from "effect"
import {
  commitFiles,
  createBareRepo,
  createTag,
  git,
  gitHttpServer,
  randomSecret,
} from "../../../../e2e/support/git-server.ts"
import { githubTokenServer } from "../../../../e2e/support/github-token-server.ts"
import { httpProxy } from "../../../../e2e/support/http-proxy.ts"
import { scratchDir } from "../../../../e2e/support/seed.ts"
import { gpgSigningKey, sshSigningKey } from "../../../../e2e/support/signing.ts"
import { Git } from "./git.ts"
import type { AuthSecret } from "./git-auth.ts"
import { GitSource, type GitSourceRequest } from "./git-source.ts"
import { verificationKeys } from "./signature.ts"
import { ArtifactStorage } from "./storage.ts"

const tempDir = scratchDir("kustodian-fetch-opts-")

const secret = (data: Record<string, string>): AuthSecret => ({
  ref: "default/s",
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)])),
})

let n = 0
const request = (url: string, over: Partial<GitSourceRequest> = {}): GitSourceRequest => ({
  owner: { kind: "gitrepository", namespace: "default", name: `opts-${n++}` },
  url,
  ref: { branch: "main" },
  timeout: Duration.seconds(30),
  recurseSubmodules: false,
  ignore: undefined,
  secret: undefined,
  previous: undefined,
  ...over,
})

/** The stage with a storage of its own; `body` gets the storage root to read artifacts from. */
const withSource = <A, E>(body: (root: string) => Effect.Effect<A, E, GitSource | Scope.Scope>) =>
  Effect.gen(function* () {
    const root = yield* tempDir
    return yield* body(root).pipe(
      Effect.provide(
        GitSource.layer.pipe(
          Layer.provideMerge(Git.layer),
          Layer.provideMerge(
            ArtifactStorage.layer({ root, advertisedAddress: "localhost:9090", retention: 2 }),
          ),
        ),
      ),
    )
  })

const entriesOf = (root: string, path: string) =>
  Effect.promise(async () => {
    const tar = await import("tar")
    const entries: string[] = []
    await tar.t({ file: join(root, path), onReadEntry: (e) => entries.push(e.path) })
    return entries.sort()
  })

const failureOf = <A, E>(self: Effect.Effect<A, E>) =>
  Effect.result(self).pipe(
    Effect.map((r) => {
      if (r._tag !== "Failure") throw new Error("expected a failure")
      return r.failure
    }),
  )

describe("GitSource spec options", () => {
  it.live("sparseCheckout keeps only the listed directories, fails on a missing one, refuses escapes", () =>
    Effect.gen(function* () {
      const server = yield* gitHttpServer()
      const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "mono"))
      yield* Effect.promise(() =>
        commitFiles(bare, {
          "root.yaml": "r: 1\n",
          "apps/a/app.yaml": "a: 1\n",
          "apps/b/app.yaml": "b: 1\n",
          "infra/x.yaml": "x: 1\n",
          "weird*/w.yaml": "w: 1\n",
        }),
      )
      const url = server.repoUrl("mono")
      yield* withSource((root) =>
        Effect.gen(function* () {
          const source = yield* GitSource
          const full = yield* source.reconcile(request(url))
          const sparse = yield* source.reconcile(request(url, { sparseCheckout: ["./apps/a", "infra/"] }))
          expect(yield* entriesOf(root, sparse.artifact.path)).toEqual(["apps/a/app.yaml", "infra/x.yaml"])
          expect(sparse.artifact.digest).not.toBe(full.artifact.digest)
          // A wildcard character is a literal directory name, not a pattern matching others.
          const literal = yield* source.reconcile(request(url, { sparseCheckout: ["weird*"] }))
          expect(yield* entriesOf(root, literal.artifact.path)).toEqual(["weird*/w.yaml"])

          // Same commit, other directories: rebuilt, not UpToDate.
          const previous = {
            artifact: sparse.artifact,
            observedIgnore: undefined,
            observedRecurseSubmodules: false,
            observedSparseCheckout: ["./apps/a", "infra/"],
          }
          const same = yield* source.reconcile(
            request(url, { sparseCheckout: ["./apps/a", "infra/"], previous }),
          )
          expect(same._tag).toBe("UpToDate")
          const other = yield* source.reconcile(request(url, { sparseCheckout: ["apps/b"], previous }))
          expect(other._tag).toBe("Stored")

          const missing = yield* failureOf(source.reconcile(request(url, { sparseCheckout: ["apps/c"] })))
          expect(missing).toMatchObject({ _tag: "GitOperationError", reason: "GitOperationFailed" })
          expect(missing.message).toBe(
            "failed to sparse checkout directories : sparse checkout dir 'apps/c' does not exist in repository",
          )
          for (const [dir, why] of [
            ["../outside", "is not a directory inside the repository"],
            ["/etc", "is absolute"],
            ["apps/../..", "is not a directory inside the repository"],
            [".git", "inside .git"],
          ] as const) {
            const refused = yield* failureOf(source.reconcile(request(url, { sparseCheckout: [dir] })))
            expect(refused).toMatchObject({ _tag: "InvalidSpecError", field: "spec.sparseCheckout[0]" })
            expect(refused.message).toContain(why)
          }
        }),
      )
    }).pipe(Effect.scoped),
  )

  it.live("verify checks commit and tag signatures made by gpg and ssh-keygen, naming the key", () =>
    Effect.gen(function* () {
      const pgp = yield* gpgSigningKey("signer")
      const stranger = yield* gpgSigningKey("stranger")
      const ssh = yield* sshSigningKey("ssh-signer")
      const server = yield* gitHttpServer()
      const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "signed"))
      const pgpCommit = yield* Effect.promise(() =>
        commitFiles(bare, { "a.yaml": "a: 1\n" }, { sign: pgp.sign }),
      )
      yield* Effect.promise(() =>
        createTag(bare, "v1.0.0", pgpCommit, { sign: ssh.sign, message: "release" }),
      )
      yield* Effect.promise(() => createTag(bare, "v1.0.1", pgpCommit, { message: "unsigned" }))
      const url = server.repoUrl("signed")
      const keys = (data: Record<string, string>) => verificationKeys(secret(data).data)
      yield* withSource(() =>
        Effect.gen(function* () {
          const source = yield* GitSource
          const ok = yield* source.reconcile(
            request(url, { verify: { mode: "HEAD", keys: keys({ "a.asc": pgp.publicKey }) } }),
          )
          expect(ok._tag === "Stored" && ok.verified).toEqual({
            mode: "HEAD",
            message: `verified signature of\n\t- commit '${pgpCommit}' with key '${pgp.identity}'`,
          })
          // A key ring of someone else: no artifact, Flux's reason and message.
          const wrong = yield* failureOf(
            source.reconcile(
              request(url, { verify: { mode: "HEAD", keys: keys({ "b.asc": stranger.publicKey }) } }),
            ),
          )
          expect(wrong).toMatchObject({ _tag: "SourceVerificationError", reason: "InvalidCommitSignature" })
          expect(wrong.message).toBe(
            `signature verification of commit '${pgpCommit}' failed: unable to verify Git commit: unable to verify payload with any of the given key rings: no matching key`,
          )
          const onlySsh = yield* failureOf(
            source.reconcile(
              request(url, { verify: { mode: "HEAD", keys: keys({ "k.sshpub": ssh.publicKey }) } }),
            ),
          )
          expect(onlySsh.message).toContain("PGP signature detected but no PGP public keys found in secret")

          // Tag mode: the SSH-signed annotated tag, then both.
          const both = yield* source.reconcile(
            request(url, {
              ref: { tag: "v1.0.0" },
              verify: {
                mode: "TagAndHEAD",
                keys: keys({ "k.sshpub": ssh.publicKey, "a.asc": pgp.publicKey }),
              },
            }),
          )
          expect(both._tag === "Stored" && both.verified?.message).toMatch(
            new RegExp(
              `^verified signature of\\n\\t- tag 'v1\\.0\\.0@[0-9a-f]{40}' with key '${ssh.identity.replace(/[+/]/g, "\\$&")}'\\n\\t- commit '${pgpCommit}' with key '${pgp.identity}'$`,
            ),
          )
          const unsignedTag = yield* failureOf(
            source.reconcile(
              request(url, {
                ref: { tag: "v1.0.1" },
                verify: { mode: "Tag", keys: keys({ "k.sshpub": ssh.publicKey }) },
              }),
            ),
          )
          expect(unsignedTag).toMatchObject({ reason: "InvalidGitObject" })
          expect(unsignedTag.message).toMatch(
            /^cannot verify signature of tag 'v1\.0\.1@[0-9a-f]{40}' since it is not signed$/,
          )
          const noTag = yield* failureOf(
            source.reconcile(
              request(url, { verify: { mode: "Tag", keys: keys({ "k.sshpub": ssh.publicKey }) } }),
            ),
          )
          expect(noTag).toMatchObject({ reason: "InvalidVerificationMode", stalled: true })

          // An unsigned commit on top: "empty" signature.
          const unsigned = yield* Effect.promise(() => commitFiles(bare, { "a.yaml": "a: 2\n" }))
          const plain = yield* failureOf(
            source.reconcile(
              request(url, { verify: { mode: "HEAD", keys: keys({ "a.asc": pgp.publicKey }) } }),
            ),
          )
          expect(plain.message).toBe(
            `signature verification of commit '${unsigned}' failed: unsupported signature type: empty`,
          )
          // An SSH-signed commit verifies with the SSH key only.
          const sshCommit = yield* Effect.promise(() =>
            commitFiles(bare, { "a.yaml": "a: 3\n" }, { sign: ssh.sign }),
          )
          const sshOk = yield* source.reconcile(
            request(url, { verify: { mode: "HEAD", keys: keys({ "k.sshpub": ssh.publicKey }) } }),
          )
          expect(sshOk._tag === "Stored" && sshOk.verified?.message).toBe(
            `verified signature of\n\t- commit '${sshCommit}' with key '${ssh.identity}'`,
          )
          const sshOther = yield* sshSigningKey("other")
          const sshWrong = yield* failureOf(
            source.reconcile(
              request(url, { verify: { mode: "HEAD", keys: keys({ "k.sshpub": sshOther.publicKey }) } }),
            ),
          )
          expect(sshWrong.message).toContain("unable to verify Git commit SSH signature")
        }),
      )
    }).pipe(Effect.scoped),
  )

  it.live("proxySecretRef sends git through the proxy with its credentials, never leaking them", () =>
    Effect.gen(function* () {
      const proxyPassword = `proxy-${randomSecret()}`
      const proxy = yield* httpProxy({ username: "squid", password: proxyPassword })
      const server = yield* gitHttpServer()
      const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "app"))
      yield* Effect.promise(() => commitFiles(bare, { "a.yaml": "a: 1\n" }))
      const url = server.repoUrl("app")
      yield* withSource(() =>
        Effect.gen(function* () {
          const source = yield* GitSource
          const before = server.requests.length
          const ok = yield* source.reconcile(
            request(url, {
              proxy: secret({ address: proxy.url, username: "squid", password: proxyPassword }),
            }),
          )
          expect(ok._tag).toBe("Stored")
          const proxied = proxy.requests.filter((r) => r.status === 200)
          // Every request the git server saw came through the proxy (ls-remote and clone).
          expect(proxied.length).toBeGreaterThanOrEqual(4)
          expect(proxied.length).toBe(server.requests.length - before)
          expect(proxied.every((r) => r.target.startsWith(url))).toBe(true)

          const denied = yield* failureOf(
            source.reconcile(
              request(url, { proxy: secret({ address: proxy.url, username: "squid", password: "nope-7" }) }),
            ),
          )
          expect(JSON.stringify(denied)).not.toContain("nope-7")
          expect(proxy.requests.some((r) => r.status === 407)).toBe(true)
          const noAddress = yield* failureOf(
            source.reconcile(request(url, { proxy: secret({ username: "squid" }) })),
          )
          expect(noAddress).toMatchObject({ _tag: "AuthSecretError" })
          expect(noAddress.message).toBe(
            "failed to configure proxy options: secret 'default/s': key 'address' not found",
          )
        }),
      )
    }).pipe(Effect.scoped),
  )

  it.live("provider github mints an installation token, caches it, and clones with it", () =>
    Effect.gen(function* () {
      const token = `ghs_${randomSecret()}`
      const endpoint = yield* githubTokenServer(token)
      const server = yield* gitHttpServer({
        auth: { basic: { username: "x-access-token", password: token } },
      })
      const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "app"))
      const head = yield* Effect.promise(() => commitFiles(bare, { "a.yaml": "a: 1\n" }))
      const url = server.repoUrl("app")
      const app = secret({
        githubAppID: endpoint.appID,
        githubAppInstallationID: endpoint.installationID,
        githubAppPrivateKey: endpoint.privateKey,
        githubAppBaseURL: endpoint.url,
      })
      yield* withSource(() =>
        Effect.gen(function* () {
          const source = yield* GitSource
          const first = yield* source.reconcile(request(url, { provider: "github", secret: app }))
          expect(first.artifact.revision).toBe(`main@sha1:${head}`)
          yield* source.reconcile(request(url, { provider: "github", secret: app }))
          // Two reconciles, one token.
          expect(endpoint.requests).toEqual([
            { path: `/app/installations/${endpoint.installationID}/access_tokens`, status: 201 },
          ])
          expect((yield* source.stats).githubTokens).toBe(1)
          expect(server.requests.every((r) => r.status !== 401 || r.user === undefined)).toBe(true)

          // A key the endpoint does not know: the token request fails with its status, nothing secret shown.
          const other = yield* githubTokenServer(token)
          const wrongKey = yield* failureOf(
            source.reconcile(
              request(url, {
                provider: "github",
                secret: secret({
                  ...Object.fromEntries(
                    Object.entries(app.data).map(([k, v]) => [k, Buffer.from(v).toString()]),
                  ),
                  githubAppPrivateKey: other.privateKey,
                }),
              }),
            ),
          )
          expect(wrongKey.message).toContain("failed to get GitHub App installation token")
          expect(wrongKey.message).toContain("HTTP 401")
          expect(JSON.stringify(wrongKey)).not.toContain("PRIVATE KEY")
          // Github App data under the generic provider is refused, as Flux does.
          const generic = yield* failureOf(source.reconcile(request(url, { secret: app })))
          expect(generic).toMatchObject({ reason: "InvalidProviderConfiguration" })
          const noApp = yield* failureOf(
            source.reconcile(request(url, { provider: "github", secret: secret({}) })),
          )
          expect(noApp.message).toBe(
            "secretRef with github app data must be specified when provider is set to github",
          )
        }),
      )
    }).pipe(Effect.scoped),
  )

  it.live(
    "provider github finds the installation by owner and mints a new token once 80 % of its lifetime passed",
    () =>
      Effect.gen(function* () {
        const token = `ghs_${randomSecret()}`
        const endpoint = yield* githubTokenServer(token, { lifetimeMs: 1_500 })
        const server = yield* gitHttpServer({
          auth: { basic: { username: "x-access-token", password: token } },
        })
        const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "app"))
        yield* Effect.promise(() => commitFiles(bare, { "a.yaml": "a: 1\n" }))
        const app = (owner: string) =>
          secret({
            githubAppID: endpoint.appID,
            githubAppInstallationOwner: owner,
            githubAppPrivateKey: endpoint.privateKey,
            githubAppBaseURL: endpoint.url,
          })
        yield* withSource(() =>
          Effect.gen(function* () {
            const source = yield* GitSource
            const url = server.repoUrl("app")
            yield* source.reconcile(request(url, { provider: "github", secret: app("acme") }))
            yield* source.reconcile(request(url, { provider: "github", secret: app("acme") }))
            expect((yield* source.stats).githubTokens).toBe(1)
            yield* Effect.sleep("1300 millis")
            yield* source.reconcile(request(url, { provider: "github", secret: app("acme") }))
            expect((yield* source.stats).githubTokens).toBe(2)
            expect(endpoint.requests.map((r) => `${r.path} ${r.status}`)).toEqual([
              "/orgs/acme/installation 200",
              `/app/installations/${endpoint.installationID}/access_tokens 201`,
              "/orgs/acme/installation 200",
              `/app/installations/${endpoint.installationID}/access_tokens 201`,
            ])
            const nobody = yield* failureOf(
              source.reconcile(request(url, { provider: "github", secret: app("nobody") })),
            )
            expect(nobody.message).toBe(
              "failed to get GitHub App installation token: no installation of the app found for owner 'nobody' (HTTP 404)",
            )
          }),
        )
      }).pipe(Effect.scoped),
  )

  it.live(
    "provider github through an http proxy: the token request is tunnelled (CONNECT) to a TLS endpoint, git too",
    () =>
      Effect.gen(function* () {
        const token = `ghs_${randomSecret()}`
        const endpoint = yield* githubTokenServer(token, { tls: true })
        const proxyPassword = `pp-${randomSecret()}`
        const proxy = yield* httpProxy({ username: "squid", password: proxyPassword })
        const server = yield* gitHttpServer({
          tls: true,
          auth: { basic: { username: "x-access-token", password: token } },
        })
        const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "app"))
        const head = yield* Effect.promise(() => commitFiles(bare, { "a.yaml": "a: 1\n" }))
        yield* withSource(() =>
          Effect.gen(function* () {
            const source = yield* GitSource
            const result = yield* source.reconcile(
              request(server.repoUrl("app"), {
                provider: "github",
                secret: secret({
                  githubAppID: endpoint.appID,
                  githubAppInstallationID: endpoint.installationID,
                  githubAppPrivateKey: endpoint.privateKey,
                  githubAppBaseURL: endpoint.url,
                  // One bundle for both servers' CAs, as a Secret for GitHub Enterprise behind a private CA holds.
                  "ca.crt": `${endpoint.ca}\n${server.caPem}`,
                }),
                proxy: secret({ address: proxy.url, username: "squid", password: proxyPassword }),
              }),
            )
            expect(result.artifact.revision).toBe(`main@sha1:${head}`)
            const tunnels = proxy.requests
              .filter((r) => r.method === "CONNECT" && r.status === 200)
              .map((r) => r.target)
            expect(tunnels).toContain(new URL(endpoint.url).host)
            expect(tunnels).toContain(new URL(server.url).host)
            expect(endpoint.requests.filter((r) => r.status === 201)).toHaveLength(1)
          }),
        )
      }).pipe(Effect.scoped),
  )

  it.live("include copies another artifact's fromPath to toPath; a changed included artifact rebuilds", () =>
    Effect.gen(function* () {
      const server = yield* gitHttpServer()
      const libBare = yield* Effect.promise(() => createBareRepo(server.reposDir, "lib"))
      yield* Effect.promise(() => commitFiles(libBare, { "base/lib.yaml": "l: 1\n", "other.yaml": "o: 1\n" }))
      const appBare = yield* Effect.promise(() => createBareRepo(server.reposDir, "app"))
      yield* Effect.promise(() => commitFiles(appBare, { "app.yaml": "a: 1\n" }))
      yield* withSource((root) =>
        Effect.gen(function* () {
          const source = yield* GitSource
          const lib = yield* source.reconcile(request(server.repoUrl("lib")))
          const spec = [{ repository: { name: "lib" }, fromPath: "base", toPath: "vendor/lib" }]
          const resolved = [{ name: "lib", fromPath: "base", toPath: "vendor/lib", artifact: lib.artifact }]
          const app = yield* source.reconcile(request(server.repoUrl("app"), { include: { spec, resolved } }))
          expect(yield* entriesOf(root, app.artifact.path)).toEqual(["app.yaml", "vendor/lib/lib.yaml"])
          // The whole artifact by default (fromPath: its root).
          const whole = yield* source.reconcile(
            request(server.repoUrl("app"), {
              include: {
                spec: [{ repository: { name: "lib" } }],
                resolved: [{ name: "lib", fromPath: "", toPath: "lib", artifact: lib.artifact }],
              },
            }),
          )
          expect(yield* entriesOf(root, whole.artifact.path)).toEqual([
            "app.yaml",
            "lib/base/lib.yaml",
            "lib/other.yaml",
          ])
          // Unchanged includes: UpToDate; a new included artifact: rebuilt.
          const previous = {
            artifact: app.artifact,
            observedIgnore: undefined,
            observedRecurseSubmodules: false,
            observedInclude: spec,
            includedArtifacts: [lib.artifact],
          }
          const same = yield* source.reconcile(
            request(server.repoUrl("app"), { include: { spec, resolved }, previous }),
          )
          expect(same._tag).toBe("UpToDate")
          const moved = { ...lib.artifact, digest: `sha256:${"0".repeat(64)}` }
          const rebuilt = yield* source.reconcile(
            request(server.repoUrl("app"), {
              include: { spec, resolved: [{ ...resolved[0]!, artifact: moved }] },
              previous,
            }),
          )
          expect(rebuilt._tag).toBe("Stored")
          // A missing fromPath names the include.
          const missing = yield* failureOf(
            source.reconcile(
              request(server.repoUrl("app"), {
                include: { spec, resolved: [{ ...resolved[0]!, fromPath: "nope" }] },
              }),
            ),
          )
          expect(missing).toMatchObject({ _tag: "IncludeError", reason: "CopyFailure" })
          expect(missing.message).toContain("'nope' does not exist in the artifact of 'lib'")
        }),
      )
    }).pipe(Effect.scoped),
  )

  it.live("includes together are bounded by the checkout caps, not by one artifact's cap each", () =>
    Effect.gen(function* () {
      const server = yield* gitHttpServer()
      const libBare = yield* Effect.promise(() => createBareRepo(server.reposDir, "big"))
      // 40 KB that git and gzip shrink to almost nothing: a hundred copies cost the tenant no push.
      yield* Effect.promise(() => commitFiles(libBare, { "zeros.txt": "0".repeat(40_000) }))
      const appBare = yield* Effect.promise(() => createBareRepo(server.reposDir, "fan"))
      yield* Effect.promise(() => commitFiles(appBare, { "app.yaml": "a: 1\n" }))
      const root = yield* tempDir
      yield* Effect.gen(function* () {
        const source = yield* GitSource
        const big = yield* source.reconcile(request(server.repoUrl("big")))
        const copies = Array.from({ length: 5 }, (_, i) => ({
          name: "big",
          fromPath: "",
          toPath: `copy-${i}`,
          artifact: big.artifact,
        }))
        const spec = copies.map((c) => ({ repository: { name: c.name }, toPath: c.toPath }))
        const refused = yield* failureOf(
          source.reconcile(request(server.repoUrl("fan"), { include: { spec, resolved: copies } })),
        )
        expect(refused).toMatchObject({ _tag: "IncludeError", reason: "CopyFailure" })
        expect(refused.message).toContain("--max-checkout-size")
        // Two copies fit.
        const two = yield* source.reconcile(
          request(server.repoUrl("fan"), {
            include: { spec: spec.slice(0, 2), resolved: copies.slice(0, 2) },
          }),
        )
        expect(two._tag).toBe("Stored")
      }).pipe(
        Effect.provide(
          GitSource.layerWith({ maxCheckoutSize: 100_000, maxCheckoutFiles: 1_000 }).pipe(
            Layer.provideMerge(Git.layer),
            Layer.provideMerge(
              ArtifactStorage.layer({ root, advertisedAddress: "localhost:9090", retention: 2 }),
            ),
          ),
        ),
      )
    }).pipe(Effect.scoped),
  )

  it.live("include refuses a toPath that goes through a symlink of the checkout", () =>
    Effect.gen(function* () {
      const server = yield* gitHttpServer()
      const libBare = yield* Effect.promise(() => createBareRepo(server.reposDir, "lib"))
      yield* Effect.promise(() => commitFiles(libBare, { "lib.yaml": "l: 1\n" }))
      const outside = yield* tempDir
      const linked = yield* Effect.promise(() => createBareRepo(server.reposDir, "linked"))
      yield* Effect.promise(() => commitFiles(linked, { "app.yaml": "a: 1\n" }))
      yield* Effect.promise(() => commitSymlink(linked, "vendor", outside))
      yield* withSource(() =>
        Effect.gen(function* () {
          const source = yield* GitSource
          const lib = yield* source.reconcile(request(server.repoUrl("lib")))
          const refused = yield* failureOf(
            source.reconcile(
              request(server.repoUrl("linked"), {
                include: {
                  spec: [{ repository: { name: "lib" }, toPath: "vendor/lib" }],
                  resolved: [{ name: "lib", fromPath: "", toPath: "vendor/lib", artifact: lib.artifact }],
                },
              }),
            ),
          )
          expect(refused).toMatchObject({ _tag: "IncludeError", reason: "IllegalPath" })
          expect(yield* Effect.promise(() => readdir(outside))).toEqual([])
        }),
      )
    }).pipe(Effect.scoped),
  )
})

/** Commit a symbolic link `path -> target` on main (git stores the target as the blob). */
const commitSymlink = async (bare: string, path: string, target: string) => {
  const work = await mkdtemp(join(tmpdir(), "kustodian-link-"))
  try {
    await git(["clone", "--quiet", bare, work])
    await symlink(target, join(work, path))
    await git(["add", path], { cwd: work })
    await git(["commit", "--quiet", "-m", "link"], { cwd: work })
    await git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], { cwd: work })
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}
