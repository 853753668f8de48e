/**
 * The Kustomization controller, declared with the runtime: each reconcile runs the pipeline of DESIGN.md —
 * resolve the source artifact, build (with SOPS decryption and postBuild substitution), apply in stages,
 * prune what left the inventory, check health — and reports it as Flux's kustomize-controller does through
 * domain events the runtime folds into the status. A failure anywhere leaves the last applied revision and
 * inventory in status; the cluster keeps what the last good reconcile applied because apply validates the
 * whole set with a server-side dry run before it writes anything.
 */
import { Effect, Option } from "effect"
import { FluxFinalizer } from "../../../model/api-resource.ts"
import { ConditionType, Reason } from "../../../model/condition.ts"
import { decodeGitRepository, decodeKustomization } from "../../../model/decode.ts"
import type { DomainEvent } from "../../../model/events.ts"
import {
  intervalMillis,
  type Kustomization,
  kustomizationResource,
  retryIntervalMillis,
  sourceNamespace,
  timeoutMillis,
} from "../../../model/kustomization.ts"
import { KubeClient } from "../kube/client.ts"
import { CoreResources, type KubeObject, objectKey, type ResourceRef } from "../kube/resource.ts"
import { Action, defineController, StageError } from "../runtime/controller.ts"
import { makeRecorder } from "../runtime/recorder.ts"
import { toChanges } from "../stages/apply/change-set.ts"
import {
  type AccessSettings,
  checkCrossNamespaceRefs,
  identityFor,
  KubeAccess,
} from "../stages/apply/impersonation.ts"
import { Applier } from "../stages/apply/staged-apply.ts"
import { Builder } from "../stages/build/builder.ts"
import { sourceArtifactOf } from "../stages/fetch/source-artifact.ts"
import { HealthChecker, healthCheckTargets } from "../stages/health/health-check.ts"
import { cleanupOnDeletion } from "../stages/prune/deletion-policy.ts"
import { type Inventory, mergeInventories, staleEntries } from "../stages/prune/inventory.ts"
import { Pruner } from "../stages/prune/prune.ts"
import { gitRepositoryRef } from "./gitrepository.ts"

export const kustomizationRef: ResourceRef = {
  group: kustomizationResource.group,
  version: kustomizationResource.version,
  plural: kustomizationResource.plural,
  kind: kustomizationResource.kind,
  namespaced: true,
}

/** Flux's controller name: Events, the finalizer owner and the status field manager carry it. */
export const kustomizeControllerName = "kustomize-controller"

const revisionAnnotation = "kustomize.toolkit.fluxcd.io/revision"

/** Flux's `--requeue-dependency`: how soon a Kustomization waiting on a dependency looks again. */
const requeueDependencyMs = 30_000

export interface KustomizationControllerOptions extends AccessSettings {
  /** Kubernetes Events' `reportingInstance` (the pod name). */
  readonly instance?: string | undefined
}

/** Index names: which objects a Kustomization references, so their changes requeue it. */
const Index = {
  source: "source",
  secret: "secret",
  configMap: "configmap",
  dependency: "dependency",
} as const

const specOf = (obj: KubeObject) => (obj.spec ?? {}) as Partial<Kustomization["spec"]>

const referenced = (obj: KubeObject, kind: "Secret" | "ConfigMap"): ReadonlyArray<string> => {
  const spec = specOf(obj)
  const ns = obj.metadata.namespace ?? ""
  const names = (spec.postBuild?.substituteFrom ?? []).filter((r) => r.kind === kind).map((r) => r.name)
  if (kind === "Secret" && spec.decryption?.secretRef) names.push(spec.decryption.secretRef.name)
  return names.map((n) => objectKey(ns, n))
}

const fail = (reason: string, message: string, extra: { terminal?: boolean; retryAfterMs?: number } = {}) =>
  new StageError({ reason, message, ...extra })

const artifactRevision = (obj: KubeObject): string | undefined =>
  (obj.status as { artifact?: { revision?: string } } | undefined)?.artifact?.revision

/** Is this Kustomization Ready for its current generation (what `dependsOn` waits for)? */
const isReady = (obj: KubeObject): boolean => {
  const status = obj.status as
    | { observedGeneration?: number; conditions?: ReadonlyArray<{ type: string; status: string }> }
    | undefined
  const ready = status?.conditions?.find((c) => c.type === ConditionType.Ready)
  return ready?.status === "True" && status?.observedGeneration === obj.metadata.generation
}

/**
 * Builds the controller declaration. Needs the build, apply, prune and health stages and a kube client (for
 * sources, dependencies and Warning events).
 */
