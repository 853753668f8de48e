/**
 * The apply stage: brings a built set of objects into the cluster with server-side apply.
 *
 * 1. Prepare: normalize, add commonMetadata and the owner labels, map kinds through discovery.
 * 2. Validate and plan, before anything is written: GET the live object and server-side dry-run apply
 *    every object (concurrently). A failure anywhere fails the reconcile with nothing written. Objects
 *    that cannot be dry-run yet — custom resources of a CRD in the same set, objects in a Namespace the
 *    set creates — are validated right before their stage.
 * 3. Apply in stages (CRDs/Namespaces/ClusterRoles → `*Class` kinds → the rest, each in stable kind
 *    order), waiting for each of the first two to be ready; only objects the dry-run shows drifted are
 *    written, immutable-field changes are recreated when forced. Fields of `spec.ignore` rules are left out of
 *    the comparison, and an object applied for another reason keeps their live values (`ignored-fields.ts`).
 */

import { Context, Duration, Effect, Layer, Schedule } from "effect"
import type { KubeClient } from "../../kube/client.ts"
import type { KubeError, UnknownKindError } from "../../kube/errors.ts"
import { type KubeObject, type ObjectRef, refKey, refOf } from "../../kube/object.ts"
import type { ResourceRef } from "../../kube/resource.ts"
import { RESTMapper } from "../../kube/restmapper.ts"
import { makeRedactor, type Redactor } from "../../redaction/redactor.ts"
import { type ApplyStage, planStages } from "../cluster/apply-order.ts"
import type { ChangeSet, ChangeSetEntry } from "../cluster/change-set.ts"
import { controllerIdentity, type Identity, KubeAccess } from "../cluster/impersonation.ts"
import { fromRefs, type Inventory } from "../cluster/inventory.ts"
import { type Owner, withOwnerLabels } from "../cluster/owner.ts"
import { forceEnabled, reconcileDisabled, ssaPolicy } from "../cluster/policy.ts"
import { pollUntilCurrent } from "../cluster/poll.ts"
import { hasDrifted } from "./drift.ts"
import type { AppliedSignature } from "./drift-check.ts"
import {
  ApplyError,
  ApplyFailed,
  type ApplyFailure,
  ApplyTimedOut,
  DiscoveryFailed,
  DryRunFailed,
  DuplicateObject,
  IgnoredFieldNotKept,
  NameMissing,
  NamespaceMissing,
  type ObjectFailure,
  ReadFailed,
  type ServerAnswer,
  StageNotReady,
  StillTerminating,
  UnknownKind,
} from "./errors.ts"
import { type CompiledIgnoreRules, ignoredPaths } from "./ignore-rules.ts"
import { resolveIgnored } from "./ignored-fields.ts"
import { isImmutableError } from "./immutable.ts"
import { fieldManager, takeOverPatch } from "./managed-fields.ts"
import { normalize } from "./normalize.ts"
import { applySignature } from "./signature.ts"

export interface CommonMetadata {
  readonly labels?: Readonly<Record<string, string>> | undefined
  readonly annotations?: Readonly<Record<string, string>> | undefined
}

export interface ApplyRequest {
  /** The built, decrypted manifests. */
  readonly objects: ReadonlyArray<KubeObject>
  /** The Kustomization; its name/namespace become the owner labels. */
  readonly owner: Owner
  /** Who applies; default the controller itself. */
  readonly identity?: Identity | undefined
  /** `spec.force`: recreate objects whose immutable fields changed. */
  readonly force?: boolean | undefined
  /** `spec.commonMetadata`, set on every object (overriding the manifests' keys). */
  readonly commonMetadata?: CommonMetadata | undefined
  /** The whole stage's deadline (`spec.timeout`); default 5 minutes. */
  readonly timeout?: Duration.Input | undefined
  /**
   * Masks what API errors echo (the reconcile's, with its decrypted and substituteFrom values); default: one that
   * knows the objects of this request only.
   */
  readonly redactor?: Redactor | undefined
  /** `spec.ignore`, compiled: fields left out of drift detection and kept as they are live. */
  readonly ignore?: CompiledIgnoreRules | undefined
}

