/**
 * The Git service: ask a remote which commit a reference points at (ls-remote, no clone), and check a
 * resolved reference out into a directory with the least history the reference allows. Everything runs the
 * real `git` binary through `runGit` with the auth environment from `materializeAuth`.
 */
import { mkdir, readdir, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Context, type Duration, Effect, Layer, Schedule } from "effect"
import { defaultLimits, type Limits } from "../../limits.ts"
import { type CheckoutCaps, checkTree, measureDir, sumTree } from "./checkout-caps.ts"
import { GitAuthError, GitOperationError, type LimitExceededError } from "./errors.ts"
import type { GitAuthEnv } from "./git-auth.ts"
import { GitExit, type GitOutput, runGit } from "./git-process.ts"
import {
  lsRemotePatterns,
  notFoundMessage,
  parseLsRemote,
  type RefSelector,
  type ResolvedRef,
  resolveRef,
} from "./git-ref.ts"
import { stripUserinfo } from "./redact.ts"
import { sparsePatterns } from "./sparse-checkout.ts"

/** Per-operation settings shared by `resolve` and `checkout`. */
export interface GitOptions {
  readonly auth: GitAuthEnv
  readonly timeout: Duration.Duration
}

/** What a checkout produced. */
export interface Checkout {
  /** The commit HEAD is at (may differ from the ls-remote answer if someone pushed in between). */
  readonly commit: string
  /** Subject line of that commit, for the NewArtifact event. */
  readonly subject: string
}

export type GitError = GitAuthError | GitOperationError

/** The raw objects `spec.verify` checks: HEAD's commit and, when asked, the tag it was checked out by. */
export interface SignedObjects {
  readonly commit: Buffer
  /** Undefined when no tag was asked for; `raw` undefined for a lightweight tag (nothing to verify). */
  readonly tag?: { readonly name: string; readonly hash: string; readonly raw: Buffer | undefined }
}

/** What `checkout` takes beyond `GitOptions`. */
export interface CheckoutOptions extends GitOptions {
  readonly recurseSubmodules: boolean
  /** Size and file-count caps, checked from the tree before any file is written. */
  readonly caps: CheckoutCaps
  /** `spec.sparseCheckout` as checked git paths: only these directories are measured and written. */
  readonly sparse?: ReadonlyArray<string> | undefined
}

const authPatterns = [
  /Authentication failed/i,
  /could not read (Username|Password)/i,
  /terminal prompts disabled/i,
  /HTTP (Basic: Access denied|401|403)/i,
  /The requested URL returned error: 40[13]/i,
  /Permission denied \(/i,
  /Host key verification failed/i,
  /REMOTE HOST IDENTIFICATION HAS CHANGED/i,
  /No \S+ host key is known/i,
  /incorrect passphrase|bad passphrase|error in libcrypto|invalid format/i,
]
const hostKeyPattern =
  /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key is known/i
const notFoundPatterns = [
  /couldn't find remote ref/i,
  /not our ref/i,
  /repository .* not found/i,
  /returned error: 404/i,
]

/** The last few meaningful stderr lines; git prefixes everything with fatal:/error:, which we keep. */
const summary = (stderr: string): string =>
  stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !/^(hint|warning):/.test(l))
    .slice(-3)
    .join("; ") || "no error output"

