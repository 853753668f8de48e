/**
 * A change to any single input of a Kustomization rebuilds exactly what it must, counted in kustomize runs:
 * `target` and `sibling` share a GitRepository, `other` has one of its own. A new commit changes the artifact
 * digest of both Kustomizations of that repository (each rebuilds once; the one whose files did not change
 * keeps its objects as they were); the decryption Secret, a `substituteFrom` ConfigMap and a spec field are
 * `target`'s alone (it rebuilds once, nothing else does).
 *
 * One operator serves the file; each test has a repository of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import type { AgeKey } from "../support/seed.ts"
import { appliedRevision, type Obj, reconciledAt } from "./cluster-view.ts"
import { type App, appObjects, appSpec, type Fleet, type FleetOperator, fleet, variable } from "./fleet.ts"

const scope = Effect.runSync(Scope.make())
let f: Fleet & { readonly operator: FleetOperator }
const other: App = {
  path: "apps/other",
  name: "other",
  secret: { token: "other-token" },
  config: { role: "unrelated" },
  recipients: [],
}

beforeAll(async () => {
  f = await Effect.runPromise(Scope.provide(scope)(fleet("fleet-inputs")))
  await Effect.runPromise(
    Effect.gen(function* () {
      const key = yield* f.ageKey("other")
      yield* f.decryptionSecret("other-sops-age", key)
      const app = { ...other, recipients: [key] }
      const repo = yield* f.repository("other", yield* f.appFiles(app))
      yield* f.kustomization("other", appSpec(app, repo, "other-sops-age"))
      yield* f.view.waitFor("kustomization", "other", "Ready", appliedRevision(repo.revision))
    }),
  )
}, 300_000)

afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), 60_000)

/** Builds so far of each of the three Kustomizations. */
const builds = (target: App, sibling: App) =>
  Effect.all({
    target: f.operator.spawns.builds(target.path),
    sibling: f.operator.spawns.builds(sibling.path),
    other: f.operator.spawns.builds(other.path),
  })

/** The new builds of each, once the operator has gone quiet after `change`. */
const newBuilds = <A>(target: App, sibling: App, change: Effect.Effect<A>) =>
  Effect.gen(function* () {
    yield* f.operator.requests.settled
    const before = yield* builds(target, sibling)
    const result = yield* change
    yield* f.operator.requests.settled
    const after = yield* builds(target, sibling)
    return {
      result,
      builds: {
        target: after.target - before.target,
        sibling: after.sibling - before.sibling,
        other: after.other - before.other,
      },
    }
  })

const versions = (objects: ReadonlyArray<Obj | undefined>) => objects.map((o) => o?.metadata.resourceVersion)
const objectsOf = (app: App) => Effect.forEach(appObjects(app), (o) => f.apps.get(o.kind, o.name))

/**
 * A repository with `target` and `sibling` (each with its own age key and decryption Secret) and a file outside
 * both; `target` substitutes from a ConfigMap and from `postBuild.substitute`. Both Ready.
 */
const pair = (tag: string, options: { readonly targetRecipients?: ReadonlyArray<AgeKey> } = {}) =>
  Effect.gen(function* () {
    const targetKey = yield* f.ageKey(`target-${tag}`)
    const siblingKey = yield* f.ageKey(`sibling-${tag}`)
    yield* f.decryptionSecret(`target-${tag}-sops-age`, targetKey)
    yield* f.decryptionSecret(`sibling-${tag}-sops-age`, siblingKey)
    yield* f.variables("ConfigMap", `target-${tag}-vars`, { greeting: "hello" })
    const target: App = {
      path: `apps/target-${tag}`,
      name: `target-${tag}`,
      secret: { password: `target-${tag}-password` },
      config: { greeting: variable("greeting"), who: variable("who") },
      recipients: [targetKey, ...(options.targetRecipients ?? [])],
    }
    const sibling: App = {
      path: `apps/sibling-${tag}`,
      name: `sibling-${tag}`,
      secret: { password: `sibling-${tag}-password` },
      config: { role: "sibling" },
      recipients: [siblingKey],
    }
    const repo = yield* f.repository(`inputs-${tag}`, {
      ...(yield* f.appFiles(target)),
      ...(yield* f.appFiles(sibling)),
      "docs/README.md": "# apps\n",
    })
    yield* f.kustomization(target.name, {
      ...appSpec(target, repo, `target-${tag}-sops-age`),
      postBuild: {
        substitute: { who: "world" },
        substituteFrom: [{ kind: "ConfigMap", name: `target-${tag}-vars` }],
      },
    })
    yield* f.kustomization(sibling.name, appSpec(sibling, repo, `sibling-${tag}-sops-age`))
    for (const app of [target, sibling])
      yield* f.view.waitFor("kustomization", app.name, "Ready", appliedRevision(repo.revision))
    expect((yield* f.apps.get("configmap", `${target.name}-config`))?.data).toEqual({
      greeting: "hello",
      who: "world",
    })
    return { target, sibling, repo }
  })

const secretValue = (app: App) =>
  f.apps
    .get("secret", `${app.name}-secret`)
    .pipe(Effect.map((o) => Buffer.from(o?.data?.password ?? "", "base64").toString()))

