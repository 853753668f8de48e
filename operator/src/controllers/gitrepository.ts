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
import { CoreResources, type KubeObject, type ResourceRef } from "../kube/resource.ts"
import { defineController, StageError } from "../runtime/controller.ts"
import { makeRecorder } from "../runtime/recorder.ts"
import type { FetchError } from "../stages/fetch/errors.ts"
import type { AuthSecret } from "../stages/fetch/git-auth.ts"
import { GitSource, type GitSourceRequest, type PreviousArtifact } from "../stages/fetch/git-source.ts"
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
  }
}

/**
 * Spec fields Kustodian does not implement yet. Ignoring them silently would be wrong (an unverified commit
 * served as if `verify` had passed), so the object stalls with the field named instead.
 */
const unsupportedField = (
  spec: GitRepository["spec"],
): { field: string; why: string; reason: string } | undefined => {
  if (spec.verify !== undefined)
    return {
      field: "spec.verify",
      why: "commit/tag signatures cannot be verified",
      reason: Reason.VerificationError,
    }
  if (spec.provider !== undefined && spec.provider !== "generic")
    return {
      field: "spec.provider",
      why: `only 'generic' (secretRef) authentication is available, not '${spec.provider}'`,
      reason: Reason.InvalidProviderConfiguration,
    }
  if (spec.include !== undefined && spec.include.length > 0)
    return {
      field: "spec.include",
      why: "artifacts of other GitRepositories cannot be included",
      reason: "InvalidSpec",
    }
  if (spec.sparseCheckout !== undefined && spec.sparseCheckout.length > 0)
    return {
      field: "spec.sparseCheckout",
      why: "the whole tree is always checked out",
      reason: "InvalidSpec",
    }
  if (spec.proxySecretRef !== undefined)
    return { field: "spec.proxySecretRef", why: "git cannot be proxied", reason: "InvalidSpec" }
  return undefined
}

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
      return ConditionType.StorageOperationFailed
    default:
      return ConditionType.FetchFailed
  }
}

const failureConditions = [ConditionType.FetchFailed, ConditionType.StorageOperationFailed] as const

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

    const readSecret = (namespace: string, name: string) =>
      client.getOption(CoreResources.secret, name, namespace).pipe(
        Effect.mapError(
          (e) =>
            new StageError({
              reason: Reason.AuthenticationFailed,
              message: `failed to get secret '${namespace}/${name}': ${e.message}`,
            }),
        ),
        Effect.flatMap((found) =>
          Option.isNone(found)
            ? Effect.fail(
                new StageError({
                  reason: Reason.AuthenticationFailed,
                  message: `failed to get secret '${namespace}/${name}': secrets "${name}" not found`,
                }),
              )
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

    return defineController<KubeObject>({
      resource: gitRepositoryRef,
      fieldManager: sourceControllerName,
      controllerName: sourceControllerName,
      interval: intervalOf,
      suspended: (obj) => (obj.spec as { suspend?: unknown } | undefined)?.suspend === true,
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

          const request: GitSourceRequest = {
            owner: { kind: storageKind, namespace, name: repo.metadata.name ?? "" },
            url: spec.url,
            ref: spec.ref,
            timeout: Duration.millis(timeoutMs),
            recurseSubmodules: spec.recurseSubmodules ?? false,
            ignore: spec.ignore,
            secret,
            previous: previousOf(ctx.status),
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
                  const terminal = e._tag === "InvalidSpecError"
                  const events: DomainEvent[] = [
                    {
                      _tag: "ConditionSet",
                      type: conditionFor(e),
                      status: "True",
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
          yield* ctx.emit(
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
