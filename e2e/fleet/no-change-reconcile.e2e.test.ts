/**
 * A reconcile whose inputs are those of the last one (`flux reconcile kustomization` with nothing changed):
 * no kustomize, no write but the status (its history counts the reconcile and `lastHandledReconcileAt` answers
 * the request — Flux writes both too), and one GET per applied object plus one per input it has to read
 * (the decryption Secret and the `substituteFrom` ConfigMap, neither labelled for watching).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { requestsBetween } from "./apiserver-requests.ts"
import { appliedRevision, reconciledAt, reconciles } from "./cluster-view.ts"
import { type App, appObjects, appSpec, fleet, variable } from "./fleet.ts"

describe("a no-change reconcile", () => {
  it.live(
    "spawns no kustomize, writes only the status once, GETs each applied object once",
    () =>
      Effect.gen(function* () {
        const f = yield* fleet("fleet-noop")
        const key = yield* f.ageKey("web")
        yield* f.decryptionSecret("web-sops-age", key)
        yield* f.variables("ConfigMap", "web-vars", { greeting: "hello" })
        const app: App = {
          path: "apps/web",
          name: "web",
          secret: { password: "noop-secret-value" },
          config: { greeting: variable("greeting") },
          recipients: [key],
        }
        const repo = yield* f.repository("noop", yield* f.appFiles(app))
        yield* f.kustomization("web", {
          ...appSpec(app, repo, "web-sops-age"),
          postBuild: { substituteFrom: [{ kind: "ConfigMap", name: "web-vars" }] },
        })
        yield* f.view.waitFor("kustomization", "web", "Ready", appliedRevision(repo.revision))
        expect((yield* f.apps.get("configmap", "web-config"))?.data).toEqual({ greeting: "hello" })

        const spawnsBefore = yield* f.operator.spawns.count
        const requestsBefore = yield* f.operator.requests.settled
        const objectsBefore = yield* Effect.forEach(appObjects(app), (o) => f.apps.get(o.kind, o.name))
        // Counted from here, not from the first Ready: a reconcile the source's first artifact queued while the
        // first one ran may still finish after that (its status write falls before `requestsBefore`).
        const before = yield* f.view.get("kustomization", "web")

        const at = yield* f.view.requestReconcile("kustomization", "web")
        const after = yield* f.view.waitFor(
          "kustomization",
          "web",
          `lastHandledReconcileAt=${at}`,
          reconciledAt(at),
        )
        const requests = requestsBetween(requestsBefore, yield* f.operator.requests.settled)

        // It did reconcile: Ready for the same revision, exactly one more reconcile counted in the history (the
        // watch event of its own status write requeues nothing, however late its answer is read).
        expect(appliedRevision(repo.revision)(after)).toBe(true)
        expect(reconciles(after)).toBe(reconciles(before) + 1)
        // No kustomize.
        expect((yield* f.operator.spawns.count) - spawnsBefore).toBe(0)
        // No write but the one status write (no dry run either: a dry-run apply counts among the writes).
        expect(requests.writes).toBe(0)
        expect(requests["gitrepository-status"]).toBe(0)
        expect(requests["kustomization-status"]).toBe(1)
        // One GET per applied object; one for the decryption Secret and one for the substituteFrom ConfigMap.
        expect(requests["app-gets"]).toBe(appObjects(app).length)
        expect(requests["other-gets"]).toBe(2)
        // The objects are untouched.
        const objectsAfter = yield* Effect.forEach(appObjects(app), (o) => f.apps.get(o.kind, o.name))
        expect(objectsAfter.map((o) => o?.metadata.resourceVersion)).toEqual(
          objectsBefore.map((o) => o?.metadata.resourceVersion),
        )
      }).pipe(Effect.scoped),
    300_000,
  )
})
