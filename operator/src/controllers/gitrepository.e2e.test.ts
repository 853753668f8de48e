/**
 * The GitRepository controller end to end: a real kube-apiserver with the generated CRD, real git servers
 * (smart HTTP with basic/bearer auth, OpenSSH), the runtime's manager, the artifact server on a real port.
 */
import { createHash } from "node:crypto"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { parse } from "yaml"
import { testKubeconfigPath, testNamespace } from "../../../e2e/support/cluster.ts"
import { eventually } from "../../../e2e/support/eventually.ts"
import {
  commitFiles,
  createBareRepo,
  createTag,
  type GitHttpServer,
  gitHttpServer,
  gitSshServer,
  makeSshKeyPair,
  randomSecret,
} from "../../../e2e/support/git-server.ts"
import { githubTokenServer } from "../../../e2e/support/github-token-server.ts"
import { httpProxy } from "../../../e2e/support/http-proxy.ts"
import { freePort } from "../../../e2e/support/ports.ts"
import { gpgSigningKey } from "../../../e2e/support/signing.ts"
import { hasTool } from "../../../e2e/support/tools.ts"
import type { Condition } from "../../../model/condition.ts"
import { KubeClient } from "../kube/client.ts"
import type { KubeObject } from "../kube/object.ts"
import { CoreResources } from "../kube/resource.ts"
import { runManager } from "../runtime/manager.ts"
import { ArtifactServer } from "../stages/fetch/artifact-server.ts"
import { Git } from "../stages/fetch/git.ts"
import { GitSource } from "../stages/fetch/git-source.ts"
import { ArtifactStorage } from "../stages/fetch/storage.ts"
import { gitRepositoryRef, makeGitRepositoryController } from "./gitrepository.ts"

interface Repo extends KubeObject {
  readonly status?: {
    readonly observedGeneration?: number
    readonly conditions?: ReadonlyArray<Condition>
    readonly artifact?: {
      path: string
      url: string
      revision: string
      digest: string
      lastUpdateTime: string
    }
  }
}

const repoRoot = join(import.meta.dirname, "../../..")

const installCrd = Effect.gen(function* () {
  const client = yield* KubeClient
  const crd = parse(
    yield* Effect.promise(() =>
      readFile(join(repoRoot, "crds/source.toolkit.fluxcd.io_gitrepositories.yaml"), "utf8"),
    ),
  ) as KubeObject
  yield* client.apply(CoreResources.customResourceDefinition, crd, {
    fieldManager: "kustodian-tests",
    force: true,
  })
  for (let i = 0; i < 300; i++) {
    const ok = yield* client.list(gitRepositoryRef, { limit: 1 }).pipe(
      Effect.as(true),
      Effect.orElseSucceed(() => false),
    )
    if (ok) return
    yield* Effect.sleep(100)
  }
  return yield* Effect.die(new Error("GitRepository CRD not served after 30 s"))
})

/** Kube client, fetch stage, storage and artifact server on a real port, the controller under the manager. */
const operator = Effect.gen(function* () {
  const root = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "kustodian-storage-"))),
    (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
  )
  const port = yield* Effect.promise(freePort)
  const storage = ArtifactStorage.layer({ root, advertisedAddress: `127.0.0.1:${port}`, retention: 2 })
  return Layer.mergeAll(
    GitSource.layer.pipe(Layer.provide(Git.layer)),
    ArtifactServer.layer({ port, host: "127.0.0.1" }),
  ).pipe(
    Layer.provideMerge(storage),
    Layer.provideMerge(Git.layer),
    Layer.provideMerge(KubeClient.layer({ _tag: "File", path: testKubeconfigPath() })),
  )
})

/** The controller under the runtime's manager, watching only the test's namespace. */
const startController = (namespace: string) =>
  Effect.gen(function* () {
    yield* installCrd
    const spec = yield* makeGitRepositoryController()
    yield* Effect.forkScoped(
      runManager({
        controllers: [{ ...spec, namespace }],
        probes: false,
        run: { workers: 4, backoff: { baseMs: 500, capMs: 3_000 } },
      }),
    )
  })

