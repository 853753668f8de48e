/**
 * The fetch stage for a GitRepository: validate the spec, materialise its auth, ask the remote for the
 * ref's commit, and — only when that commit (or the ignore rules) differ from the stored artifact — clone,
 * pack and store a new artifact, then collect old ones. The controller turns the result into status/events.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { join } from "node:path"
import { Context, Duration, Effect, Layer } from "effect"
import { defaultLimits, type Limits } from "../../limits.ts"
import { tempRoot } from "../../temp-root.ts"
import {
  AuthSecretError,
  type FetchError,
  GitOperationError,
  InvalidSpecError,
  SourceVerificationError,
} from "./errors.ts"
import { Git } from "./git.ts"
import { type AuthSecret, materializeAuth } from "./git-auth.ts"
import { type GitRefSpec, type ResolvedRef, revisionOf, selectRef } from "./git-ref.ts"
import { githubAppKeys, hasGitHubAppData, makeGitHubAppTokens } from "./github-app.ts"
import { copyIncludes, type Include, type IncludeSpec, sameArtifacts } from "./include.ts"
import { proxyFromSecret } from "./proxy.ts"
import { stripUserinfo } from "./redact.ts"
import { type SignedObject, splitCommit, splitTag, type VerificationKeys, verifySigned } from "./signature.ts"
import { SourceIgnore } from "./source-ignore.ts"
import { parseSparseCheckout, requireSparseDirs } from "./sparse-checkout.ts"
import { type ArtifactOwner, ArtifactStorage, type StoredArtifact } from "./storage.ts"

/** Everything the stage needs from a GitRepository and its Secret. */
export interface GitSourceRequest {
  readonly owner: ArtifactOwner
  readonly url: string
  readonly ref: GitRefSpec | undefined
  readonly timeout: Duration.Duration
  readonly recurseSubmodules: boolean
  /** `spec.ignore`; undefined = Flux's default exclusions. */
  readonly ignore: string | undefined
  /** The decoded `spec.secretRef` Secret, when the spec names one (the controller reads it). */
  readonly secret: AuthSecret | undefined
  /** What the last successful reconcile stored, from status. */
  readonly previous: PreviousArtifact | undefined
  /** `spec.sparseCheckout` as written (compared with `status.observedSparseCheckout`). */
  readonly sparseCheckout?: ReadonlyArray<string> | undefined
  /** The decoded `spec.proxySecretRef` Secret. */
  readonly proxy?: AuthSecret | undefined
  /** `spec.provider`: `generic` (the Secret's credentials) or `github` (App installation tokens). */
  readonly provider?: "generic" | "github" | undefined
  /** `spec.include` as written (compared with `status.observedInclude`) and the artifacts it resolved to. */
  readonly include?:
    | { readonly spec: ReadonlyArray<IncludeSpec>; readonly resolved: ReadonlyArray<Include> }
    | undefined
  /** `spec.verify` with the public keys of its Secret. */
  readonly verify?: { readonly mode: VerificationMode; readonly keys: VerificationKeys } | undefined
}

/** `spec.verify.mode` as Flux normalises it (`head` is `HEAD`). */
export type VerificationMode = "HEAD" | "Tag" | "TagAndHEAD"

/** What `spec.verify` established for the new artifact (`SourceVerified=True` and its message). */
export interface Verified {
  readonly mode: VerificationMode
  readonly message: string
}

/** The stored state a reconcile compares against (status.artifact + the observed* fields). */
export interface PreviousArtifact {
  readonly artifact: StoredArtifact
  readonly observedIgnore: string | undefined
  readonly observedRecurseSubmodules: boolean
  readonly observedSparseCheckout?: ReadonlyArray<string> | undefined
  readonly observedInclude?: ReadonlyArray<IncludeSpec> | undefined
  readonly includedArtifacts?: ReadonlyArray<StoredArtifact> | undefined
  /** `status.sourceVerificationMode`: the verification the stored artifact passed. */
  readonly sourceVerificationMode?: string | undefined
}