export interface ApplyResult {
  /** One entry per object: created, configured, unchanged or skipped. */
  readonly changeSet: ChangeSet
  /** Every object of the set (skipped and unchanged included), in Flux's inventory format. */
  readonly inventory: Inventory
  /** Every object that is now as applied (skipped ones excluded), for the next reconcile's drift check. */
  readonly signatures: ReadonlyArray<AppliedSignature>
}

/** What an apply would do to one object (see {@link Applier.plan}). */
export interface PlannedChange {
  readonly ref: ObjectRef
  /** `configured`: the object drifted from what would be applied. */
  readonly action: "created" | "configured" | "unchanged" | "skipped"
  /** The live object, when there is one. */
  readonly live?: KubeObject | undefined
  /**
   * The object as the dry-run returned it (created, configured); the prepared desired object where the server
   * cannot dry-run it before an earlier stage is applied (a custom resource of a CRD in the set, an object in a
   * Namespace the set creates) or where an immutable-field change would recreate it.
   */
  readonly merged?: KubeObject | undefined
}

/** One executed plan: its change-set entry and the object as the API server returned it (not for skips). */
interface Executed {
  readonly entry: ChangeSetEntry
  readonly object: KubeObject | undefined
}

/** How long to wait for CRDs to be Established and Namespaces Active (Flux: 60s). */
const stageReadyTimeout = Duration.seconds(60)
const stageReadyInterval = Duration.millis(500)
const recreatePollInterval = Duration.millis(250)

interface Item {
  readonly desired: KubeObject
  readonly ref: ObjectRef
}

type Plan =
  | { readonly _tag: "Skip" }
  | { readonly _tag: "Unchanged"; readonly live: KubeObject }
  /** `merged`: the server-side dry-run's result. */
  | { readonly _tag: "Create"; readonly merged: KubeObject }
  /** `payload`: what to apply when ignored fields changed it from the desired object. */
  | {
      readonly _tag: "Configure"
      readonly live: KubeObject
      readonly payload: KubeObject
      readonly merged: KubeObject
    }
  | { readonly _tag: "Recreate"; readonly live: KubeObject }
  /** Cannot be dry-run before an earlier stage is applied. */
  | { readonly _tag: "Deferred" }

/** Transient API failures (connection, 429, 5xx) are retried a few times inside the stage. */
const isTransient = (e: KubeError): boolean =>
  e._tag === "KubeTransportError" || e.code === 429 || e.code >= 500

const retryTransient = <A, R>(eff: Effect.Effect<A, KubeError, R>) =>
  Effect.retry(eff, {
    schedule: Schedule.exponential("200 millis").pipe(Schedule.jittered),
    times: 4,
    while: isTransient,
  })

/** Who applies, and the redactor every error text of this apply goes through. */
interface Who {
  readonly identity: Identity
  readonly redactor: Redactor
}

/**
 * What the API server answered about one object, its values masked: the server echoes fields of the object it
 * refused (the desired one, and for immutable fields or webhook denials the live one too).
 */
const answerOf = (e: KubeError, item: Item, { identity, redactor }: Who, live?: KubeObject): ServerAnswer => {
  const detail = redactor.redact(e.message, live === undefined ? [item.desired] : [item.desired, live])
  if (e._tag === "KubeTransportError") return { detail }
  return {
    reason: e.reason,
    status: e.code,
    detail,
    ...(e.code === 403 && identity._tag === "ServiceAccount" ? { forbiddenFor: identity } : {}),
  }
}

/** The stage's failure: the failures of one phase (at least one), in the order of the objects. */
const failure = (failures: ReadonlyArray<ApplyFailure>) => new ApplyError({ failures })