const getRepo = (ns: string, name: string) =>
  Effect.gen(function* () {
    const c = yield* KubeClient
    return yield* c.get<Repo>(gitRepositoryRef, name, ns)
  })

const waitRepo = (ns: string, name: string, what: string, p: (r: Repo) => boolean, timeoutMs?: number) =>
  eventually(
    `${name}: ${what}`,
    getRepo(ns, name).pipe(Effect.map((r) => (p(r) ? Option.some(r) : Option.none()))),
    timeoutMs,
  )

const cond = (r: Repo, type: string) => r.status?.conditions?.find((c) => c.type === type)
const ready = (r: Repo) => cond(r, "Ready")

const gitRepository = (ns: string, name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: "source.toolkit.fluxcd.io/v1",
  kind: "GitRepository",
  metadata: { name, namespace: ns },
  spec: { interval: "2s", ...spec },
})

const apply = (obj: KubeObject) =>
  Effect.gen(function* () {
    const c = yield* KubeClient
    return yield* c.apply(gitRepositoryRef, obj, { fieldManager: "kustodian-tests", force: true })
  })

const secret = (ns: string, name: string, data: Record<string, string>) =>
  Effect.gen(function* () {
    const c = yield* KubeClient
    return yield* c.apply(
      CoreResources.secret,
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name, namespace: ns },
        data: Object.fromEntries(
          Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")]),
        ),
      },
      { fieldManager: "kustodian-tests", force: true },
    )
  })

const eventsOf = (ns: string, name: string) =>
  Effect.gen(function* () {
    const c = yield* KubeClient
    const l = yield* c.list(CoreResources.event, { namespace: ns })
    return l.items
      .filter((e) => (e.regarding as { name?: string } | undefined)?.name === name)
      .map((e) => ({ reason: e.reason as string, note: e.note as string, type: e.type as string }))
  })

const countRequests = (server: GitHttpServer) => ({
  gets: server.requests.filter((r) => r.method === "GET").length,
  posts: server.requests.filter((r) => r.method === "POST").length,
})