describe("a change to one input", () => {
  it.live(
    "a commit touching the path: that Kustomization rebuilds with the new content; its sibling on the same artifact rebuilds once and changes nothing",
    () =>
      Effect.gen(function* () {
        const { target, sibling, repo } = yield* pair("path")
        const siblingBefore = yield* objectsOf(sibling)
        const changed = { ...target, config: { ...target.config, color: "blue" } }
        const files = yield* f.appFiles(changed)
        const { result: revision, builds } = yield* newBuilds(
          target,
          sibling,
          Effect.gen(function* () {
            const revision = yield* repo.push({
              [`${target.path}/configmap.yaml`]: files[`${target.path}/configmap.yaml`] ?? null,
            })
            for (const app of [target, sibling])
              yield* f.view.waitFor(
                "kustomization",
                app.name,
                `Ready at ${revision}`,
                appliedRevision(revision),
              )
            return revision
          }),
        )
        expect(revision).not.toBe(repo.revision)
        expect((yield* f.apps.get("configmap", `${target.name}-config`))?.data).toEqual({
          greeting: "hello",
          who: "world",
          color: "blue",
        })
        expect(versions(yield* objectsOf(sibling))).toEqual(versions(siblingBefore))
        expect(builds).toEqual({ target: 1, sibling: 1, other: 0 })
      }),
    300_000,
  )

  it.live(
    "a commit elsewhere in the repository: both Kustomizations on the artifact rebuild once (its digest changed), move to the new revision and leave their objects unchanged",
    () =>
      Effect.gen(function* () {
        const { target, sibling, repo } = yield* pair("elsewhere")
        const before = [...(yield* objectsOf(target)), ...(yield* objectsOf(sibling))]
        const { result: revision, builds } = yield* newBuilds(
          target,
          sibling,
          Effect.gen(function* () {
            const revision = yield* repo.push({ "docs/README.md": "# apps\n\nNothing applied lives here.\n" })
            for (const app of [target, sibling])
              yield* f.view.waitFor(
                "kustomization",
                app.name,
                `Ready at ${revision}`,
                appliedRevision(revision),
              )
            return revision
          }),
        )
        expect(revision).not.toBe(repo.revision)
        const after = [...(yield* objectsOf(target)), ...(yield* objectsOf(sibling))]
        expect(versions(after)).toEqual(versions(before))
        expect(builds).toEqual({ target: 1, sibling: 1, other: 0 })
      }),
    300_000,
  )

  it.live(
    "the decryption Secret (key rotated): that Kustomization rebuilds once with the new key, nothing else builds",
    () =>
      Effect.gen(function* () {
        // The repository was re-keyed for the new key as well; the cluster's Secret then swaps the old for it.
        const rotated = yield* f.ageKey("target-rotated")
        const { target, sibling } = yield* pair("key", { targetRecipients: [rotated] })
        const before = yield* f.view.get("kustomization", target.name)
        const { builds } = yield* newBuilds(
          target,
          sibling,
          Effect.gen(function* () {
            yield* f.decryptionSecret(`${target.name}-sops-age`, rotated)
            // Not labelled for watching (Flux's rule): the change is picked up by the next reconcile.
            const at = yield* f.view.requestReconcile("kustomization", target.name)
            yield* f.view.waitFor(
              "kustomization",
              target.name,
              `lastHandledReconcileAt=${at}`,
              reconciledAt(at),
            )
          }),
        )
        const after = yield* f.view.get("kustomization", target.name)
        expect(after?.status?.lastAppliedRevision).toBe(before?.status?.lastAppliedRevision)
        expect(after && appliedRevision(before?.status?.lastAppliedRevision ?? "")(after)).toBe(true)
        expect(yield* secretValue(target)).toBe("target-key-password")
        expect(builds).toEqual({ target: 1, sibling: 0, other: 0 })
      }),
    300_000,
  )

  it.live(
    "a substituteFrom ConfigMap: the new value lands, from one rebuild of that Kustomization only",
    () =>
      Effect.gen(function* () {
        const { target, sibling } = yield* pair("vars")
        const { builds } = yield* newBuilds(
          target,
          sibling,
          Effect.gen(function* () {
            yield* f.variables("ConfigMap", `${target.name}-vars`, { greeting: "bonjour" })
            yield* f.view.requestReconcile("kustomization", target.name)
            yield* f.apps.waitFor(
              "configmap",
              `${target.name}-config`,
              "greeting=bonjour",
              (o) => o.data?.greeting === "bonjour",
            )
          }),
        )
        expect((yield* f.apps.get("configmap", `${target.name}-config`))?.data).toEqual({
          greeting: "bonjour",
          who: "world",
        })
        expect(builds).toEqual({ target: 1, sibling: 0, other: 0 })
      }),
    300_000,
  )

  it.live(
    "a spec field (postBuild.substitute): the new value lands, from one rebuild of that Kustomization only",
    () =>
      Effect.gen(function* () {
        const { target, sibling } = yield* pair("spec")
        const { builds } = yield* newBuilds(
          target,
          sibling,
          Effect.gen(function* () {
            yield* f.view.kube(
              "patch",
              "kustomization",
              target.name,
              "--type=merge",
              "-p",
              JSON.stringify({ spec: { postBuild: { substitute: { who: "fleet" } } } }),
            )
            const ks = yield* f.view.waitFor(
              "kustomization",
              target.name,
              "Ready for the new generation",
              (o) =>
                appliedRevision(o.status?.lastAppliedRevision ?? "")(o) && (o.metadata.generation ?? 0) > 1,
            )
            expect(ks.status?.observedGeneration).toBe(ks.metadata.generation)
          }),
        )
        expect((yield* f.apps.get("configmap", `${target.name}-config`))?.data).toEqual({
          greeting: "hello",
          who: "fleet",
        })
        expect(builds).toEqual({ target: 1, sibling: 0, other: 0 })
      }),
    300_000,
  )
})
