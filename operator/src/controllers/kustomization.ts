/**
 * The Kustomization controller, declared with the runtime: each reconcile runs the pipeline of DESIGN.md —
 * resolve the source artifact, build (with SOPS decryption and postBuild substitution), apply in stages,
 * prune what left the inventory, check health — and reports it as Flux's kustomize-controller does through
 * domain events the runtime folds into the status. A failure anywhere leaves the last applied revision and
 * inventory in status; the cluster keeps what the last good reconcile applied because apply validates the
 * whole set with a server-side dry run before it writes anything.
 */
import { Effect, Layer, Option } from "effect"
import { FluxFinalizer } from "../../../model/api-resource.ts"
import { Reason } from "../../../model/condition.ts"
import { decodeGitRepository, decodeKustomization } from "../../../model/decode.ts"
import { formatDuration } from "../../../model/duration.ts"
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
import { formatRef, type KubeObject } from "../kube/object.ts"
import { CoreResources, objectKey, type ResourceRef } from "../kube/resource.ts"
import { RESTMapper } from "../kube/restmapper.ts"
import type { KubeConfigPolicy } from "../kube/untrusted-kubeconfig.ts"
import { makeRedactor, type Redactor } from "../redaction/redactor.ts"
import {
  Action,
  defineController,
  type FailureEvent,
  type ReconcileContext,
  StageError,
} from "../runtime/controller.ts"
import { makeRecorder } from "../runtime/recorder.ts"
import { firstDrifted } from "../stages/apply/drift-check.ts"
import { compileIgnoreRules, IgnoreRuleError } from "../stages/apply/ignore-rules.ts"
import { Applier } from "../stages/apply/staged-apply.ts"
import { ConfigLookup } from "../stages/build/config-lookup.ts"
import { type ChangeSet, toChanges } from "../stages/cluster/change-set.ts"
import {
  type AccessSettings,
  checkCrossNamespaceRefs,
  type Identity,
  identityFor,
  KubeAccess,
} from "../stages/cluster/impersonation.ts"
import { type Inventory, mergeInventories, staleEntries } from "../stages/cluster/inventory.ts"
import type { StatusReader } from "../stages/cluster/poll.ts"
import { makeRemoteClusters, type TargetCluster } from "../stages/cluster/remote-cluster.ts"
import { sourceArtifactOf } from "../stages/fetch/source-artifact.ts"
import { HealthChecker, healthCheckTargets } from "../stages/health/health-check.ts"
import { compileHealthExpressions } from "../stages/health/health-expressions.ts"
import { Builder } from "../stages/pipeline/builder.ts"
import { cleanupOnDeletion, deletesObjects } from "../stages/prune/deletion-policy.ts"
import { Pruner } from "../stages/prune/prune.ts"
import { type AppliedRecord, buildInputs, makeAppliedRecords } from "./applied-records.ts"
import { startDeadline } from "./deadline.ts"
import { checkDependencies, defaultRequeueDependencyMs, invalidReadyExpr } from "./dependencies.ts"
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

/** Secrets and ConfigMaps carrying this label requeue the Kustomizations that reference them (Flux's rule). */
export const watchLabelSelector = "reconcile.fluxcd.io/watch=Enabled"

export interface KustomizationControllerOptions extends AccessSettings {
  /** Kubernetes Events' `reportingInstance` (the pod name). */
  readonly instance?: string | undefined
  /** `--insecure-kubeconfig-exec`, `--insecure-kubeconfig-tls`: what a `spec.kubeConfig` may use. */
  readonly kubeConfig?: KubeConfigPolicy | undefined
  /** `--feature-gates=CancelHealthCheckOnNewRevision`: a new source revision cancels a waiting health check. */
  readonly cancelHealthCheckOnNewRevision?: boolean | undefined
  /** `--feature-gates=AdditiveCELDependencyCheck`: `readyExpr` is checked on top of Ready, not instead. */
  readonly additiveCelDependencyCheck?: boolean | undefined
  /** `--requeue-dependency` (default 30 s). */
  readonly requeueDependencyMs?: number | undefined
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
  if (kind === "Secret" && spec.kubeConfig?.secretRef) names.push(spec.kubeConfig.secretRef.name)
  return names.map((n) => objectKey(ns, n))
}

