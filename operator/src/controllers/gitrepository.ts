/**
 * The GitRepository controller, declared with the runtime: each reconcile reads the spec and its auth Secret,
 * runs the fetch stage (`GitSource`), and reports the outcome as Flux's source-controller does — Ready,
 * ArtifactInStorage, FetchFailed, StorageOperationFailed, ArtifactOutdated conditions, `status.artifact`,
 * `NewArtifact` events — while a failed fetch leaves the last artifact in place. Deleting the object removes
 * its artifacts (finalizer).
 */
import { Duration, Effect, Option } from "effect"
import { FluxFinalizer } from "../../../model/api-resource.ts"
import { ConditionType, Reason } from "../../../model/condition.ts"
import { decodeGitRepository } from "../../../model/decode.ts"
import { parseDuration } from "../../../model/duration.ts"
import type { DomainEvent } from "../../../model/events.ts"
import type { GitRepository } from "../../../model/gitrepository.ts"
import type { ReconcileStatus } from "../../../model/projection.ts"
import { KubeClient } from "../kube/client.ts"
import type { KubeObject } from "../kube/object.ts"
import { CoreResources, objectKey, type ResourceRef } from "../kube/resource.ts"
import { defineController, StageError } from "../runtime/controller.ts"
import { makeRecorder } from "../runtime/recorder.ts"
import { type FetchError, InvalidSpecError } from "../stages/fetch/errors.ts"
import type { AuthSecret } from "../stages/fetch/git-auth.ts"
import {
  GitSource,
  type GitSourceRequest,
  type PreviousArtifact,
  type VerificationMode,
} from "../stages/fetch/git-source.ts"
import { type Include, type IncludeSpec, parseIncludes, sameArtifacts } from "../stages/fetch/include.ts"
import { verificationKeys } from "../stages/fetch/signature.ts"
import { ArtifactStorage, type StoredArtifact } from "../stages/fetch/storage.ts"

/** Where GitRepositories live in the API. */
export const gitRepositoryRef: ResourceRef = {
  group: "source.toolkit.fluxcd.io",
  version: "v1",
  plural: "gitrepositories",
  kind: "GitRepository",
  namespaced: true,
}

/** Flux's controller name: Events and the status field manager carry it. */
export const sourceControllerName = "source-controller"

const revisionAnnotation = "source.toolkit.fluxcd.io/revision"

/** The kind's directory in the storage (Flux: lower-case kind). */
const storageKind = "gitrepository"

const defaultIntervalMs = 60_000
const defaultTimeoutMs = 60_000

const intervalOf = (obj: KubeObject): number => {
  const raw = (obj.spec as { interval?: unknown } | undefined)?.interval
  return (typeof raw === "string" ? parseDuration(raw) : undefined) || defaultIntervalMs
}

/**
 * The last artifact this object stored (what a failed fetch keeps serving). Read from the runtime's last
 * status, which is fresher than the watch cache right after a write: reading the cache could miss the artifact
 * just stored and clone again.
 */
const previousOf = (status: ReconcileStatus): PreviousArtifact | undefined => {
  const a = status.artifact as Partial<StoredArtifact> | undefined
  if (
    a?.path === undefined ||
    a.url === undefined ||
    a.revision === undefined ||
    a.digest === undefined ||
    a.lastUpdateTime === undefined
  )
    return undefined
  return {
    artifact: {
      path: a.path,
      url: a.url,
      revision: a.revision,
      digest: a.digest,
      lastUpdateTime: a.lastUpdateTime,
      size: a.size ?? 0,
    },
    observedIgnore: typeof status.observedIgnore === "string" ? status.observedIgnore : undefined,
    observedRecurseSubmodules: status.observedRecurseSubmodules === true,
    observedSparseCheckout: Array.isArray(status.observedSparseCheckout)
      ? (status.observedSparseCheckout as ReadonlyArray<string>)
      : undefined,
    sourceVerificationMode:
      typeof status.sourceVerificationMode === "string" ? status.sourceVerificationMode : undefined,
    observedInclude: Array.isArray(status.observedInclude)
      ? (status.observedInclude as ReadonlyArray<IncludeSpec>)
      : undefined,
    includedArtifacts: Array.isArray(status.includedArtifacts)
      ? (status.includedArtifacts as ReadonlyArray<StoredArtifact>)
      : undefined,
  }
}

