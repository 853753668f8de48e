/**
 * Flux's rule for the Secrets and ConfigMaps a Kustomization substitutes from: a change triggers a reconcile
 * only when the object is labelled `reconcile.fluxcd.io/watch: Enabled`; an unlabelled one is read again at
 * the next reconcile (interval or `flux reconcile`), and nothing happens before.
 *
 * `plain` substitutes from an unlabelled ConfigMap and Secret, `watched` from labelled ones. Both unlabelled
 * objects change first; then each labelled one, each change reaching the cluster through a reconcile of its own.
 * By then the operator has long handled everything that came before, and `plain` has not moved.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { appliedRevision, reconciles } from "./cluster-view.ts"
import { type App, appSpec, fleet, variable } from "./fleet.ts"

const watch = { "reconcile.fluxcd.io/watch": "Enabled" }

describe("substituteFrom watches", () => {
  it.live(
    "an unlabelled ConfigMap or Secret change triggers nothing; a labelled one reconciles promptly",
    () =>
      Effect.gen(function* () {
        const f = yield* fleet("fleet-watch")
        const key = yield* f.ageKey("apps")
        yield* f.decryptionSecret("sops-age", key)
        const apps = (name: string): App => ({
          path: `apps/${name}`,
          name,
          secret: { password: `${name}-password` },
          config: { color: variable("color"), size: variable("size") },
          recipients: [key],
        })
        const plain = apps("plain")
        const watched = apps("watched")
        for (const [app, labels] of [
          [plain, {}],
          [watched, watch],
        ] as const) {
          yield* f.variables("ConfigMap", `${app.name}-colors`, { color: "red" }, labels)
          yield* f.variables("Secret", `${app.name}-sizes`, { size: "small" }, labels)
        }
        const repo = yield* f.repository("watch", {
          ...(yield* f.appFiles(plain)),
          ...(yield* f.appFiles(watched)),
        })
        for (const app of [plain, watched]) {
          yield* f.kustomization(app.name, {
            ...appSpec(app, repo, "sops-age"),
            postBuild: {
              substituteFrom: [
                { kind: "ConfigMap", name: `${app.name}-colors` },
                { kind: "Secret", name: `${app.name}-sizes` },
              ],
            },
          })
          yield* f.view.waitFor("kustomization", app.name, "Ready", appliedRevision(repo.revision))
        }
        const data = (app: App) =>
          f.apps.get("configmap", `${app.name}-config`).pipe(Effect.map((o) => o?.data))
        expect(yield* data(plain)).toEqual({ color: "red", size: "small" })
        yield* f.operator.requests.settled
        const plainBefore = reconciles(yield* f.view.get("kustomization", plain.name))

        yield* f.variables("ConfigMap", `${plain.name}-colors`, { color: "blue" })
        yield* f.variables("Secret", `${plain.name}-sizes`, { size: "large" })

        yield* f.variables("ConfigMap", `${watched.name}-colors`, { color: "blue" }, watch)
        yield* f.apps.waitFor(
          "configmap",
          `${watched.name}-config`,
          "color=blue",
          (o) => o.data?.color === "blue",
        )
        yield* f.variables("Secret", `${watched.name}-sizes`, { size: "large" }, watch)
        yield* f.apps.waitFor(
          "configmap",
          `${watched.name}-config`,
          "size=large",
          (o) => o.data?.size === "large",
        )

        yield* f.operator.requests.settled
        expect(yield* data(plain)).toEqual({ color: "red", size: "small" })
        expect(reconciles(yield* f.view.get("kustomization", plain.name))).toBe(plainBefore)

        // It was only waiting for a reconcile: `flux reconcile` picks both changes up.
        yield* f.view.requestReconcile("kustomization", plain.name)
        yield* f.apps.waitFor(
          "configmap",
          `${plain.name}-config`,
          "color=blue, size=large",
          (o) => o.data?.color === "blue" && o.data?.size === "large",
        )
      }).pipe(Effect.scoped),
    300_000,
  )
})