/** Is `ref` a custom resource whose CRD is part of the same set? */
const definedInSet = (ref: ObjectRef, items: ReadonlyArray<Item>): boolean =>
  items.some((i) => {
    if (i.ref.kind !== "CustomResourceDefinition" || i.ref.group !== "apiextensions.k8s.io") return false
    const spec = i.desired.spec as { group?: string; names?: { kind?: string } } | undefined
    return spec?.group === ref.group && spec?.names?.kind === ref.kind
  })

const namespaceInSet = (namespace: string, items: ReadonlyArray<Item>): boolean =>
  items.some((i) => i.ref.group === "" && i.ref.kind === "Namespace" && i.ref.name === namespace)

const missingNamespace = (e: KubeError): string | undefined => {
  if (e._tag !== "KubeApiError" || e.code !== 404) return undefined
  return /namespaces "([^"]+)" not found/.exec(e.message)?.[1]
}

const prepare = (obj: KubeObject, owner: Owner, common: CommonMetadata | undefined): KubeObject => {
  const n = normalize(obj)
  const withCommon: KubeObject =
    common === undefined
      ? n
      : {
          ...n,
          metadata: {
            ...n.metadata,
            labels: { ...n.metadata.labels, ...common.labels },
            annotations: { ...n.metadata.annotations, ...common.annotations },
          },
        }
  return withOwnerLabels(withCommon, owner)
}

/**
 * Applies manifests to the cluster. Use once per reconcile with the full built set; prune and health
 * take its inventory and change set.
 */
export class Applier extends Context.Service<
  Applier,
  {
    readonly apply: (request: ApplyRequest) => Effect.Effect<ApplyResult, ApplyError>
    /**
     * What `apply` would do, found by the same preparation, GETs and server-side dry-runs, with nothing
     * written (`kustodian diff`). Entries in apply order.
     */
    readonly plan: (request: ApplyRequest) => Effect.Effect<ReadonlyArray<PlannedChange>, ApplyError>
  }
>()("kustodian/stages/apply/Applier") {
  /** Needs KubeAccess (clients per identity) and the RESTMapper. */
  static readonly layer = Layer.effect(
    Applier,
    Effect.gen(function* () {
      const access = yield* KubeAccess
      const mapper = yield* RESTMapper
      return Applier.of({
        apply: (request) => applyWith(access, mapper, request),
        plan: (request) => planWith(access, mapper, request),
      })
    }),
  )
}

const applyWith = Effect.fn("Applier.apply")(function* (
  access: KubeAccess["Service"],
  mapper: RESTMapper["Service"],
  request: ApplyRequest,
) {
  const identity = request.identity ?? controllerIdentity
  const client = yield* access.client(identity)
  const timeout = Duration.fromInputUnsafe(request.timeout ?? "5 minutes")
  yield* Effect.annotateCurrentSpan({
    kustomization: `${request.owner.namespace}/${request.owner.name}`,
    objects: request.objects.length,
  })
  return yield* run(client, mapper, identity, request).pipe(
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.fail(failure([new ApplyTimedOut({ objects: request.objects.length, after: timeout })])),
    }),
  )
})