describe("GitRepository controller", () => {
  it.live(
    "stores and serves artifacts, follows new commits within an interval, never clones an unchanged remote",
    () =>
      Effect.gen(function* () {
        const ns = yield* testNamespace("gitrepo")
        const server = yield* gitHttpServer()
        const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "app"))
        const first = yield* Effect.promise(() =>
          commitFiles(bare, { "deploy/app.yaml": "a: 1\n" }, { message: "first" }),
        )
        yield* Effect.promise(() => createTag(bare, "v1.0.0", first))
        yield* Effect.promise(() => createTag(bare, "v1.2.0", first, { message: "annotated" }))
        yield* startController(ns)
        const url = server.repoUrl("app")
        yield* apply(gitRepository(ns, "app", { url, ref: { branch: "main" } }))
        yield* apply(gitRepository(ns, "by-tag", { url, ref: { tag: "v1.0.0" } }))
        yield* apply(gitRepository(ns, "by-semver", { url, ref: { semver: "~1.2" } }))
        yield* apply(gitRepository(ns, "by-name", { url, ref: { name: "refs/heads/main" } }))
        yield* apply(gitRepository(ns, "by-commit", { url, ref: { commit: first } }))

        const repo = yield* waitRepo(ns, "app", "Ready=True", (r) => ready(r)?.status === "True")
        const artifact = repo.status!.artifact!
        expect(artifact.revision).toBe(`main@sha1:${first}`)
        expect(artifact.path).toBe(`gitrepository/${ns}/app/${first}.tar.gz`)
        expect(ready(repo)).toMatchObject({
          reason: "Succeeded",
          message: `stored artifact for revision 'main@sha1:${first}'`,
        })
        expect(cond(repo, "ArtifactInStorage")).toMatchObject({ status: "True", reason: "Succeeded" })
        expect(repo.status?.observedGeneration).toBe(1)

        // The URL in the status serves the tarball whose sha256 is the digest.
        const res = yield* Effect.promise(() => fetch(artifact.url))
        expect(res.status).toBe(200)
        const body = Buffer.from(yield* Effect.promise(() => res.arrayBuffer()))
        expect(`sha256:${createHash("sha256").update(body).digest("hex")}`).toBe(artifact.digest)

        for (const [name, revision] of [
          ["by-tag", `v1.0.0@sha1:${first}`],
          ["by-semver", `v1.2.0@sha1:${first}`],
          ["by-name", `refs/heads/main@sha1:${first}`],
          ["by-commit", `sha1:${first}`],
        ] as const) {
          const r = yield* waitRepo(ns, name, "Ready=True", (r) => ready(r)?.status === "True")
          expect(r.status?.artifact?.revision).toBe(revision)
        }

        const events = yield* eventually(
          "NewArtifact event",
          eventsOf(ns, "app").pipe(
            Effect.map((es) => {
              const e = es.find((x) => x.reason === "NewArtifact")
              return e === undefined ? Option.none() : Option.some(e)
            }),
          ),
        )
        expect(events.note).toBe("stored artifact for commit 'first'")

        // Unchanged remote: several intervals pass, only ls-remote traffic (one POST per GET; a fetch adds
        // a second POST), no new artifact.
        // Over the whole log, POSTs − GETs counts the fetches so far (it dips by one while an ls-remote's POST
        // is in flight, so take the highest of several samples).
        const excess = () => {
          const c = countRequests(server)
          return c.posts - c.gets
        }
        const sample = (n: number) =>
          Effect.gen(function* () {
            let high = Number.NEGATIVE_INFINITY
            for (let i = 0; i < n; i++) {
              high = Math.max(high, excess())
              yield* Effect.sleep("100 millis")
            }
            return high
          })
        const before = countRequests(server)
        const source = yield* GitSource
        const clonesBefore = (yield* source.stats).clones
        const fetchesBefore = yield* sample(10)
        yield* Effect.sleep("6 seconds")
        const fetchesAfter = yield* sample(10)
        const after = countRequests(server)
        expect(after.gets - before.gets).toBeGreaterThanOrEqual(5 * 2)
        expect(fetchesAfter).toBe(fetchesBefore)
        expect((yield* source.stats).clones).toBe(clonesBefore)
        const still = yield* getRepo(ns, "app")
        expect(still.status?.artifact).toEqual(artifact)

        // A new commit becomes a new artifact within one interval (2 s) plus the time to fetch it.
        const second = yield* Effect.promise(() =>
          commitFiles(bare, { "deploy/app.yaml": "a: 2\n" }, { message: "second" }),
        )
        const pushed = Date.now()
        const moved = yield* waitRepo(
          ns,
          "app",
          "new revision",
          (r) => r.status?.artifact?.revision === `main@sha1:${second}`,
        )
        expect(Date.now() - pushed).toBeLessThan(2_000 * 1.1 + 5_000)
        expect(moved.status?.artifact?.digest).not.toBe(artifact.digest)
      }).pipe(Effect.scoped, Effect.provide(Layer.unwrap(operator))),
    120_000,
  )

  it.live(
    "authenticates with basic auth and bearer tokens; wrong password and missing Secret say why without the secret",
    () =>
      Effect.gen(function* () {
        const ns = yield* testNamespace("gitauth")
        const basic = yield* gitHttpServer({
          auth: { basic: { username: "flux", password: "pa55-correct-77" } },
        })
        const bearer = yield* gitHttpServer({ auth: { bearerToken: "tok-0a1b2c3d4e5f" } })
        for (const s of [basic, bearer]) {
          const bare = yield* Effect.promise(() => createBareRepo(s.reposDir, "app"))
          yield* Effect.promise(() => commitFiles(bare, { "a.yaml": "a: 1\n" }))
        }
        yield* startController(ns)
        yield* secret(ns, "basic", { username: "flux", password: "pa55-correct-77" })
        yield* secret(ns, "wrong", { username: "flux", password: "pa55-wrong-666" })
        yield* secret(ns, "token", { bearerToken: "tok-0a1b2c3d4e5f" })
        const spec = (url: string, secretName: string) => ({
          url,
          ref: { branch: "main" },
          secretRef: { name: secretName },
        })
        yield* apply(gitRepository(ns, "basic", spec(basic.repoUrl("app"), "basic")))
        yield* apply(gitRepository(ns, "token", spec(bearer.repoUrl("app"), "token")))
        yield* apply(gitRepository(ns, "wrong", spec(basic.repoUrl("app"), "wrong")))
        yield* apply(gitRepository(ns, "missing", spec(basic.repoUrl("app"), "not-there")))

        yield* waitRepo(ns, "basic", "Ready=True", (r) => ready(r)?.status === "True")
        yield* waitRepo(ns, "token", "Ready=True", (r) => ready(r)?.status === "True")

        const wrong = yield* waitRepo(ns, "wrong", "Ready=False", (r) => ready(r)?.status === "False")
        expect(ready(wrong)?.reason).toBe("AuthenticationFailed")
        expect(ready(wrong)?.message).toContain("authentication failed")
        expect(cond(wrong, "FetchFailed")).toMatchObject({ status: "True", reason: "AuthenticationFailed" })
        expect(cond(wrong, "Reconciling")?.reason).toBe("ProgressingWithRetry")

        const missing = yield* waitRepo(ns, "missing", "Ready=False", (r) => ready(r)?.status === "False")
        expect(ready(missing)?.reason).toBe("AuthenticationFailed")
        expect(ready(missing)?.message).toBe(
          `failed to get secret '${ns}/not-there': secrets "not-there" not found`,
        )

        // Nothing secret anywhere a user can read: status and events.
        const everything = JSON.stringify([
          yield* getRepo(ns, "wrong"),
          yield* getRepo(ns, "basic"),
          yield* getRepo(ns, "token"),
          yield* eventsOf(ns, "wrong"),
          yield* eventsOf(ns, "token"),
        ])
        for (const s of ["pa55-wrong-666", "pa55-correct-77", "tok-0a1b2c3d4e5f"])
          expect(everything).not.toContain(s)
        expect(everything).not.toContain(Buffer.from("flux:pa55-wrong-666").toString("base64"))

        // The missing Secret appears: the retry picks it up.
        yield* secret(ns, "not-there", { username: "flux", password: "pa55-correct-77" })
        yield* waitRepo(
          ns,
          "missing",
          "Ready=True after the Secret appears",
          (r) => ready(r)?.status === "True",
        )
      }).pipe(Effect.scoped, Effect.provide(Layer.unwrap(operator))),
    120_000,
  )

  it.live.skipIf(!hasTool("sshd"))(
    "authenticates over SSH with known_hosts and refuses an unknown host key",
    () =>
      Effect.gen(function* () {
        const ns = yield* testNamespace("gitssh")
        const server = yield* gitSshServer()
        const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "app"))
        const head = yield* Effect.promise(() => commitFiles(bare, { "a.yaml": "a: 1\n" }))
        const keys = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(join(tmpdir(), "kustodian-keys-"))),
          (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
        )
        const other = yield* Effect.promise(() => makeSshKeyPair(keys, "other"))
        yield* startController(ns)
        yield* secret(ns, "ssh", { identity: server.clientPrivateKey, known_hosts: server.knownHosts })
        yield* secret(ns, "ssh-unknown-host", {
          identity: server.clientPrivateKey,
          known_hosts: `[127.0.0.1]:${server.port} ${other.publicKey.split(" ").slice(0, 2).join(" ")}\n`,
        })
        const url = server.repoUrl("app")
        yield* apply(gitRepository(ns, "ssh", { url, ref: { branch: "main" }, secretRef: { name: "ssh" } }))
        yield* apply(
          gitRepository(ns, "unknown-host", {
            url,
            ref: { branch: "main" },
            secretRef: { name: "ssh-unknown-host" },
          }),
        )
        const ok = yield* waitRepo(ns, "ssh", "Ready=True", (r) => ready(r)?.status === "True")
        expect(ok.status?.artifact?.revision).toBe(`main@sha1:${head}`)
        const bad = yield* waitRepo(ns, "unknown-host", "Ready=False", (r) => ready(r)?.status === "False")
        expect(ready(bad)?.reason).toBe("AuthenticationFailed")
        expect(ready(bad)?.message).toContain("host key verification failed")
        expect(JSON.stringify(bad)).not.toContain("PRIVATE KEY")
      }).pipe(Effect.scoped, Effect.provide(Layer.unwrap(operator))),
    120_000,
  )

  it.live(
    "keeps the last artifact on failure, stalls an invalid spec naming the field, suspends, cleans up on delete",
    () =>
      Effect.gen(function* () {
        const ns = yield* testNamespace("gitfail")
        const server = yield* gitHttpServer()
        const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "app"))
        const first = yield* Effect.promise(() => commitFiles(bare, { "a.yaml": "a: 1\n" }))
        yield* startController(ns)
        const url = server.repoUrl("app")
        yield* apply(gitRepository(ns, "app", { url, ref: { branch: "main" } }))
        const good = yield* waitRepo(ns, "app", "Ready=True", (r) => ready(r)?.status === "True")
        const artifact = good.status!.artifact!

        // A branch that does not exist: Ready=False, the old artifact stays in status and on the server.
        yield* apply(gitRepository(ns, "app", { url, ref: { branch: "gone" } }))
        const failed = yield* waitRepo(ns, "app", "Ready=False", (r) => ready(r)?.status === "False")
        expect(ready(failed)).toMatchObject({ reason: "GitOperationFailed" })
        expect(ready(failed)?.message).toContain("branch 'gone' not found")
        expect(cond(failed, "FetchFailed")?.status).toBe("True")
        expect(cond(failed, "ArtifactInStorage")?.status).toBe("True")
        expect(failed.status?.artifact).toEqual(artifact)
        expect((yield* Effect.promise(() => fetch(artifact.url))).status).toBe(200)

        // An invalid semver range: Stalled, the message names the field.
        yield* apply(gitRepository(ns, "app", { url, ref: { semver: "not a range" } }))
        const stalled = yield* waitRepo(ns, "app", "Stalled", (r) => cond(r, "Stalled")?.status === "True")
        expect(cond(stalled, "Stalled")?.message).toContain("spec.ref.semver")
        expect(ready(stalled)?.status).toBe("False")
        expect(stalled.status?.observedGeneration).toBe(stalled.metadata.generation)

        // A field Kustodian does not implement is refused by name rather than ignored.
        yield* apply(gitRepository(ns, "azure", { url, ref: { branch: "main" }, provider: "azure" }))
        const azure = yield* waitRepo(ns, "azure", "Stalled", (r) => cond(r, "Stalled")?.status === "True")
        expect(cond(azure, "Stalled")?.message).toBe(
          "spec.provider is not supported by Kustodian: provider 'azure' is not implemented until cloud identities exist; use 'generic' or 'github'",
        )
        expect(azure.status?.artifact).toBeUndefined()

        // Back to main, then suspend: a new commit is not picked up.
        yield* apply(gitRepository(ns, "app", { url, ref: { branch: "main" } }))
        yield* waitRepo(
          ns,
          "app",
          "Ready=True again",
          (r) => ready(r)?.status === "True" && cond(r, "Stalled") === undefined,
        )
        yield* apply(gitRepository(ns, "app", { url, ref: { branch: "main" }, suspend: true }))
        yield* Effect.sleep("1 second")
        yield* Effect.promise(() => commitFiles(bare, { "a.yaml": "a: 2\n" }))
        yield* Effect.sleep("5 seconds")
        expect((yield* getRepo(ns, "app")).status?.artifact?.revision).toBe(`main@sha1:${first}`)

        // Delete: the finalizer removes the artifacts from storage.
        const client = yield* KubeClient
        yield* apply(gitRepository(ns, "app", { url, ref: { branch: "main" } }))
        yield* waitRepo(ns, "app", "resumed", (r) => r.status?.artifact?.revision !== `main@sha1:${first}`)
        const latest = (yield* getRepo(ns, "app")).status!.artifact!
        yield* client.delete(gitRepositoryRef, "app", ns)
        yield* eventually(
          "object gone",
          client
            .getOption(gitRepositoryRef, "app", ns)
            .pipe(Effect.map((o) => (Option.isNone(o) ? Option.some(true) : Option.none()))),
        )
        expect((yield* Effect.promise(() => fetch(latest.url))).status).toBe(404)
      }).pipe(Effect.scoped, Effect.provide(Layer.unwrap(operator))),
    120_000,
  )

  it.live(
    "sparseCheckout, verify, proxySecretRef and provider github as Flux's source-controller does them",
    () =>
      Effect.gen(function* () {
        const ns = yield* testNamespace("gitopts")
        const signer = yield* gpgSigningKey("signer")
        const stranger = yield* gpgSigningKey("stranger")
        const server = yield* gitHttpServer()
        const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "mono"))
        const head = yield* Effect.promise(() =>
          commitFiles(
            bare,
            { "root.yaml": "r: 1\n", "apps/a/app.yaml": "a: 1\n", "infra/x.yaml": "x: 1\n" },
            { sign: signer.sign, message: "signed" },
          ),
        )
        const token = `ghs_${randomSecret()}`
        const tokens = yield* githubTokenServer(token)
        const private_ = yield* gitHttpServer({
          auth: { basic: { username: "x-access-token", password: token } },
        })
        const privateBare = yield* Effect.promise(() => createBareRepo(private_.reposDir, "app"))
        const privateHead = yield* Effect.promise(() => commitFiles(privateBare, { "a.yaml": "a: 1\n" }))
        const proxyPassword = `pp-${randomSecret()}`
        const proxy = yield* httpProxy({ username: "squid", password: proxyPassword })
        yield* startController(ns)
        const url = server.repoUrl("mono")
        yield* secret(ns, "keys", { "signer.asc": signer.publicKey })
        yield* secret(ns, "other-keys", { "stranger.asc": stranger.publicKey })
        yield* secret(ns, "proxy", { address: proxy.url, username: "squid", password: proxyPassword })
        yield* secret(ns, "app", {
          githubAppID: tokens.appID,
          githubAppInstallationID: tokens.installationID,
          githubAppPrivateKey: tokens.privateKey,
          githubAppBaseURL: tokens.url,
        })
        const main = { url, ref: { branch: "main" } }
        yield* apply(gitRepository(ns, "sparse", { ...main, sparseCheckout: ["./apps/a"] }))
        yield* apply(gitRepository(ns, "sparse-missing", { ...main, sparseCheckout: ["apps/nope"] }))
        yield* apply(
          gitRepository(ns, "verified", { ...main, verify: { mode: "HEAD", secretRef: { name: "keys" } } }),
        )
        yield* apply(
          gitRepository(ns, "unverified", {
            ...main,
            verify: { mode: "HEAD", secretRef: { name: "other-keys" } },
          }),
        )
        yield* apply(gitRepository(ns, "no-keys", { ...main, verify: { secretRef: { name: "not-there" } } }))
        yield* apply(gitRepository(ns, "proxied", { ...main, proxySecretRef: { name: "proxy" } }))
        yield* apply(
          gitRepository(ns, "github", {
            url: private_.repoUrl("app"),
            ref: { branch: "main" },
            provider: "github",
            secretRef: { name: "app" },
          }),
        )
        yield* apply(gitRepository(ns, "aws", { ...main, provider: "aws" }))

        // sparseCheckout: only the directory in the served artifact, observed in status.
        const sparse = yield* waitRepo(ns, "sparse", "Ready=True", (r) => ready(r)?.status === "True")
        expect((sparse.status as { observedSparseCheckout?: unknown }).observedSparseCheckout).toEqual([
          "./apps/a",
        ])
        const dir = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(join(tmpdir(), "kustodian-artifact-"))),
          (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
        )
        const body = yield* Effect.promise(async () =>
          Buffer.from(await (await fetch(sparse.status!.artifact!.url)).arrayBuffer()),
        )
        const entries: string[] = []
        yield* Effect.promise(async () => {
          await writeFile(join(dir, "a.tar.gz"), body)
          const tar = await import("tar")
          await tar.t({ file: join(dir, "a.tar.gz"), onReadEntry: (e) => entries.push(e.path) })
        })
        expect(entries).toEqual(["apps/a/app.yaml"])
        const missing = yield* waitRepo(
          ns,
          "sparse-missing",
          "Ready=False",
          (r) => ready(r)?.status === "False",
        )
        expect(ready(missing)).toMatchObject({
          reason: "GitOperationFailed",
          message:
            "failed to sparse checkout directories : sparse checkout dir 'apps/nope' does not exist in repository",
        })
        expect(cond(missing, "FetchFailed")?.status).toBe("True")

        // verify: SourceVerified=True naming the key; a stranger's key: no artifact, Flux's reason.
        const verified = yield* waitRepo(ns, "verified", "Ready=True", (r) => ready(r)?.status === "True")
        expect(cond(verified, "SourceVerified")).toMatchObject({
          status: "True",
          reason: "Succeeded",
          message: `verified signature of\n\t- commit '${head}' with key '${signer.identity}'`,
        })
        expect((verified.status as { sourceVerificationMode?: string }).sourceVerificationMode).toBe("HEAD")
        const unverified = yield* waitRepo(
          ns,
          "unverified",
          "Ready=False",
          (r) => ready(r)?.status === "False",
        )
        expect(ready(unverified)?.reason).toBe("InvalidCommitSignature")
        expect(cond(unverified, "SourceVerified")).toMatchObject({
          status: "False",
          reason: "InvalidCommitSignature",
        })
        expect(cond(unverified, "SourceVerified")?.message).toContain("no matching key")
        expect(unverified.status?.artifact).toBeUndefined()
        const noKeys = yield* waitRepo(ns, "no-keys", "Ready=False", (r) => ready(r)?.status === "False")
        expect(cond(noKeys, "SourceVerified")).toMatchObject({
          status: "False",
          reason: "VerificationError",
          message: 'public keys secret error: secrets "not-there" not found',
        })
        // The right key arrives: verified on the next attempt.
        yield* secret(ns, "other-keys", {
          "stranger.asc": stranger.publicKey,
          "signer.asc": signer.publicKey,
        })
        const fixed = yield* waitRepo(
          ns,
          "unverified",
          "Ready=True with both keys",
          (r) => ready(r)?.status === "True",
        )
        expect(cond(fixed, "SourceVerified")?.status).toBe("True")

        // proxySecretRef: the git traffic went through the proxy, its password is nowhere.
        const proxied = yield* waitRepo(ns, "proxied", "Ready=True", (r) => ready(r)?.status === "True")
        expect(proxied.status?.artifact?.revision).toBe(`main@sha1:${head}`)
        expect(
          proxy.requests.filter((r) => r.status === 200 && r.target.startsWith(url)).length,
        ).toBeGreaterThan(0)

        // provider github: the minted installation token opened the private server.
        const github = yield* waitRepo(ns, "github", "Ready=True", (r) => ready(r)?.status === "True")
        expect(github.status?.artifact?.revision).toBe(`main@sha1:${privateHead}`)
        expect(tokens.requests.filter((r) => r.status === 201).length).toBe(1)
        expect(private_.requests.some((r) => r.user === "x-access-token")).toBe(true)

        const aws = yield* waitRepo(ns, "aws", "Stalled", (r) => cond(r, "Stalled")?.status === "True")
        expect(cond(aws, "Stalled")?.message).toContain("not implemented until cloud identities exist")

        const everything = JSON.stringify([
          yield* getRepo(ns, "proxied"),
          yield* getRepo(ns, "github"),
          yield* eventsOf(ns, "proxied"),
          yield* eventsOf(ns, "github"),
        ])
        for (const s of [proxyPassword, token, "PRIVATE KEY"]) expect(everything).not.toContain(s)
      }).pipe(Effect.scoped, Effect.provide(Layer.unwrap(operator))),
    180_000,
  )

  it.live(
    "include: another GitRepository's artifact at toPath, status as Flux's, waits for a missing one, rebuilds on its new artifact",
    () =>
      Effect.gen(function* () {
        const ns = yield* testNamespace("gitinclude")
        const server = yield* gitHttpServer()
        const libBare = yield* Effect.promise(() => createBareRepo(server.reposDir, "lib"))
        yield* Effect.promise(() =>
          commitFiles(libBare, { "base/lib.yaml": "l: 1\n", "other.yaml": "o: 1\n" }),
        )
        const appBare = yield* Effect.promise(() => createBareRepo(server.reposDir, "app"))
        yield* Effect.promise(() => commitFiles(appBare, { "app.yaml": "a: 1\n" }))
        yield* startController(ns)
        const include = [{ repository: { name: "lib" }, fromPath: "base", toPath: "vendor/lib" }]
        // The includer's own interval is an hour: only the watch on the included repository can rebuild it.
        yield* apply(
          gitRepository(ns, "app", {
            url: server.repoUrl("app"),
            ref: { branch: "main" },
            interval: "1h",
            include,
          }),
        )
        const waiting = yield* waitRepo(
          ns,
          "app",
          "IncludeUnavailable",
          (r) => cond(r, "IncludeUnavailable")?.status === "True",
        )
        expect(cond(waiting, "IncludeUnavailable")?.reason).toBe("NotFound")
        expect(ready(waiting)?.status).toBe("False")
        yield* apply(gitRepository(ns, "lib", { url: server.repoUrl("lib"), ref: { branch: "main" } }))
        const lib = yield* waitRepo(ns, "lib", "Ready=True", (r) => ready(r)?.status === "True")
        const app = yield* waitRepo(ns, "app", "Ready=True", (r) => ready(r)?.status === "True")
        expect(cond(app, "IncludeUnavailable")).toBeUndefined()
        const status = app.status as { includedArtifacts?: unknown; observedInclude?: unknown }
        expect(status.includedArtifacts).toEqual([lib.status?.artifact])
        expect(status.observedInclude).toEqual(include)

        const dir = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(join(tmpdir(), "kustodian-artifact-"))),
          (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
        )
        const entriesOf = (url: string) =>
          Effect.promise(async () => {
            const body = Buffer.from(await (await fetch(url)).arrayBuffer())
            await writeFile(join(dir, "a.tar.gz"), body)
            const entries: string[] = []
            const tar = await import("tar")
            await tar.t({ file: join(dir, "a.tar.gz"), onReadEntry: (e) => entries.push(e.path) })
            return entries.sort()
          })
        expect(yield* entriesOf(app.status!.artifact!.url)).toEqual(["app.yaml", "vendor/lib/lib.yaml"])

        // A new commit of lib: lib's new artifact rebuilds app at once, though app's interval is an hour.
        const next = yield* Effect.promise(() => commitFiles(libBare, { "base/lib.yaml": "l: 2\n" }))
        const rebuilt = yield* waitRepo(
          ns,
          "app",
          "rebuilt with lib's new artifact",
          (r) =>
            ((r.status as { includedArtifacts?: ReadonlyArray<{ revision: string }> }).includedArtifacts ??
              [])[0]?.revision === `main@sha1:${next}`,
          20_000,
        )
        expect(rebuilt.status?.artifact?.digest).not.toBe(app.status?.artifact?.digest)
        expect(rebuilt.status?.artifact?.revision).toBe(app.status?.artifact?.revision)

        // A toPath out of the artifact stalls, naming the field.
        yield* apply(
          gitRepository(ns, "escape", {
            url: server.repoUrl("app"),
            ref: { branch: "main" },
            include: [{ repository: { name: "lib" }, toPath: "../../etc" }],
          }),
        )
        const escaping = yield* waitRepo(
          ns,
          "escape",
          "Stalled",
          (r) => cond(r, "Stalled")?.status === "True",
        )
        expect(cond(escaping, "Stalled")?.message).toContain("spec.include[0].toPath is invalid")

        // lib including app closes a cycle the watch would rebuild without end: lib waits, naming it.
        yield* apply(
          gitRepository(ns, "lib", {
            url: server.repoUrl("lib"),
            ref: { branch: "main" },
            include: [{ repository: { name: "app" } }],
          }),
        )
        const cyclic = yield* waitRepo(
          ns,
          "lib",
          "IncludeCycle",
          (r) => cond(r, "IncludeUnavailable")?.reason === "IncludeCycle",
        )
        expect(cond(cyclic, "IncludeUnavailable")?.message).toBe(
          "include 'app' leads back to this GitRepository: lib → app → lib",
        )
        expect(ready(cyclic)?.status).toBe("False")
      }).pipe(Effect.scoped, Effect.provide(Layer.unwrap(operator))),
    120_000,
  )
})