export const makeKustomizationController = (options: KustomizationControllerOptions = {}) =>
  Effect.gen(function* () {
    const client = yield* KubeClient
    const builder = yield* Builder
    const applier = yield* Applier
    const pruner = yield* Pruner
    const health = yield* HealthChecker
    const access = yield* KubeAccess
    const recorder = yield* makeRecorder({
      controller: kustomizeControllerName,
      instance: options.instance ?? kustomizeControllerName,
    })

    const decode = (obj: KubeObject) =>
      decodeKustomization(obj).pipe(
        Effect.mapError((e) =>
          fail("InvalidSpec", `invalid spec: ${e.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`, {
            terminal: true,
          }),
        ),
      )

    /** `dependsOn`: every dependency must be Ready for its current generation. */
    const checkDependencies = (ks: Kustomization) =>
      Effect.forEach(ks.spec.dependsOn ?? [], (dep) => {
        const namespace = dep.namespace || ks.metadata.namespace || "default"
        return client.getOption(kustomizationRef, dep.name, namespace).pipe(
          Effect.mapError((e) =>
            fail(Reason.DependencyNotReady, e.message, { retryAfterMs: requeueDependencyMs }),
          ),
          Effect.flatMap((found) =>
            Option.isSome(found) && isReady(found.value)
              ? Effect.void
              : Effect.fail(
                  fail(Reason.DependencyNotReady, `dependency '${namespace}/${dep.name}' is not ready`, {
                    retryAfterMs: requeueDependencyMs,
                  }),
                ),
          ),
        )
      })

    /** The source's current artifact; a missing source or artifact is retried, as in Flux. */
    const resolveSource = (ks: Kustomization) =>
      Effect.gen(function* () {
        const { kind, name } = ks.spec.sourceRef
        const namespace = sourceNamespace(ks)
        const subject = `${kind} '${namespace}/${name}'`
        if (kind !== "GitRepository")
          return yield* fail(Reason.ArtifactFailed, `source kind ${kind} is not supported (${subject})`, {
            terminal: true,
          })
        const found = yield* client
          .getOption(gitRepositoryRef, name, namespace)
          .pipe(Effect.mapError((e) => fail(Reason.ArtifactFailed, `failed to get ${subject}: ${e.message}`)))
        if (Option.isNone(found)) return yield* fail(Reason.ArtifactFailed, `Source ${subject} not found`)
        const repo = yield* decodeGitRepository(found.value).pipe(
          Effect.mapError(() => fail(Reason.ArtifactFailed, `Source ${subject} is invalid`)),
        )
        const artifact = sourceArtifactOf(repo)
        if (artifact === undefined)
          return yield* fail(Reason.ArtifactFailed, `Source ${subject} is not ready, artifact not found`)
        return artifact
      })

    const lastInventory = (obj: KubeObject): Inventory | undefined =>
      (obj.status as { inventory?: Inventory } | undefined)?.inventory

    return defineController<KubeObject>({
      resource: kustomizationRef,
      fieldManager: kustomizeControllerName,
      controllerName: kustomizeControllerName,
      interval: (obj) => intervalMillis(specOf(obj) as Kustomization["spec"]) || 600_000,
      retryInterval: (obj) => retryIntervalMillis(specOf(obj) as Kustomization["spec"]) || undefined,
      suspended: (obj) => specOf(obj).suspend === true,
      indexes: {
        [Index.source]: (obj) => {
          const ref = specOf(obj).sourceRef
          return ref ? [objectKey(ref.namespace || obj.metadata.namespace, ref.name)] : []
        },
        [Index.secret]: (obj) => referenced(obj, "Secret"),
        [Index.configMap]: (obj) => referenced(obj, "ConfigMap"),
        [Index.dependency]: (obj) =>
          (specOf(obj).dependsOn ?? []).map((d) => objectKey(d.namespace || obj.metadata.namespace, d.name)),
      },
      watches: [
        {
          resource: gitRepositoryRef,
          map: (o, ks) => ks.byIndex(Index.source, objectKey(o.metadata.namespace, o.metadata.name)),
          // Only a new artifact matters, as in Flux; other status writes of the source do not.
          changed: (before, after) => artifactRevision(before) !== artifactRevision(after),
        },
        {
          resource: CoreResources.secret,
          map: (o, ks) => ks.byIndex(Index.secret, objectKey(o.metadata.namespace, o.metadata.name)),
        },
        {
          resource: CoreResources.configMap,
          map: (o, ks) => ks.byIndex(Index.configMap, objectKey(o.metadata.namespace, o.metadata.name)),
        },
        // A dependency that becomes Ready releases the Kustomizations waiting on it.
        {
          resource: kustomizationRef,
          map: (o, ks) => ks.byIndex(Index.dependency, objectKey(o.metadata.namespace, o.metadata.name)),
        },
      ],
      eventMetadata: (_obj, status): Record<string, string> =>
        status.lastAttemptedRevision === undefined
          ? {}
          : { [revisionAnnotation]: status.lastAttemptedRevision },
      cleanup: {
        finalizer: FluxFinalizer,
        run: (ctx) =>
          Effect.gen(function* () {
            const spec = specOf(ctx.object)
            const owner = { name: ctx.object.metadata.name, namespace: ctx.object.metadata.namespace ?? "" }
            const result = yield* cleanupOnDeletion({
              owner,
              inventory: lastInventory(ctx.object),
              deletionPolicy: spec.deletionPolicy,
              prune: spec.prune === true,
              suspended: spec.suspend === true,
              identity: identityFor({ ...owner, serviceAccountName: spec.serviceAccountName }, options),
            }).pipe(Effect.provideService(Pruner, pruner), Effect.provideService(KubeAccess, access))
            if (result.skipped !== undefined)
              yield* recorder.publish(kustomizationRef, ctx.object, {
                type: "Warning",
                reason: "PruneSkipped",
                note: result.skipped,
              })
          }),
      },
      reconcile: (ctx) =>
        Effect.gen(function* () {
          const ks = yield* ctx.stage("validate", decode(ctx.object))
          const owner = { name: ks.metadata.name ?? "", namespace: ks.metadata.namespace ?? "" }
          const refs = {
            ...owner,
            serviceAccountName: ks.spec.serviceAccountName,
            sourceRef: ks.spec.sourceRef,
            dependsOn: ks.spec.dependsOn,
          }
          yield* ctx.stage("validate", checkCrossNamespaceRefs(refs, options))
          const identity = identityFor(refs, options)
          const timeout = `${timeoutMillis(ks.spec)} millis` as const
          const progressed = (stage: string, message: string) =>
            ctx.emit({ _tag: "Progressed", stage, message })

          yield* ctx.stage("dependencies", checkDependencies(ks))

          const artifact = yield* ctx.stage("fetch", resolveSource(ks))
          yield* ctx.emit({ _tag: "ArtifactFetched", revision: artifact.revision, digest: artifact.digest })

          yield* progressed("build", `building manifests for revision ${artifact.revision}`)
          const built = yield* ctx.stage(
            "build",
            builder.build({ namespace: owner.namespace, name: owner.name, spec: ks.spec, artifact }),
          )
          for (const warning of built.warnings) {
            yield* recorder.publish(kustomizationRef, ctx.object, {
              type: "Warning",
              reason: warning.reason,
              note: warning.message,
              annotations: { [revisionAnnotation]: artifact.revision },
            })
          }
          const events: DomainEvent[] = [
            { _tag: "Built", digest: built.digest, objects: built.objects.length },
          ]
          if (built.decryptedFiles.length > 0)
            events.push({ _tag: "Decrypted", documents: built.decryptedFiles.length })
          yield* ctx.emit(...events)

          yield* progressed("apply", `applying ${built.objects.length} objects`)
          const applied = yield* ctx.stage(
            "apply",
            applier.apply({ objects: built.objects, owner, identity, force: ks.spec.force, timeout }),
          )
          const inventory = applied.inventory
          yield* ctx.emit({ _tag: "Applied", changes: toChanges(applied.changeSet) })

          const stale = ks.spec.prune ? staleEntries(lastInventory(ctx.object), inventory) : []
          const pruned =
            stale.length === 0
              ? []
              : (yield* ctx.stage(
                  "prune",
                  pruner.prune({ entries: stale, owner, identity, timeout }).pipe(
                    // Objects that could not be deleted stay in the inventory, so the next reconcile retries them.
                    Effect.tapError((e) =>
                      ctx.emit({
                        _tag: "InventoryRecorded",
                        entries: mergeInventories(inventory, e.remaining).entries,
                      }),
                    ),
                  ),
                )).changeSet
          if (pruned.length > 0) yield* ctx.emit({ _tag: "Pruned", changes: toChanges(pruned) })
          yield* ctx.emit({ _tag: "InventoryRecorded", entries: inventory.entries })

          const targets = healthCheckTargets(ks.spec, owner, applied.changeSet)
          if (targets.length === 0) {
            yield* ctx.emit({ _tag: "HealthChecksDisabled" })
          } else {
            yield* ctx.emit({
              _tag: "HealthChecking",
              message: `running health checks with a timeout of ${timeout}`,
            })
            const result = yield* ctx.stage(
              "health",
              health
                .check({ refs: targets, identity, timeout })
                .pipe(
                  Effect.tapError((e) =>
                    ctx.emit({ _tag: "HealthChecked", healthy: false, reason: e.reason, message: e.message }),
                  ),
                ),
            )
            yield* ctx.emit({
              _tag: "HealthChecked",
              healthy: true,
              reason: Reason.Succeeded,
              message: result.message,
            })
          }

          yield* ctx.emit({
            _tag: "Succeeded",
            reason: Reason.ReconciliationSucceeded,
            message: `Applied revision: ${artifact.revision}`,
            revision: artifact.revision,
          })
          return Action.requeueAfter(intervalMillis(ks.spec))
        }),
    })
  })