/** Steps 1 and 2: every object prepared, mapped and planned (GET + dry-run); nothing written. */
const planAll = (
  client: KubeClient["Service"],
  mapper: RESTMapper["Service"],
  identity: Identity,
  request: ApplyRequest,
) =>
  Effect.gen(function* () {
    const who: Who = { identity, redactor: request.redactor ?? makeRedactor({ objects: request.objects }) }
    // 1. Prepare and map every object; unknown kinds fail unless their CRD is in the set.
    const prepared = request.objects.map((o) => prepare(o, request.owner, request.commonMetadata))
    const rawItems = prepared.map((desired) => ({ desired, ref: refOf(desired) }))
    const problems: Array<ObjectFailure> = []
    const seen = new Set<string>()
    for (const i of rawItems) {
      const key = refKey(i.ref)
      if (i.ref.name === "")
        problems.push(new NameMissing({ object: i.ref, apiVersion: i.desired.apiVersion }))
      else if (seen.has(key)) problems.push(new DuplicateObject({ object: i.ref }))
      seen.add(key)
    }
    if (problems.length > 0) return yield* failure(problems)

    // Keyed by the item as listed in `items`; the value is the item fitted to its kind's scope.
    const resolved = new Map<Item, { readonly item: Item; readonly resource: ResourceRef }>()
    const items: Array<Item> = []
    for (const raw of rawItems) {
      const mapped = yield* mapper
        .resolve(raw.desired.apiVersion, raw.desired.kind)
        .pipe(retryTransientMapping, Effect.result)
      if (mapped._tag === "Failure") {
        if (mapped.failure._tag === "UnknownKindError" && definedInSet(raw.ref, rawItems)) {
          items.push(raw)
          continue
        }
        problems.push(
          mapped.failure._tag === "UnknownKindError"
            ? new UnknownKind({ object: raw.ref, apiVersion: raw.desired.apiVersion, afterCrd: false })
            : new DiscoveryFailed({ object: raw.ref, detail: mapped.failure.message }),
        )
        continue
      }
      const item = fitScope(raw, mapped.success)
      if (item === undefined) {
        problems.push(new NamespaceMissing({ object: raw.ref }))
        continue
      }
      resolved.set(item, { item, resource: mapped.success })
      items.push(item)
    }
    if (problems.length > 0) return yield* failure(problems)

    // 2. Validate everything that can be validated now; nothing is written if anything fails.
    const resolveLate = (item: Item) =>
      Effect.gen(function* () {
        const r = yield* mapper.resolve(item.desired.apiVersion, item.desired.kind).pipe(
          // Discovery lags a moment behind a CRD becoming Established.
          Effect.retry({ schedule: Schedule.spaced("500 millis"), times: 20 }),
          Effect.mapError((e: KubeError | UnknownKindError) =>
            e._tag === "UnknownKindError"
              ? new UnknownKind({ object: item.ref, apiVersion: item.desired.apiVersion, afterCrd: true })
              : new ReadFailed({ object: item.ref, ...answerOf(e, item, who) }),
          ),
        )
        const fitted = fitScope(item, r)
        if (fitted === undefined) return yield* new NamespaceMissing({ object: item.ref })
        const entry = { item: fitted, resource: r }
        resolved.set(item, entry)
        return entry
      })

    const planOne = (item: Item, deferrable: boolean): Effect.Effect<Plan, ObjectFailure> =>
      Effect.gen(function* () {
        const known = resolved.get(item)
        if (known === undefined && deferrable) return { _tag: "Deferred" } as const
        const { item: fitted, resource } = known ?? (yield* resolveLate(item))
        return yield* planWithResource(
          client,
          who,
          fitted,
          resource,
          request.force ?? false,
          deferrable,
          items,
          request.ignore,
        )
      })

    const firstPass = yield* Effect.forEach(items, (item) => planOne(item, true).pipe(Effect.result), {
      concurrency: 4,
    })
    const errors = firstPass.flatMap((r) => (r._tag === "Failure" ? [r.failure] : []))
    if (errors.length > 0) return yield* failure(errors)
    const plans = new Map<Item, Plan>()
    firstPass.forEach((r, i) => {
      if (r._tag === "Success") plans.set(items[i]!, r.success)
    })
    return { who, items, plans, resolved, planOne }
  })