/**
 * Spec fields Kustodian does not implement yet. Ignoring them would be wrong — worst, a Kustomization meant for a
 * remote cluster (`kubeConfig`) would be applied and pruned on this one — so the object stalls naming the field,
 * before anything is built or applied.
 */
const unsupportedField = (spec: Kustomization["spec"]): { field: string; why: string } | undefined => {
  if (spec.kubeConfig?.configMapRef !== undefined)
    return {
      field: "spec.kubeConfig.configMapRef",
      why:
        "reaching a cloud cluster through workload identity needs cloud credentials Kustodian does not have; " +
        "use spec.kubeConfig.secretRef; nothing was applied",
    }
  return undefined
}

const fail = (
  reason: string,
  message: string,
  extra: { terminal?: boolean; retryAfterMs?: number; event?: FailureEvent | null } = {},
) => new StageError({ reason, message, ...extra })

const artifactRevision = (obj: KubeObject): string | undefined =>
  (obj.status as { artifact?: { revision?: string } } | undefined)?.artifact?.revision

/** Flux's prefix of a terminal configuration error (kustomize-controller's TerminalErrorMessage). */
const terminalErrorMessage = "Reconciliation failed terminally due to configuration error"

type CompiledCel =
  | { readonly reader: StatusReader | undefined }
  | { readonly invalid: { readonly field: string; readonly error: string } }

/** The CEL of a spec: `healthCheckExprs` as a status reader; `readyExpr`s only checked (they are short-lived). */
const compileCel = (spec: Kustomization["spec"]): CompiledCel => {
  const health = compileHealthExpressions(spec.healthCheckExprs ?? [])
  if (!health.ok) return { invalid: { field: health.field, error: health.error } }
  const ready = invalidReadyExpr(spec)
  return ready !== undefined ? { invalid: ready } : { reader: health.reader }
}

/** The stages that act on a Kustomization's target cluster. */
interface ClusterStages {
  readonly applier: Applier["Service"]
  readonly pruner: Pruner["Service"]
  readonly health: HealthChecker["Service"]
}

/**
 * The cluster-side stages, for a cluster other than the controller's (they hold no resources of their own). Fresh:
 * layers are memoised per process, and these were built once already, on the controller's cluster.
 */
const clusterStagesLayer = Layer.fresh(Layer.mergeAll(Applier.layer, Pruner.layer, HealthChecker.layer))

/** How often a health check looks for a newer source revision that cancels it. */
const cancelCheckMs = 1_000

/**
 * Builds the controller declaration. Needs the build, apply, prune and health stages and a kube client (for
 * sources, dependencies and Warning events).
 */