/** Classify a failed git child into an auth failure or an operation failure. */
export const classify = (url: string, operation: string, exit: GitExit): GitError => {
  const stderr = exit.stderr
  if (hostKeyPattern.test(stderr))
    return new GitAuthError({
      url,
      message: `${operation} '${url}': SSH host key verification failed: the server's host key is not in known_hosts`,
    })
  // git asks for a username after a 401/403 (prompts are off): the credentials were missing or rejected.
  if (/could not read (Username|Password)|terminal prompts disabled|returned error: 40[13]/i.test(stderr))
    return new GitAuthError({
      url,
      message: `${operation} '${url}': authentication failed: the server refused the request (HTTP 401/403); the credentials are missing or wrong`,
    })
  if (/incorrect passphrase|bad passphrase/i.test(stderr))
    return new GitAuthError({
      url,
      message: `${operation} '${url}': authentication failed: the SSH key could not be decrypted with the Secret's 'password'`,
    })
  if (/Permission denied \(/i.test(stderr))
    return new GitAuthError({
      url,
      message: `${operation} '${url}': authentication failed: the SSH server refused the key (Permission denied)`,
    })
  if (authPatterns.some((p) => p.test(stderr)))
    return new GitAuthError({
      url,
      message: `${operation} '${url}': authentication failed: ${summary(stderr)}`,
    })
  return new GitOperationError({
    url,
    operation,
    message: `${operation} '${url}' failed: ${summary(stderr)}`,
    transient: !notFoundPatterns.some((p) => p.test(stderr)),
  })
}

/** Retry only what may go away by itself: network blips, 5xx, timeouts. Never auth or missing refs. */
const retryTransient = <A>(self: Effect.Effect<A, GitError>): Effect.Effect<A, GitError> =>
  self.pipe(
    Effect.retry({
      schedule: Schedule.exponential("500 millis").pipe(Schedule.jittered),
      times: 2,
      while: (e) => e._tag === "GitOperationError" && e.transient,
    }),
  )

export class Git extends Context.Service<
  Git,
  {
    /** Ask the remote which commit `selector` points at, without cloning. */
    readonly resolve: (
      url: string,
      selector: RefSelector,
      opts: GitOptions,
    ) => Effect.Effect<ResolvedRef, GitError>
    /**
     * Check `ref` out into the empty directory `dir` (no `.git` left out — the archiver skips it), refusing a
     * tree over `opts.caps` before any of its files is written.
     */
    readonly checkout: (
      url: string,
      ref: ResolvedRef,
      dir: string,
      opts: CheckoutOptions,
    ) => Effect.Effect<Checkout, GitError | LimitExceededError>
    /**
     * Read the raw commit object of `commit` in a checkout, and the tag `tag` (fetched by name: a shallow
     * clone keeps no tag refs), which must still point at that commit.
     */
    readonly signedObjects: (
      url: string,
      dir: string,
      commit: string,
      tag: string | undefined,
      opts: GitOptions,
    ) => Effect.Effect<SignedObjects, GitError>
  }
>()("kustodian/stages/fetch/Git") {
  /** Git with the default `--max-git-output-size`. */
  static readonly layer = Layer.sync(Git, () => Git.make(defaultLimits.maxGitOutputSize))

  /** Git whose commands fail once their stdout passes `maxStdout` bytes (a hostile server's answer). */
  static layerWith(limits: Pick<Limits, "maxGitOutputSize">) {
    return Layer.sync(Git, () => Git.make(limits.maxGitOutputSize))
  }

  static make(maxStdout: number) {
    const git = (
      url: string,
      operation: string,
      args: ReadonlyArray<string>,
      opts: GitOptions,
      cwd?: string,
    ): Effect.Effect<GitOutput, GitError> =>
      runGit({
        args,
        env: opts.auth.env,
        timeout: opts.timeout,
        url: stripUserinfo(url),
        operation,
        secrets: opts.auth.secrets,
        maxStdout,
        ...(cwd === undefined ? {} : { cwd }),
      }).pipe(
        Effect.catchIf(
          (e): e is GitExit => e instanceof GitExit,
          (e) => Effect.fail(classify(stripUserinfo(url), operation, e)),
        ),
      )

    const resolve = Effect.fn("Git.resolve")(function* (
      url: string,
      selector: RefSelector,
      opts: GitOptions,
    ) {
      yield* Effect.annotateCurrentSpan({ "git.ref.kind": selector.kind })
      const patterns = lsRemotePatterns(selector)
      if (patterns === undefined) {
        // A bare commit: nothing to ask, the remote is contacted by checkout.
        return resolveRef(selector, new Map())!
      }
      const flags = selector.kind === "semver" ? ["--tags"] : []
      const out = yield* retryTransient(
        git(url, "ls-remote", ["ls-remote", ...flags, "--", url, ...patterns], opts),
      )
      const resolved = resolveRef(selector, parseLsRemote(out.stdout))
      if (resolved === undefined)
        return yield* new GitOperationError({
          url: stripUserinfo(url),
          operation: "ls-remote",
          message: `${notFoundMessage(selector)} in '${stripUserinfo(url)}'`,
          transient: false,
        })
      return resolved
    })

    const checkoutStepwise = Effect.fn("Git.checkoutStepwise")(function* (
      url: string,
      ref: ResolvedRef,
      dir: string,
      opts: CheckoutOptions,
    ) {
      yield* Effect.annotateCurrentSpan({ "git.ref.kind": ref.selector.kind, "git.commit": ref.commit })
      const inDir = (operation: string, args: ReadonlyArray<string>) => git(url, operation, args, opts, dir)
      yield* git(url, "init", ["init", "-q", "--template=", "--", dir], opts)
      yield* inDir("remote add", ["remote", "add", "origin", "--", url])
      const fetch = (args: ReadonlyArray<string>) =>
        retryTransient(inDir("fetch", ["fetch", "-q", "--no-tags", "--no-recurse-submodules", ...args]))
      if (ref.selector.kind === "commit") {
        if (ref.fetchRef !== undefined) {
          // commit + branch: the commit must be on that branch; fetch its history, not just the tip.
          yield* fetch(["origin", `+${ref.fetchRef}:refs/kustodian/target`])
        } else {
          // Servers that allow fetching any reachable SHA give us a shallow fetch; others need all refs.
          yield* fetch(["--depth=1", "origin", ref.commit]).pipe(
            Effect.catchTag("GitOperationError", () =>
              fetch(["origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]),
            ),
          )
        }
        const where = ref.display === undefined ? "" : ` on branch '${ref.display}'`
        // A commit that was not fetched fails here the same way checkout would.
        yield* refuseOversizedTree(url, dir, `${ref.commit}^{tree}`, opts).pipe(
          Effect.catchTag("GitOperationError", (e) =>
            Effect.fail(
              new GitOperationError({
                url: e.url,
                operation: "checkout",
                message: `${notFoundMessage(ref.selector)}${where} in '${stripUserinfo(url)}'`,
                transient: false,
              }),
            ),
          ),
        )
        yield* writeCheckout(url, dir, ref.commit, opts).pipe(
          Effect.catchTag("GitOperationError", (e) =>
            Effect.fail(
              new GitOperationError({
                url: e.url,
                operation: "checkout",
                message: `${notFoundMessage(ref.selector)}${where} in '${stripUserinfo(url)}'`,
                transient: false,
              }),
            ),
          ),
        )
      } else {
        yield* fetch(["--depth=1", "origin", `+${ref.fetchRef}:refs/kustodian/target`])
        yield* refuseOversizedTree(url, dir, "refs/kustodian/target", opts)
        yield* writeCheckout(url, dir, "refs/kustodian/target", opts)
      }
      if (opts.recurseSubmodules) yield* updateSubmodules(url, dir, opts)
      return yield* headOf(url, dir, opts)
    })

    /**
     * `git ls-tree` of `rev` against the caps: the objects are in `.git`, nothing is checked out yet. A sparse
     * checkout measures only its directories (literal pathspecs: a directory named `*` is no wildcard).
     */
    const refuseOversizedTree = (url: string, dir: string, rev: string, opts: CheckoutOptions) =>
      git(
        url,
        "ls-tree",
        [
          "--literal-pathspecs",
          "ls-tree",
          "-r",
          "-l",
          "-z",
          "--full-tree",
          rev,
          "--",
          ...(opts.sparse ?? []),
        ],
        opts,
        dir,
      ).pipe(
        Effect.flatMap((out) => {
          const refused = checkTree(sumTree(out.stdout), opts.caps, "the checkout")
          return refused === undefined ? Effect.void : Effect.fail(refused)
        }),
      )

    /**
     * Submodule trees are only known once written: they are measured right after their update, so an
     * oversized one is removed with the checkout directory instead of being archived.
     */
    const updateSubmodules = (url: string, dir: string, opts: CheckoutOptions) =>
      retryTransient(
        git(url, "submodule update", ["submodule", "update", "-q", "--init", "--recursive"], opts, dir),
      ).pipe(
        Effect.andThen(Effect.promise(() => measureDir(dir, opts.caps))),
        Effect.flatMap((size) => {
          const refused = checkTree(size, opts.caps, "the checkout with its submodules")
          return refused === undefined ? Effect.void : Effect.fail(refused)
        }),
      )

    /**
     * Write `rev`'s tree into the work tree: all of it, or (sparse) only the listed directories, through
     * git's non-cone sparse patterns in `.git/info/sparse-checkout`.
     */
    const writeCheckout = (url: string, dir: string, rev: string, opts: CheckoutOptions) =>
      Effect.gen(function* () {
        const sparse = opts.sparse
        if (sparse === undefined || sparse.length === 0)
          return yield* git(url, "checkout", ["checkout", "-q", "--detach", rev, "--"], opts, dir)
        yield* Effect.promise(async () => {
          await mkdir(join(dir, ".git", "info"), { recursive: true })
          await writeFile(join(dir, ".git", "info", "sparse-checkout"), sparsePatterns(sparse))
        })
        const config = ["-c", "core.sparseCheckout=true", "-c", "core.sparseCheckoutCone=false"]
        return yield* git(url, "checkout", [...config, "checkout", "-q", "--detach", rev, "--"], opts, dir)
      })

    const headOf = (url: string, dir: string, opts: GitOptions) =>
      git(url, "log", ["log", "-1", "--format=%H%n%s", "HEAD"], opts, dir).pipe(
        Effect.map((out) => {
          const [commit = "", subject = ""] = out.stdout.split("\n")
          return { commit: commit.trim(), subject: subject.trim() }
        }),
      )

    /** A clean directory for a retried clone (git refuses a non-empty target). */
    const emptyDir = (dir: string) =>
      Effect.promise(async () => {
        for (const entry of await readdir(dir)) await rm(join(dir, entry), { recursive: true, force: true })
      })

    const checkout = Effect.fn("Git.checkout")(function* (
      url: string,
      ref: ResolvedRef,
      dir: string,
      opts: CheckoutOptions,
    ) {
      const short =
        ref.fetchRef?.startsWith("refs/heads/") === true
          ? ref.fetchRef.slice("refs/heads/".length)
          : ref.fetchRef?.startsWith("refs/tags/") === true
            ? ref.fetchRef.slice("refs/tags/".length)
            : undefined
      if (ref.selector.kind === "commit" || ref.selector.kind === "name" || short === undefined)
        return yield* checkoutStepwise(url, ref, dir, opts)
      // Branches and tags: one shallow `git clone` does init and fetch in a single process; the tree is
      // measured before `checkout` writes it.
      yield* Effect.annotateCurrentSpan({ "git.ref.kind": ref.selector.kind, "git.commit": ref.commit })
      const args = [
        "clone",
        "-q",
        "--template=",
        "--depth=1",
        "--single-branch",
        "--no-tags",
        "--no-checkout",
        "--branch",
        short,
        "--",
        url,
        dir,
      ]
      yield* retryTransient(emptyDir(dir).pipe(Effect.andThen(git(url, "clone", args, opts))))
      yield* refuseOversizedTree(url, dir, "HEAD", opts)
      yield* writeCheckout(url, dir, "HEAD", opts)
      if (opts.recurseSubmodules) yield* updateSubmodules(url, dir, opts)
      return yield* headOf(url, dir, opts)
    })

    const signedObjects = Effect.fn("Git.signedObjects")(function* (
      url: string,
      dir: string,
      commit: string,
      tag: string | undefined,
      opts: GitOptions,
    ) {
      const inDir = (operation: string, args: ReadonlyArray<string>) => git(url, operation, args, opts, dir)
      const raw = yield* inDir("cat-file", ["cat-file", "commit", commit])
      if (tag === undefined) return { commit: Buffer.from(raw.stdout, "utf8") }
      const ref = `refs/tags/${tag}`
      yield* retryTransient(
        inDir("fetch", [
          "fetch",
          "-q",
          "--no-tags",
          "--no-recurse-submodules",
          "--depth=1",
          "origin",
          `+${ref}:${ref}`,
        ]),
      )
      const [hash, peeled, type] = (yield* inDir("rev-parse", ["rev-parse", ref, `${ref}^{commit}`])).stdout
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "")
        .concat([(yield* inDir("cat-file", ["cat-file", "-t", ref])).stdout.trim()])
      if (peeled !== commit)
        return yield* new GitOperationError({
          url: stripUserinfo(url),
          operation: "fetch",
          message: `tag '${tag}' moved to ${peeled} while commit ${commit} was checked out`,
          transient: true,
        })
      const tagRaw =
        type === "tag"
          ? Buffer.from((yield* inDir("cat-file", ["cat-file", "tag", ref])).stdout, "utf8")
          : undefined
      return { commit: Buffer.from(raw.stdout, "utf8"), tag: { name: tag, hash: hash ?? "", raw: tagRaw } }
    })

    return Git.of({ resolve, checkout, signedObjects })
  }
}