const planWith = Effect.fn("Applier.plan")(function* (
  access: KubeAccess["Service"],
  mapper: RESTMapper["Service"],
  request: ApplyRequest,
) {
  const identity = request.identity ?? controllerIdentity
  const client = yield* access.client(identity)
  const timeout = Duration.fromInputUnsafe(request.timeout ?? "5 minutes")
  const planned = Effect.gen(function* () {
    const { items, plans } = yield* planAll(client, mapper, identity, request)
    const out: Array<PlannedChange> = []
    for (const { items: stageItems } of planStages(items, (i) => i.ref))
      for (const item of stageItems) {
        const plan = plans.get(item)!
        const ref = item.ref
        switch (plan._tag) {
          case "Skip":
            out.push({ ref, action: "skipped" })
            break
          case "Unchanged":
            out.push({ ref, action: "unchanged", live: plan.live })
            break
          case "Deferred":
            out.push({ ref, action: "created", merged: item.desired })
            break
          case "Create":
            out.push({ ref, action: "created", merged: plan.merged })
            break
          case "Recreate":
            out.push({ ref, action: "configured", live: plan.live, merged: item.desired })
            break
          case "Configure": {
            // A takeover of fields alone changes nothing a user sees: apply would count it unchanged.
            const drifted = hasDrifted(plan.live, plan.merged, ignoredPaths(request.ignore, plan.merged))
            out.push(
              drifted
                ? { ref, action: "configured", live: plan.live, merged: plan.merged }
                : { ref, action: "unchanged", live: plan.live },
            )
          }
        }
      }
    return out as ReadonlyArray<PlannedChange>
  })
  return yield* planned.pipe(
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.fail(
          failure([new ApplyTimedOut({ objects: request.objects.length, after: timeout, phase: "dry-run" })]),
        ),
    }),
  )
})

const run = (
  client: KubeClient["Service"],
  mapper: RESTMapper["Service"],
  identity: Identity,
  request: ApplyRequest,
) =>
  Effect.gen(function* () {
    const { who, items, plans, resolved, planOne } = yield* planAll(client, mapper, identity, request)

    // 3. Apply stage by stage.
    const entries: Array<ChangeSetEntry> = []
    const signatures: Array<AppliedSignature> = []
    for (const { stage, items: stageItems } of planStages(items, (i) => i.ref)) {
      const written: Array<ObjectRef> = []
      // Objects of one stage do not depend on each other (that is what stages are for): their writes go out
      // together, as the dry runs did, so a reconcile waits for one round trip per stage, not one per object.
      // Entries keep the stage's order.
      const executed = yield* Effect.forEach(
        stageItems,
        (item) =>
          Effect.gen(function* () {
            let plan = plans.get(item)!
            if (plan._tag === "Deferred")
              plan = yield* planOne(item, false).pipe(Effect.mapError((e) => failure([e])))
            const { item: fitted, resource } = resolved.get(item)!
            return yield* execute(client, who, fitted, resource, plan, request.ignore)
          }),
        { concurrency: 4 },
      )
      for (const { entry, object } of executed) {
        entries.push(entry)
        if (object !== undefined)
          signatures.push({
            ref: entry.ref,
            signature: applySignature(object, fieldManager, ignoredPaths(request.ignore, object)),
          })
        if (entry.action === "created" || entry.action === "configured") written.push(entry.ref)
      }
      if (stage !== "rest" && written.length > 0)
        yield* waitForStage(client, mapper, stage, written, who.redactor)
      if (stage === "definitions" && written.some((r) => r.kind === "CustomResourceDefinition"))
        yield* mapper.invalidate()
    }
    return {
      changeSet: entries,
      inventory: fromRefs(entries.map((e) => e.ref)),
      signatures,
    } satisfies ApplyResult
  })

const retryTransientMapping = <A>(
  eff: Effect.Effect<A, KubeError | import("../../kube/errors.ts").UnknownKindError>,
) =>
  Effect.retry(eff, {
    schedule: Schedule.exponential("200 millis").pipe(Schedule.jittered),
    times: 4,
    while: (e) => e._tag !== "UnknownKindError" && isTransient(e),
  })