/** The outcome of a successful fetch. */
export type GitSourceResult =
  | {
      /** The remote's commit equals the stored artifact's and the artifact is still on disk: nothing done. */
      readonly _tag: "UpToDate"
      readonly artifact: StoredArtifact
    }
  | {
      readonly _tag: "Stored"
      readonly artifact: StoredArtifact
      readonly commit: string
      /** Subject of the commit, for the NewArtifact event. */
      readonly subject: string
      /** Old artifacts garbage-collected. */
      readonly removed: ReadonlyArray<string>
      /** Set when `spec.verify` checked the commit (and tag). */
      readonly verified: Verified | undefined
    }

/** Counters for tests and the benchmark: how much work the remote cost us. */
export interface GitSourceStats {
  readonly resolves: number
  readonly clones: number
  readonly upToDate: number
  /** GitHub App installation tokens minted (the rest came from the cache). */
  readonly githubTokens: number
}

/** Check `spec.url`: Flux's schemes only, and no password in it (credentials belong in the Secret). */
export const parseRepositoryUrl = (raw: string): URL | InvalidSpecError => {
  const invalid = (why: string) =>
    new InvalidSpecError({ field: "spec.url", reason: "URLInvalid", message: `spec.url is invalid: ${why}` })
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return invalid("not a URL")
  }
  if (!["http:", "https:", "ssh:"].includes(url.protocol))
    return invalid(`scheme '${url.protocol.slice(0, -1)}' is not one of http, https, ssh`)
  if (url.password !== "")
    return invalid("it contains a password; put credentials in the spec.secretRef Secret")
  if (url.hostname === "") return invalid("it has no host")
  return url
}

const sameDirs = (a: ReadonlyArray<string> | undefined, b: ReadonlyArray<string> | undefined): boolean =>
  (a ?? []).length === (b ?? []).length && (a ?? []).every((d, i) => d === b?.[i])

const includeKey = (i: IncludeSpec) => JSON.stringify([i.repository.name, i.fromPath ?? "", i.toPath ?? ""])
const sameIncludes = (a: ReadonlyArray<IncludeSpec> | undefined, b: ReadonlyArray<IncludeSpec> | undefined) =>
  (a ?? []).length === (b ?? []).length &&
  (a ?? []).every((x, i) => b?.[i] !== undefined && includeKey(x) === includeKey(b[i]))

/** Flux's `requiresVerification`: the stored artifact passed no verification covering the mode asked for. */
const requiresVerification = (mode: VerificationMode | undefined, observed: string | undefined): boolean => {
  if (mode === undefined) return false
  if (observed === undefined) return true
  if (observed === "Tag" && mode !== "Tag") return true
  if (observed === "HEAD" && mode !== "HEAD") return true
  return false
}

/** The tag a checkout went through (tag and semver refs, or a `refs/tags/` name), for Tag verification. */
const referencingTag = (ref: ResolvedRef): string | undefined =>
  ref.fetchRef?.startsWith("refs/tags/") === true ? ref.fetchRef.slice("refs/tags/".length) : undefined

const verification = (reason: string, message: string, stalled = false) =>
  new SourceVerificationError({ reason, message, stalled })

/**
 * Flux's `verifySignature`: the tag (Tag, TagAndHEAD) then the commit (HEAD, TagAndHEAD), each against the
 * Secret's keys; the message lists what was verified with which key.
 */
const verifyCheckout = (
  mode: VerificationMode,
  keys: VerificationKeys,
  commit: string,
  objects: {
    readonly commit: SignedObject
    readonly tag?: { name: string; hash: string; raw: Buffer | undefined }
  },
  tagName: string | undefined,
) =>
  Effect.gen(function* () {
    const lines: string[] = []
    if (mode !== "HEAD") {
      if (tagName === undefined || objects.tag === undefined)
        return yield* verification(
          "InvalidVerificationMode",
          "cannot verify tag object's signature if a tag reference is not specified",
          true,
        )
      const tag = objects.tag
      const shown = `${tag.name}@${tag.hash}`
      const signed = tag.raw === undefined ? undefined : splitTag(tag.raw)
      if (signed === undefined || signed.signature === "")
        return yield* verification(
          "InvalidGitObject",
          `cannot verify signature of tag '${signed === undefined ? tag.name : shown}' since it is not signed`,
        )
      const key = yield* verifySigned("tag", signed, keys).pipe(
        Effect.mapError((e) =>
          verification("InvalidTagSignature", `signature verification of tag '${shown}' failed: ${e}`),
        ),
      )
      lines.push(`tag '${shown}' with key '${key}'`)
    }
    if (mode !== "Tag") {
      const key = yield* verifySigned("commit", objects.commit, keys).pipe(
        Effect.mapError((e) =>
          verification("InvalidCommitSignature", `signature verification of commit '${commit}' failed: ${e}`),
        ),
      )
      lines.push(`commit '${commit}' with key '${key}'`)
    }
    return { mode, message: `verified signature of\n${lines.map((l) => `\t- ${l}`).join("\n")}` }
  })