export const makeKustomizationController = (options: KustomizationControllerOptions = {}) =>
  Effect.gen(function* () {
    const requeueDependencyMs = options.requeueDependencyMs ?? defaultRequeueDependencyMs
    const client = yield* KubeClient
    const builder = yield* Builder
    const applier = yield* Applier
    const pruner = yield* Pruner
    const health = yield* HealthChecker
    const access = yield* KubeAccess
    const lookup = yield* ConfigLookup
    const mapper = yield* RESTMapper
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

    /**
     * The CEL of a spec, compiled once per generation: `healthCheckExprs` as a status reader, `readyExpr`s
     * checked. A compile error stalls the object naming the field, as Flux's InvalidCELExpression.
     */
    const compiledSpecs = new Map<
      string,
      { readonly uid: string; readonly generation: number; readonly cel: CompiledCel }
    >()
    const compileSpec = (key: string, ks: Kustomization) => {
      const uid = ks.metadata.uid ?? ""
      const generation = ks.metadata.generation ?? 0
      const cached = compiledSpecs.get(key)
      const cel =
        cached !== undefined && cached.uid === uid && cached.generation === generation
          ? cached.cel
          : compileCel(ks.spec)
      compiledSpecs.set(key, { uid, generation, cel })
      return "invalid" in cel
        ? Effect.fail(
            fail(
              Reason.InvalidCELExpression,
              `${terminalErrorMessage}: ${cel.invalid.field}: ${cel.invalid.error}`,
              { terminal: true },
            ),
          )
        : Effect.succeed(cel.reader)
    }

    /**
     * Fails with HealthCheckCanceled once the source has an artifact other than `revision`, so a health check
     * waiting on a broken revision gives way to its fix at once (Flux's CancelHealthCheckOnNewRevision). The
     * watch cache of sources is read, no request. Without the gate (Flux's default) the check runs to its end.
     */
    const newRevision = (
      ctx: ReconcileContext<KubeObject>,
      ks: Kustomization,
      revision: string,
    ): Effect.Effect<never, StageError> =>
      options.cancelHealthCheckOnNewRevision !== true
        ? Effect.never
        : Effect.gen(function* () {
            const namespace = sourceNamespace(ks)
            const key = objectKey(namespace, ks.spec.sourceRef.name)
            for (;;) {
              yield* Effect.sleep(cancelCheckMs)
              const source = ctx.cache(gitRepositoryRef)?.get(key)
              const current = source === undefined ? undefined : artifactRevision(source)
              if (current !== undefined && current !== revision)
                return yield* fail(
                  Reason.HealthCheckCanceled,
                  `New reconciliation triggered by ${formatRef({ ...ks.spec.sourceRef, namespace })}`,
                  { retryAfterMs: 0 },
                )
            }
          })

    /** The source's current artifact; a missing source or artifact is retried, as in Flux. */
    const resolveSource = (ks: Kustomization, ctx: ReconcileContext<KubeObject>) =>
      Effect.gen(function* () {
        const { kind, name } = ks.spec.sourceRef
        const namespace = sourceNamespace(ks)
        const subject = `${kind} '${namespace}/${name}'`
        if (kind !== "GitRepository")
          return yield* fail(Reason.ArtifactFailed, `source kind ${kind} is not supported (${subject})`, {
            terminal: true,
          })
        // The watch cache of sources serves this without a request; a source it does not hold yet is read.
        const cached = ctx.cache(gitRepositoryRef)?.get(objectKey(namespace, name))
        const found =
          cached !== undefined
            ? Option.some(cached)
            : yield* client
                .getOption(gitRepositoryRef, name, namespace)
                .pipe(
                  Effect.mapError((e) =>
                    fail(Reason.ArtifactFailed, `failed to get ${subject}: ${e.message}`),
                  ),
                )
        // Waits on the source are logged, not announced, as in Flux: they resolve themselves.
        if (Option.isNone(found))
          return yield* fail(Reason.ArtifactFailed, `Source ${subject} not found`, { event: null })
        const repo = yield* decodeGitRepository(found.value).pipe(
          Effect.mapError(() => fail(Reason.ArtifactFailed, `Source ${subject} is invalid`)),
        )
        const artifact = sourceArtifactOf(repo)
        if (artifact === undefined)
          return yield* fail(
            Reason.ArtifactFailed,
            `Source artifact not found, retrying in ${formatDuration(requeueDependencyMs)}`,
            { retryAfterMs: requeueDependencyMs, event: null },
          )
        return artifact
      })

    /**
     * The inventory of the last status this process wrote (else the object's): a reconcile requeued at once
     * (HealthCheckCanceled) runs before the watch brings back the status just written, and pruning against
     * the older inventory would leave the objects the failed revision applied.
     */
    const lastInventory = (ctx: ReconcileContext<KubeObject>): Inventory | undefined =>
      ctx.status.inventory as Inventory | undefined

    const records = makeAppliedRecords()

    // spec.kubeConfig: the cluster apply, drift checks, prune and health checks act on (remote-cluster.ts).
    const local: TargetCluster = { access, mapper }
    const localStages: ClusterStages = { applier, pruner, health }
    const remotes = makeRemoteClusters({ readSecret: lookup.secret, policy: options.kubeConfig ?? {} })
    const remoteStages = new WeakMap<TargetCluster, ClusterStages>()
    const targetOf = (key: string, spec: Partial<Kustomization["spec"]>, namespace: string) => {
      const ref = spec.kubeConfig?.secretRef
      return ref === undefined
        ? remotes.release(key).pipe(Effect.as(local))
        : remotes.resolve(key, namespace, ref)
    }
    const stagesOn = (target: TargetCluster) =>
      Effect.gen(function* () {
        if (target === local) return localStages
        const hit = remoteStages.get(target)
        if (hit !== undefined) return hit
        const built: ClusterStages = yield* Effect.gen(function* () {
          return { applier: yield* Applier, pruner: yield* Pruner, health: yield* HealthChecker }
        }).pipe(
          Effect.provide(clusterStagesLayer),
          Effect.provideService(KubeAccess, target.access),
          Effect.provideService(RESTMapper, target.mapper),
        )
        remoteStages.set(target, built)
        return built
      })

    /** `wait`/`healthChecks`: the kstatus health of what was applied, as events. */
    const checkHealth = (
      health: HealthChecker["Service"],
      ctx: ReconcileContext<KubeObject>,
      spec: Kustomization["spec"],
      owner: { readonly name: string; readonly namespace: string },
      identity: Identity,
      timeout: `${number} millis`,
      changeSet: ChangeSet,
      reader: StatusReader | undefined,
      canceled: Effect.Effect<never, StageError>,
      redactor?: Redactor,
    ) =>
      Effect.gen(function* () {
        const targets = healthCheckTargets(spec, owner, changeSet)
        if (targets.length === 0) return yield* ctx.emit({ _tag: "HealthChecksDisabled" })
        yield* ctx.emit({
          _tag: "HealthChecking",
          message: `running health checks with a timeout of ${timeout}`,
        })
        const result = yield* ctx.stage(
          "health",
          health.check({ refs: targets, identity, timeout, redactor, reader }).pipe(
            Effect.tapError((e) =>
              ctx.emit({ _tag: "HealthChecked", healthy: false, reason: e.reason, message: e.message }),
            ),
            // A cancel leaves Healthy as it is (Unknown, checking), as Flux does.
            Effect.raceFirst(canceled),
          ),
        )
        yield* ctx.emit({
          _tag: "HealthChecked",
          healthy: true,
          reason: Reason.Succeeded,
          message: result.message,
        })
      })

    const succeeded = (ctx: ReconcileContext<KubeObject>, spec: Kustomization["spec"], revision: string) =>
      ctx
        .emit({
          _tag: "Succeeded",
          reason: Reason.ReconciliationSucceeded,
          message: `Applied revision: ${revision}`,
          revision,
        })
        .pipe(Effect.as(Action.requeueAfter(intervalMillis(spec))))

    /**
     * A reconcile whose inputs are those of the last one and whose objects have not drifted: the events of a
     * full reconcile that changed nothing, so status, history and Events read exactly as Flux's would.
     */
    const replay = (
      stages: ClusterStages,
      ctx: ReconcileContext<KubeObject>,
      ks: Kustomization,
      owner: { readonly name: string; readonly namespace: string },
      identity: Identity,
      timeout: `${number} millis`,
      record: AppliedRecord,
      reader: StatusReader | undefined,
    ) =>
      Effect.gen(function* () {
        const changeSet: ChangeSet = record.signatures.map((s) => ({ ref: s.ref, action: "unchanged" }))
        const events: DomainEvent[] = [{ _tag: "Built", digest: record.digest, objects: record.objects }]
        if (record.decrypted > 0) events.push({ _tag: "Decrypted", documents: record.decrypted })
        events.push(
          { _tag: "Applied", changes: toChanges(changeSet) },
          { _tag: "InventoryRecorded", entries: record.inventory.entries },
        )
        yield* ctx.emit(...events)
        yield* checkHealth(
          stages.health,
          ctx,
          ks.spec,
          owner,
          identity,
          timeout,
          changeSet,
          reader,
          newRevision(ctx, ks, record.revision),
        )
        records.set(ctx.key, record)
        return yield* succeeded(ctx, ks.spec, record.revision)
      })

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
        // Flux's rule: only Secrets and ConfigMaps labelled for it trigger reconciles (others are read when a
        // reconcile needs them), so the operator never holds a copy of every Secret in the cluster.
        {
          resource: CoreResources.secret,
          labelSelector: watchLabelSelector,
          map: (o, ks) => ks.byIndex(Index.secret, objectKey(o.metadata.namespace, o.metadata.name)),
        },
        {
          resource: CoreResources.configMap,
          labelSelector: watchLabelSelector,
          map: (o, ks) => ks.byIndex(Index.configMap, objectKey(o.metadata.namespace, o.metadata.name)),
        },
        // A dependency that becomes Ready releases the Kustomizations waiting on it.
        {
          resource: kustomizationRef,
          map: (o, ks) => ks.byIndex(Index.dependency, objectKey(o.metadata.namespace, o.metadata.name)),
        },
      ],
      successEvents: "always",
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
            records.delete(ctx.key)
            compiledSpecs.delete(ctx.key)
            const inventory = lastInventory(ctx)
            // The remote cluster is needed (and its Secret read) only when objects are to be deleted there.
            const deletes =
              spec.suspend !== true &&
              (inventory?.entries.length ?? 0) > 0 &&
              deletesObjects(spec.deletionPolicy, spec.prune === true)
            const target = deletes ? yield* targetOf(ctx.key, spec, owner.namespace) : local
            // spec.timeout bounds the finalizer's prune too (its deletes and WaitForTermination's wait).
            const timeoutMs = timeoutMillis(spec as Kustomization["spec"])
            const within = yield* startDeadline(timeoutMs)
            const result = yield* within(
              "prune on deletion",
              Reason.PruneFailed,
              cleanupOnDeletion({
                owner,
                inventory,
                deletionPolicy: spec.deletionPolicy,
                prune: spec.prune === true,
                suspended: spec.suspend === true,
                identity: identityFor({ ...owner, serviceAccountName: spec.serviceAccountName }, options),
                timeout: `${timeoutMs} millis`,
              }).pipe(
                Effect.provideService(Pruner, (yield* stagesOn(target)).pruner),
                Effect.provideService(KubeAccess, target.access),
              ),
            )
            yield* remotes.release(ctx.key)
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
          const reader = yield* ctx.stage("validate", compileSpec(ctx.key, ks))
          const unsupported = unsupportedField(ks.spec)
          if (unsupported !== undefined)
            return yield* ctx.stage(
              "validate",
              Effect.fail(
                fail(
                  "InvalidSpec",
                  `${unsupported.field} is not supported by Kustodian: ${unsupported.why}`,
                  {
                    terminal: true,
                  },
                ),
              ),
            )
          const ignore = compileIgnoreRules(ks.spec.ignore)
          if (ignore instanceof IgnoreRuleError)
            return yield* ctx.stage(
              "validate",
              Effect.fail(fail("InvalidSpec", `${ignore.field}: ${ignore.message}`, { terminal: true })),
            )
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
          // spec.timeout bounds build (with decryption), apply and prune together, as Flux's one context does.
          const within = yield* startDeadline(timeoutMillis(ks.spec))
          const progressed = (stage: string, message: string) =>
            ctx.emit({ _tag: "Progressed", stage, message })

          const artifact = yield* ctx.stage("fetch", resolveSource(ks, ctx))
          // After the source, as Flux: a dependency on the same source must have applied this revision.
          yield* ctx.stage(
            "dependencies",
            checkDependencies(
              client,
              kustomizationRef,
              ks,
              ctx.object,
              artifact.revision,
              requeueDependencyMs,
            ),
          )
          yield* ctx.emit({ _tag: "ArtifactFetched", revision: artifact.revision, digest: artifact.digest })

          // Within spec.timeout: a remote server is the tenant's, and one that never answers holds a worker.
          const target = yield* ctx.stage(
            "cluster",
            within("cluster", Reason.ReconciliationFailed, targetOf(ctx.key, ks.spec, owner.namespace)),
          )
          const stages = yield* stagesOn(target)

          // Unchanged inputs and no drift: say again what the last reconcile applied, without building.
          const previous = records.get(ctx.key)
          records.delete(ctx.key)
          const inputs = yield* ctx.stage(
            "fetch",
            buildInputs(ks, artifact.digest, target.version).pipe(
              Effect.provideService(ConfigLookup, lookup),
              Effect.mapError((e) =>
                fail(Reason.ArtifactFailed, `failed to read the build's inputs: ${e.message}`),
              ),
            ),
          )
          if (
            previous !== undefined &&
            previous.uid === ks.metadata.uid &&
            previous.inputs === inputs &&
            (yield* within(
              "drift check",
              Reason.ReconciliationFailed,
              firstDrifted(previous.signatures, identity, kustomizeControllerName, ignore).pipe(
                Effect.provideService(KubeAccess, target.access),
                Effect.provideService(RESTMapper, target.mapper),
              ),
            )) === undefined
          )
            return yield* replay(stages, ctx, ks, owner, identity, timeout, previous, reader)

          yield* progressed("build", `building manifests for revision ${artifact.revision}`)
          const built = yield* ctx.stage(
            "build",
            within(
              "build",
              Reason.BuildFailed,
              builder.build({ namespace: owner.namespace, name: owner.name, spec: ks.spec, artifact }),
            ),
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

          // Every message of the stages below goes through this: what API errors and statuses echo of the
          // objects, and the decrypted and substituteFrom values, never reach a condition, an Event or a log.
          const redactor = makeRedactor({
            sensitive: built.sensitive,
            objects: built.objects,
            identities: [owner.name, owner.namespace],
          })
          yield* progressed("apply", `applying ${built.objects.length} objects`)
          const applied = yield* ctx.stage(
            "apply",
            within(
              "apply",
              Reason.ReconciliationFailed,
              stages.applier.apply({
                objects: built.objects,
                owner,
                identity,
                force: ks.spec.force,
                timeout,
                redactor,
                ignore,
              }),
            ),
          )
          const inventory = applied.inventory
          yield* ctx.emit({ _tag: "Applied", changes: toChanges(applied.changeSet) })

          const stale = ks.spec.prune ? staleEntries(lastInventory(ctx), inventory) : []
          const pruned =
            stale.length === 0
              ? []
              : (yield* ctx.stage(
                  "prune",
                  within(
                    "prune",
                    Reason.PruneFailed,
                    stages.pruner.prune({ entries: stale, owner, identity, timeout, redactor }).pipe(
                      // Objects that could not be deleted stay in the inventory, so the next reconcile retries them.
                      Effect.tapError((e) =>
                        ctx.emit({
                          _tag: "InventoryRecorded",
                          entries: mergeInventories(inventory, e.remaining).entries,
                        }),
                      ),
                    ),
                  ),
                )).changeSet
          if (pruned.length > 0) yield* ctx.emit({ _tag: "Pruned", changes: toChanges(pruned) })
          yield* ctx.emit({ _tag: "InventoryRecorded", entries: inventory.entries })

          yield* checkHealth(
            stages.health,
            ctx,
            ks.spec,
            owner,
            identity,
            timeout,
            applied.changeSet,
            reader,
            newRevision(ctx, ks, artifact.revision),
            redactor,
          )
          records.set(ctx.key, {
            uid: ks.metadata.uid ?? "",
            inputs,
            revision: artifact.revision,
            digest: built.digest,
            objects: built.objects.length,
            decrypted: built.decryptedFiles.length,
            inventory,
            signatures: applied.signatures,
          })
          return yield* succeeded(ctx, ks.spec, artifact.revision)
        }).pipe(
          // A failed reconcile drops its remote connection: the retry opens and probes a new one, so a remote
          // cluster that went away is reported naming its kubeconfig Secret.
          Effect.tapError(() => remotes.release(ctx.key)),
        ),
    })
  })