/** Cluster-scoped kinds lose a stray namespace; namespaced kinds must have one. */
const fitScope = (item: Item, resource: ResourceRef): Item | undefined => {
  if (!resource.namespaced && item.ref.namespace !== "") {
    const { namespace: _ns, ...metadata } = item.desired.metadata
    return { desired: { ...item.desired, metadata }, ref: { ...item.ref, namespace: "" } }
  }
  if (resource.namespaced && item.ref.namespace === "") return undefined
  return item
}

/** GET + dry-run: decides what to do with one object without writing. Fails naming the object. */
const planWithResource = (
  client: KubeClient["Service"],
  who: Who,
  item: Item,
  resource: ResourceRef,
  force: boolean,
  deferrable: boolean,
  items: ReadonlyArray<Item>,
  ignore: CompiledIgnoreRules | undefined,
): Effect.Effect<Plan, ObjectFailure> =>
  Effect.gen(function* () {
    const skip: Plan = { _tag: "Skip" }
    if (ssaPolicy(item.desired) === "Ignore" || reconcileDisabled(item.desired)) return skip
    const liveOpt = yield* retryTransient(
      client.getOption<KubeObject>(resource, item.ref.name, item.ref.namespace || undefined),
    ).pipe(Effect.mapError((e) => new ReadFailed({ object: item.ref, ...answerOf(e, item, who) })))
    const live = liveOpt._tag === "Some" ? liveOpt.value : undefined
    if (live !== undefined && (reconcileDisabled(live) || ssaPolicy(live) === "Ignore")) return skip
    if (live !== undefined && ssaPolicy(item.desired) === "IfNotPresent") return skip
    const dry = yield* retryTransient(
      client.apply<KubeObject>(resource, item.desired, { fieldManager, force: true, dryRun: true }),
    ).pipe(Effect.result)
    if (dry._tag === "Failure") {
      const e = dry.failure
      const ns = missingNamespace(e)
      if (deferrable && ns !== undefined && namespaceInSet(ns, items)) return { _tag: "Deferred" }
      const immutable = e._tag === "KubeApiError" && live !== undefined && isImmutableError(e)
      if (immutable && (force || forceEnabled(item.desired))) return { _tag: "Recreate", live }
      return yield* new DryRunFailed({ object: item.ref, immutable, ...answerOf(e, item, who, live) })
    }
    if (live === undefined) return { _tag: "Create", merged: dry.success }
    // A takeover of hand-edited fields makes the object drift even when the dry-run matches today.
    const takeover = ssaPolicy(item.desired) !== "Merge" && takeOverPatch(live) !== undefined
    // Ignored fields are matched against the dry-run result, as Flux does (it carries the desired labels).
    const ignored = ignoredPaths(ignore, dry.success)
    if (!takeover && !hasDrifted(live, dry.success, ignored)) return { _tag: "Unchanged", live }
    const resolved = resolveIgnored(item.desired, live, dry.success, ignored, { fieldManager, takeover })
    if (!resolved.ok) return yield* new IgnoredFieldNotKept({ object: item.ref, pointer: resolved.pointer })
    return { _tag: "Configure", live, payload: resolved.payload, merged: dry.success }
  })

/** The live object a plan was made against, if any. */
const livePlanned = (plan: Plan): KubeObject | undefined => ("live" in plan ? plan.live : undefined)