export class GitSource extends Context.Service<
  GitSource,
  {
    /**
     * Bring the artifact of one GitRepository up to date with its remote. `onNewRevision` runs before the
     * clone when the remote moved (the controller reports ArtifactOutdated/NewRevision).
     */
    readonly reconcile: (
      request: GitSourceRequest,
      onNewRevision?: (revision: string) => Effect.Effect<void>,
    ) => Effect.Effect<GitSourceResult, FetchError>
    readonly stats: Effect.Effect<GitSourceStats>
  }
>()("kustodian/stages/fetch/GitSource") {
  /** With the checkout caps of `limits` (`--max-checkout-size`, `--max-checkout-files`). */
  static readonly layerWith = (
    limits: Pick<Limits, "maxCheckoutSize" | "maxCheckoutFiles"> &
      Partial<Pick<Limits, "maxIgnorePatterns" | "maxIgnorePatternLength">>,
  ) =>
    Layer.effect(
      GitSource,
      Effect.gen(function* () {
        const git = yield* Git
        const storage = yield* ArtifactStorage
        const counts = { resolves: 0, clones: 0, upToDate: 0 }
        const githubApp = makeGitHubAppTokens()

        const reconcile = Effect.fn("GitSource.reconcile")(function* (
          request: GitSourceRequest,
          onNewRevision?: (revision: string) => Effect.Effect<void>,
        ) {
          yield* Effect.annotateCurrentSpan({
            "k8s.namespace": request.owner.namespace,
            "k8s.name": request.owner.name,
          })
          const url = parseRepositoryUrl(request.url)
          if (url instanceof InvalidSpecError) return yield* url
          const selector = selectRef(request.ref)
          if (selector instanceof InvalidSpecError) return yield* selector
          const sparse = parseSparseCheckout(request.sparseCheckout)
          if (sparse instanceof InvalidSpecError) return yield* sparse
          const proxy = request.proxy === undefined ? undefined : proxyFromSecret(request.proxy)
          if (proxy instanceof AuthSecretError) return yield* proxy
          const secret = yield* credentialsFor(request, proxy)
          const auth = yield* materializeAuth(url, secret, proxy)
          const opts = { auth, timeout: request.timeout }

          // spec.timeout bounds each git operation as a whole, retries included (Flux: one context per checkout).
          const budget = <A, E>(operation: string, self: Effect.Effect<A, E>) =>
            self.pipe(
              Effect.timeoutOrElse({
                duration: request.timeout,
                orElse: () =>
                  Effect.fail(
                    new GitOperationError({
                      url: stripUserinfo(request.url),
                      operation,
                      message: `${operation} timed out after ${Duration.format(request.timeout)}`,
                      transient: true,
                    }),
                  ),
              }),
            )

          counts.resolves++
          const resolved = yield* budget("ls-remote", git.resolve(request.url, selector, opts))
          const revision = revisionOf(resolved.display, resolved.commit)
          const prev = request.previous
          if (
            prev !== undefined &&
            prev.artifact.revision === revision &&
            prev.observedIgnore === request.ignore &&
            prev.observedRecurseSubmodules === request.recurseSubmodules &&
            sameDirs(prev.observedSparseCheckout, request.sparseCheckout) &&
            sameIncludes(prev.observedInclude, request.include?.spec) &&
            sameArtifacts(
              prev.includedArtifacts,
              request.include?.resolved.map((i) => i.artifact),
            ) &&
            !requiresVerification(request.verify?.mode, prev.sourceVerificationMode) &&
            (yield* storage.exists(prev.artifact.path))
          ) {
            counts.upToDate++
            return { _tag: "UpToDate", artifact: prev.artifact } as const
          }

          if (onNewRevision !== undefined) yield* onNewRevision(revision)
          counts.clones++
          // In this process's temp root (swept at start-up should the process die before the release runs).
          const dir = yield* Effect.acquireRelease(
            Effect.promise(() => mkdtemp(join(tempRoot(), "kustodian-checkout-"))),
            (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
          )
          const caps = {
            maxBytes: limits.maxCheckoutSize,
            maxFiles: limits.maxCheckoutFiles,
            subject: `GitRepository '${request.owner.namespace}/${request.owner.name}'`,
          }
          const checkout = yield* budget(
            "checkout",
            git.checkout(request.url, resolved, dir, {
              ...opts,
              recurseSubmodules: request.recurseSubmodules,
              caps,
              sparse,
            }),
          )
          if (resolved.selector.kind === "commit" && checkout.commit !== resolved.commit)
            return yield* new GitOperationError({
              url: url.toString(),
              operation: "checkout",
              message: `checked out ${checkout.commit} instead of commit ${resolved.commit}`,
              transient: false,
            })
          if (sparse !== undefined) yield* requireSparseDirs(stripUserinfo(request.url), dir, sparse)
          let verified: Verified | undefined
          if (request.verify !== undefined) {
            const tagName = request.verify.mode === "HEAD" ? undefined : referencingTag(resolved)
            const objects = yield* budget(
              "verify",
              git.signedObjects(request.url, dir, checkout.commit, tagName, opts),
            )
            verified = yield* verifyCheckout(
              request.verify.mode,
              request.verify.keys,
              checkout.commit,
              {
                commit: splitCommit(objects.commit),
                ...(objects.tag === undefined ? {} : { tag: objects.tag }),
              },
              tagName,
            )
          }
          if (request.include !== undefined && request.include.resolved.length > 0)
            yield* copyIncludes(caps.subject, dir, request.include.resolved, caps).pipe(
              Effect.provideService(ArtifactStorage, storage),
            )
          const artifact = yield* storage.store(
            request.owner,
            revisionOf(resolved.display, checkout.commit),
            checkout.commit,
            dir,
            yield* SourceIgnore.make(request.ignore, {
              limits: { ...defaultLimits, ...limits },
              subject: `GitRepository '${request.owner.namespace}/${request.owner.name}'`,
            }),
          )
          const removed = yield* storage.collect(request.owner, artifact.path)
          return {
            _tag: "Stored",
            artifact,
            commit: checkout.commit,
            subject: checkout.subject,
            removed,
            verified,
          } as const
        }, Effect.scoped)

        /**
         * The credentials git uses: the Secret's own (generic), or a GitHub App installation token as basic
         * auth with the Secret's TLS keys kept (github). A generic Secret with App data is refused as Flux does.
         */
        const credentialsFor = (request: GitSourceRequest, proxy: URL | undefined) =>
          Effect.gen(function* () {
            const secret = request.secret
            if (request.provider !== "github") {
              if (secret !== undefined && hasGitHubAppData(secret.data))
                return yield* new InvalidSpecError({
                  field: "spec.provider",
                  reason: "InvalidProviderConfiguration",
                  message: `secretRef '${secret.ref}' has github app data but provider is not set to github`,
                })
              return secret
            }
            if (secret === undefined || !hasGitHubAppData(secret.data))
              return yield* new InvalidSpecError({
                field: "spec.secretRef",
                reason: "InvalidProviderConfiguration",
                message: "secretRef with github app data must be specified when provider is set to github",
              })
            if (proxy !== undefined && proxy.protocol !== "http:")
              return yield* new InvalidSpecError({
                field: "spec.proxySecretRef",
                reason: "InvalidProviderConfiguration",
                message: `spec.proxySecretRef with provider 'github' is not supported by Kustodian for a ${proxy.protocol.slice(0, -1)} proxy: the GitHub App token request goes through http proxies only`,
              })
            const token = yield* githubApp.credentials(secret, proxy)
            const kept: Record<string, Uint8Array> = {}
            const appKeys = new Set<string>(Object.values(githubAppKeys))
            for (const [k, v] of Object.entries(secret.data)) if (!appKeys.has(k)) kept[k] = v
            kept.username = Buffer.from(token.username)
            kept.password = Buffer.from(token.password)
            return { ref: secret.ref, data: kept }
          })

        return GitSource.of({
          reconcile,
          stats: Effect.sync(() => ({ ...counts, githubTokens: githubApp.minted() })),
        })
      }),
    )

  /** With the default limits. */
  static readonly layer = GitSource.layerWith(defaultLimits)
}
