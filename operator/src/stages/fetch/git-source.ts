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
import { type FetchError, GitOperationError, InvalidSpecError } from "./errors.ts"
import { Git } from "./git.ts"
import { type AuthSecret, materializeAuth } from "./git-auth.ts"
import { type GitRefSpec, revisionOf, selectRef } from "./git-ref.ts"
import { stripUserinfo } from "./redact.ts"
import { SourceIgnore } from "./source-ignore.ts"
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
}

/** The stored state a reconcile compares against (status.artifact + the observed* fields). */
export interface PreviousArtifact {
  readonly artifact: StoredArtifact
  readonly observedIgnore: string | undefined
  readonly observedRecurseSubmodules: boolean
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
    }

/** Counters for tests and the benchmark: how much work the remote cost us. */
export interface GitSourceStats {
  readonly resolves: number
  readonly clones: number
  readonly upToDate: number
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
          const auth = yield* materializeAuth(url, request.secret)
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
            }),
          )
          if (resolved.selector.kind === "commit" && checkout.commit !== resolved.commit)
            return yield* new GitOperationError({
              url: url.toString(),
              operation: "checkout",
              message: `checked out ${checkout.commit} instead of commit ${resolved.commit}`,
              transient: false,
            })
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
          } as const
        }, Effect.scoped)

        return GitSource.of({ reconcile, stats: Effect.sync(() => ({ ...counts })) })
      }),
    )

  /** With the default limits. */
  static readonly layer = GitSource.layerWith(defaultLimits)
}