/** Carries out one plan; the only place that writes. */
const execute = (
  client: KubeClient["Service"],
  who: Who,
  item: Item,
  resource: ResourceRef,
  plan: Plan,
  ignore: CompiledIgnoreRules | undefined,
): Effect.Effect<Executed, ApplyError> => {
  const fail = (e: KubeError, step: ApplyFailed["step"]) =>
    failure([new ApplyFailed({ object: item.ref, step, ...answerOf(e, item, who, livePlanned(plan)) })])
  const applyOf = (payload: KubeObject) =>
    retryTransient(client.apply<KubeObject>(resource, payload, { fieldManager, force: true })).pipe(
      Effect.mapError((e) => fail(e, "apply")),
    )
  const apply = applyOf(item.desired)
  const done = (action: ChangeSetEntry["action"], object?: KubeObject): Executed => ({
    entry: { ref: item.ref, action },
    object,
  })
  switch (plan._tag) {
    case "Skip":
      return Effect.succeed(done("skipped"))
    case "Unchanged":
      return Effect.succeed(done("unchanged", plan.live))
    case "Deferred":
      return Effect.die("a deferred object reached execution unplanned")
    case "Create":
      return Effect.map(apply, (after) => done("created", after))
    case "Configure":
      return Effect.gen(function* () {
        const patch = ssaPolicy(item.desired) === "Merge" ? undefined : takeOverPatch(plan.live)
        if (patch !== undefined)
          yield* retryTransient(
            client.patch(
              resource,
              { name: item.ref.name, namespace: item.ref.namespace || undefined },
              patch,
              "json",
            ),
          ).pipe(
            // A concurrent write moved the object on; the apply below still converges it.
            Effect.catchIf(
              (e) => e._tag === "KubeApiError" && (e.code === 409 || e.code === 422),
              () => Effect.void,
            ),
            Effect.mapError((e) => fail(e, "managed fields cleanup")),
          )
        const after = yield* applyOf(plan.payload)
        // A takeover alone may change nothing a user sees: then the object counts as unchanged.
        const changed = patch === undefined || hasDrifted(plan.live, after, ignoredPaths(ignore, after))
        return done(changed ? "configured" : "unchanged", after)
      })
    case "Recreate":
      return Effect.gen(function* () {
        yield* retryTransient(
          client.delete(resource, item.ref.name, item.ref.namespace || undefined, {
            propagationPolicy: "Background",
            ...(plan.live.metadata.uid ? { uid: plan.live.metadata.uid } : {}),
          }),
        ).pipe(
          Effect.catchIf(
            (e) => e._tag === "KubeApiError" && e.code === 409,
            () => Effect.succeed(true),
          ),
          Effect.mapError((e) => fail(e, "delete (to recreate)")),
        )
        // Wait until the old object (by uid) is gone, then create it anew.
        yield* client.getOption<KubeObject>(resource, item.ref.name, item.ref.namespace || undefined).pipe(
          Effect.flatMap((o) =>
            o._tag === "Some" && o.value.metadata.uid === plan.live.metadata.uid
              ? Effect.fail("present" as const)
              : Effect.void,
          ),
          Effect.retry({
            schedule: Schedule.spaced(recreatePollInterval),
            while: (e) => e === "present" || isTransient(e),
          }),
          Effect.mapError((e) =>
            e === "present" ? failure([new StillTerminating({ object: item.ref })]) : fail(e, "recreate"),
          ),
        )
        return done("created", yield* apply)
      })
  }
}

/** CRDs must be Established, Namespaces Active, classes present before the next stage needs them. */
const waitForStage = (
  client: KubeClient["Service"],
  mapper: RESTMapper["Service"],
  stage: ApplyStage,
  refs: ReadonlyArray<ObjectRef>,
  redactor: Redactor,
) =>
  Effect.gen(function* () {
    const outcome = yield* pollUntilCurrent(client, mapper, refs, {
      interval: stageReadyInterval,
      timeout: stageReadyTimeout,
      failFast: true,
    })
    if (outcome.outcome === "ready") return
    const pending = outcome.statuses.filter((s) => s.result.status !== "Current")
    return yield* failure([
      new StageNotReady({
        stage,
        elapsed: outcome.elapsed,
        pending: pending.map((s) => ({
          object: s.ref,
          status: s.result.status,
          message: redactor.redact(s.result.message, [s.ref]),
        })),
      }),
    ])
  })