/** The GitRepositories an object includes (index of the watch that rebuilds it on their new artifacts). */
const includeIndex = "include"
const includedKeys = (obj: KubeObject): ReadonlyArray<string> =>
  ((obj.spec as { include?: ReadonlyArray<IncludeSpec> } | undefined)?.include ?? []).map((i) =>
    objectKey(obj.metadata.namespace, i.repository?.name ?? ""),
  )
const artifactOf = (obj: KubeObject): Partial<StoredArtifact> | undefined =>
  (obj.status as { artifact?: Partial<StoredArtifact> } | undefined)?.artifact

/** How deep the include-cycle walk goes (the runtime's cache answers each step). */
const includeCycleDepth = 32

/**
 * Spec fields Kustodian does not implement yet. Ignoring them silently would be wrong (a cloud identity never
 * used), so the object stalls with the field named.
 */
const unsupportedField = (
  spec: GitRepository["spec"],
): { field: string; why: string; reason: string } | undefined => {
  if (spec.provider === "aws" || spec.provider === "azure")
    return {
      field: "spec.provider",
      why: `provider '${spec.provider}' is not implemented until cloud identities exist; use 'generic' or 'github'`,
      reason: Reason.InvalidProviderConfiguration,
    }
  return undefined
}

/** `spec.verify.mode` as Flux reads it: `head` is `HEAD`. */
const verificationMode = (mode: string | undefined): VerificationMode =>
  mode === "Tag" || mode === "TagAndHEAD" ? mode : "HEAD"

/** `status.artifact` as Flux writes it. */
const artifactStatus = (a: StoredArtifact) => ({
  path: a.path,
  url: a.url,
  revision: a.revision,
  digest: a.digest,
  lastUpdateTime: a.lastUpdateTime,
  size: a.size,
})

/** Which condition a fetch-stage failure lands in (Flux's negative-polarity conditions). */
const conditionFor = (e: FetchError): string => {
  switch (e._tag) {
    case "ArchiveError":
    case "StorageError":
    case "IncludeError":
      return ConditionType.StorageOperationFailed
    case "SourceVerificationError":
      return ConditionType.SourceVerified
    default:
      return ConditionType.FetchFailed
  }
}

/** The status of condition `type` in the last status written. */
const cond = (status: ReconcileStatus, type: string): string | undefined =>
  status.conditions?.find((c) => c.type === type)?.status

const failureConditions = [
  ConditionType.FetchFailed,
  ConditionType.StorageOperationFailed,
  ConditionType.IncludeUnavailable,
] as const

/**
 * Builds the controller declaration. Needs the fetch stage, the storage and a kube client (for Secrets and
 * NewArtifact Events).
 */
export const makeGitRepositoryController = (options: { readonly instance?: string } = {}) =>
  Effect.gen(function* () {
    const source = yield* GitSource
    const storage = yield* ArtifactStorage
    const client = yield* KubeClient
    // The runtime publishes Ready transitions and failures; NewArtifact is this kind's own announcement.
    const recorder = yield* makeRecorder({
      controller: sourceControllerName,
      instance: options.instance ?? sourceControllerName,
    })

    /** A Secret of the object's namespace, decoded; `prefix` and `reason` say which field needed it. */
    const readSecret = (
      namespace: string,
      name: string,
      reason: string = Reason.AuthenticationFailed,
      prefix = `failed to get secret '${namespace}/${name}'`,
    ) =>
      client.getOption(CoreResources.secret, name, namespace).pipe(
        Effect.mapError((e) => new StageError({ reason, message: `${prefix}: ${e.message}` })),
        Effect.flatMap((found) =>
          Option.isNone(found)
            ? Effect.fail(new StageError({ reason, message: `${prefix}: secrets "${name}" not found` }))
            : Effect.succeed(found.value),
        ),
        Effect.map((secret): AuthSecret => {
          const data = (secret.data ?? {}) as Record<string, string>
          const decoded: Record<string, Uint8Array> = {}
          for (const [k, v] of Object.entries(data)) decoded[k] = Buffer.from(v, "base64")
          for (const [k, v] of Object.entries((secret.stringData ?? {}) as Record<string, string>))
            decoded[k] = Buffer.from(v)
          return { ref: `${namespace}/${name}`, data: decoded }
        }),
      )

    /** Get a GitRepository of the namespace from the watch cache (the API server when there is none). */
    const getRepository = (
      ctx: { cache: (r: ResourceRef) => { get: (k: string) => KubeObject | undefined } | undefined },
      namespace: string,
      name: string,
    ) => {
      const cache = ctx.cache(gitRepositoryRef)
      if (cache !== undefined) return Effect.succeed(cache.get(objectKey(namespace, name)))
      return client.getOption(gitRepositoryRef, name, namespace).pipe(
        Effect.map((o) => (Option.isSome(o) ? o.value : undefined)),
        Effect.orElseSucceed(() => undefined),
      )
    }

    /**
     * Flux's `fetchIncludes`: every included GitRepository must exist and have an artifact (else the object
     * waits with IncludeUnavailable). Kustodian also refuses an include cycle, which its watch would otherwise
     * rebuild without end, and an artifact path outside the included object's own storage directory.
     */
    const resolveIncludes = (
      ctx: Parameters<typeof getRepository>[0],
      namespace: string,
      owner: string,
      includes: ReadonlyArray<IncludeSpec>,
    ) =>
      Effect.gen(function* () {
        const parsed = parseIncludes(owner, includes)
        if (parsed instanceof InvalidSpecError)
          return yield* new StageError({ reason: parsed.reason, message: parsed.message, terminal: true })
        const resolved: Include[] = []
        for (const incl of parsed) {
          const dep = yield* getRepository(ctx, namespace, incl.name)
          if (dep === undefined)
            return yield* new StageError({
              reason: "NotFound",
              message: `could not get resource for include '${incl.name}': gitrepositories.source.toolkit.fluxcd.io "${incl.name}" not found`,
            })
          const a = artifactOf(dep)
          const dir = `${storageKind}/${namespace}/${incl.name}/`
          if (
            a?.path === undefined ||
            a.url === undefined ||
            a.revision === undefined ||
            a.digest === undefined ||
            !a.path.startsWith(dir)
          )
            return yield* new StageError({
              reason: "NoArtifact",
              message: `no artifact available for include '${incl.name}'`,
            })
          resolved.push({
            ...incl,
            artifact: {
              path: a.path,
              url: a.url,
              revision: a.revision,
              digest: a.digest,
              lastUpdateTime: a.lastUpdateTime ?? "",
              size: a.size ?? 0,
            },
          })
        }
        // Walk what the included repositories include in turn (bounded): reaching this object is a cycle.
        const seen = new Set<string>()
        const walk = (
          name: string,
          path: ReadonlyArray<string>,
        ): Effect.Effect<ReadonlyArray<string> | undefined> =>
          Effect.gen(function* () {
            if (name === owner) return path
            if (seen.has(name) || path.length > includeCycleDepth) return undefined
            seen.add(name)
            const obj = yield* getRepository(ctx, namespace, name)
            const next = (
              (obj?.spec as { include?: ReadonlyArray<IncludeSpec> } | undefined)?.include ?? []
            ).map((i) => i.repository?.name ?? "")
            for (const n of next) {
              const found = yield* walk(n, [...path, n])
              if (found !== undefined) return found
            }
            return undefined
          })
        for (const incl of parsed) {
          const cycle = yield* walk(incl.name, [owner, incl.name])
          if (cycle !== undefined)
            return yield* new StageError({
              reason: "IncludeCycle",
              message: `include '${incl.name}' leads back to this GitRepository: ${cycle.join(" → ")}`,
            })
        }
        return resolved
      })

    return defineController<KubeObject>({
      resource: gitRepositoryRef,
      fieldManager: sourceControllerName,
      controllerName: sourceControllerName,
      interval: intervalOf,
      suspended: (obj) => (obj.spec as { suspend?: unknown } | undefined)?.suspend === true,
      indexes: { [includeIndex]: includedKeys },
      // An included repository's new artifact rebuilds the includers at once (Flux waits for their interval).
      watches: [
        {
          resource: gitRepositoryRef,
          map: (o, repos) => repos.byIndex(includeIndex, objectKey(o.metadata.namespace, o.metadata.name)),
          changed: (before, after) =>
            artifactOf(before)?.digest !== artifactOf(after)?.digest ||
            artifactOf(before)?.revision !== artifactOf(after)?.revision,
        },
      ],
      eventMetadata: (_obj, status): Record<string, string> => {
        const revision = (status.artifact as { revision?: string } | undefined)?.revision
        return revision === undefined ? {} : { [revisionAnnotation]: revision }
      },
      cleanup: {
        finalizer: FluxFinalizer,
        run: (ctx) =>
          storage.removeAll({
            kind: storageKind,
            namespace: ctx.object.metadata.namespace ?? "",
            name: ctx.object.metadata.name,
          }),
      },
      reconcile: (ctx) =>
        Effect.gen(function* () {
          const repo = yield* ctx.stage(
            "validate",
            decodeGitRepository(ctx.object).pipe(
              Effect.mapError(
                (e) =>
                  new StageError({
                    reason: "InvalidSpec",
                    message: `invalid spec: ${e.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
                    terminal: true,
                  }),
              ),
            ),
          )
          const namespace = repo.metadata.namespace ?? ""
          const spec = repo.spec
          const unsupported = unsupportedField(spec)
          if (unsupported !== undefined)
            return yield* ctx.stage(
              "validate",
              Effect.fail(
                new StageError({
                  reason: unsupported.reason,
                  message: `${unsupported.field} is not supported by Kustodian: ${unsupported.why}`,
                  terminal: true,
                }),
              ),
            )
          const timeoutMs = parseDuration(spec.timeout) ?? defaultTimeoutMs
          const progressed = (message: string) => ctx.emit({ _tag: "Progressed", stage: "fetch", message })
          yield* progressed(`building artifact from '${spec.url}'`)

          const secret =
            spec.secretRef === undefined
              ? undefined
              : yield* ctx.stage(
                  "fetch",
                  readSecret(namespace, spec.secretRef.name).pipe(
                    Effect.tapError((e) =>
                      ctx.emit({
                        _tag: "ConditionSet",
                        type: ConditionType.FetchFailed,
                        status: "True",
                        reason: e.reason,
                        message: e.message,
                      }),
                    ),
                  ),
                )

          const failWith = (type: string, status: "True" | "False") => (e: StageError) =>
            ctx.emit({ _tag: "ConditionSet", type, status, reason: e.reason, message: e.message })
          const proxy =
            spec.proxySecretRef === undefined
              ? undefined
              : yield* ctx.stage(
                  "fetch",
                  readSecret(
                    namespace,
                    spec.proxySecretRef.name,
                    Reason.AuthenticationFailed,
                    `failed to configure proxy options: failed to get secret '${namespace}/${spec.proxySecretRef.name}'`,
                  ).pipe(Effect.tapError(failWith(ConditionType.FetchFailed, "True"))),
                )
          // Flux drops a failed verification before trying again; a passed one stays until replaced.
          if (cond(ctx.status, ConditionType.SourceVerified) === "False")
            yield* ctx.emit({ _tag: "ConditionRemoved", type: ConditionType.SourceVerified })
          const verify =
            spec.verify === undefined
              ? undefined
              : {
                  mode: verificationMode(spec.verify.mode),
                  keys: verificationKeys(
                    (yield* ctx.stage(
                      "verify",
                      readSecret(
                        namespace,
                        spec.verify.secretRef.name,
                        Reason.VerificationError,
                        "public keys secret error",
                      ).pipe(Effect.tapError(failWith(ConditionType.SourceVerified, "False"))),
                    )).data,
                  ),
                }

          const include =
            spec.include === undefined || spec.include.length === 0
              ? undefined
              : {
                  spec: spec.include,
                  resolved: yield* ctx.stage(
                    "include",
                    resolveIncludes(ctx, namespace, repo.metadata.name ?? "", spec.include).pipe(
                      Effect.tapError((e) =>
                        e.terminal === true
                          ? Effect.void
                          : failWith(ConditionType.IncludeUnavailable, "True")(e),
                      ),
                    ),
                  ),
                }
          if (
            include !== undefined &&
            Array.isArray(ctx.status.includedArtifacts) &&
            !sameArtifacts(
              ctx.status.includedArtifacts as ReadonlyArray<StoredArtifact>,
              include.resolved.map((i) => i.artifact),
            )
          )
            yield* ctx.emit({
              _tag: "ConditionSet",
              type: ConditionType.ArtifactOutdated,
              status: "True",
              reason: "IncludeChange",
              message: "included artifacts differ from last observed includes",
            })

          const request: GitSourceRequest = {
            owner: { kind: storageKind, namespace, name: repo.metadata.name ?? "" },
            url: spec.url,
            ref: spec.ref,
            timeout: Duration.millis(timeoutMs),
            recurseSubmodules: spec.recurseSubmodules ?? false,
            ignore: spec.ignore,
            secret,
            previous: previousOf(ctx.status),
            sparseCheckout: spec.sparseCheckout,
            proxy,
            provider: spec.provider === "github" ? "github" : "generic",
            include,
            verify,
          }
          const result = yield* ctx.stage(
            "fetch",
            source
              .reconcile(request, (revision) =>
                ctx.emit(
                  {
                    _tag: "ConditionSet",
                    type: ConditionType.ArtifactOutdated,
                    status: "True",
                    reason: Reason.NewRevision,
                    message: `new upstream revision '${revision}'`,
                  },
                  {
                    _tag: "Progressed",
                    stage: "fetch",
                    message: `building artifact: new upstream revision '${revision}'`,
                  },
                ),
              )
              .pipe(
                Effect.catch((e: FetchError) => {
                  const terminal =
                    e._tag === "InvalidSpecError" || (e._tag === "SourceVerificationError" && e.stalled)
                  const events: DomainEvent[] = [
                    {
                      _tag: "ConditionSet",
                      type: conditionFor(e),
                      // SourceVerified is the one positive-polarity condition a failure sets (to False).
                      status: e._tag === "SourceVerificationError" ? "False" : "True",
                      reason: e.reason,
                      message: e.message,
                    },
                  ]
                  return ctx
                    .emit(...events)
                    .pipe(
                      Effect.andThen(
                        Effect.fail(new StageError({ reason: e.reason, message: e.message, terminal })),
                      ),
                    )
                }),
              ),
          )

          const artifact = result.artifact
          const stored = `stored artifact for revision '${artifact.revision}'`
          const verified = result._tag === "Stored" ? result.verified : undefined
          const verifiedEvents: DomainEvent[] =
            verify === undefined
              ? [{ _tag: "ConditionRemoved", type: ConditionType.SourceVerified }]
              : verified === undefined
                ? []
                : [
                    {
                      _tag: "ConditionSet",
                      type: ConditionType.SourceVerified,
                      status: "True",
                      reason: Reason.Succeeded,
                      message: verified.message,
                    },
                  ]
          yield* ctx.emit(
            ...verifiedEvents,
            ...failureConditions.map((type): DomainEvent => ({ _tag: "ConditionRemoved", type })),
            { _tag: "ConditionRemoved", type: ConditionType.ArtifactOutdated },
            {
              _tag: "ConditionSet",
              type: ConditionType.ArtifactInStorage,
              status: "True",
              reason: Reason.Succeeded,
              message: stored,
            },
            {
              _tag: "FieldsSet",
              fields: {
                artifact: artifactStatus(artifact),
                observedIgnore: spec.ignore,
                observedRecurseSubmodules: spec.recurseSubmodules,
                observedSparseCheckout: spec.sparseCheckout,
                observedInclude: include === undefined ? undefined : spec.include,
                includedArtifacts:
                  include === undefined ? undefined : include.resolved.map((i) => artifactStatus(i.artifact)),
                sourceVerificationMode:
                  verify === undefined ? undefined : (verified?.mode ?? ctx.status.sourceVerificationMode),
              },
            },
            { _tag: "Succeeded", reason: Reason.Succeeded, message: stored },
          )
          if (result._tag === "Stored") {
            yield* recorder.publish(gitRepositoryRef, ctx.object, {
              type: "Normal",
              reason: "NewArtifact",
              note: `stored artifact for commit '${result.subject}'`,
              annotations: { [revisionAnnotation]: artifact.revision },
            })
          }
          // The runtime requeues after spec.interval with jitter.
          return undefined
        }),
    })
  })
