/**
 * `dependsOn` against the real API server: the dependency check on its own, with Kustomizations whose status the
 * test writes (no operator reconciles this namespace), for the two meanings of `readyExpr` Flux offers — replacing
 * the Ready check (its default) and adding to it (`--feature-gates=AdditiveCELDependencyCheck=true`).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import {
  applyYaml,
  installFluxCrds,
  kubectl,
  testKubeconfigPath,
  testNamespace,
} from "../../../e2e/support/cluster.ts"
import { gitSourceRef, kustomizationManifest } from "../../../e2e/support/flux-objects.ts"
import { decodeKustomization } from "../../../model/decode.ts"
import { KubeClient } from "../kube/client.ts"
import { checkDependencies } from "./dependencies.ts"
import { kustomizationRef } from "./kustomization.ts"

const kube = () => KubeClient.layer({ _tag: "File", path: testKubeconfigPath() })

const manifest = (ns: string, name: string, dependsOn: ReadonlyArray<Record<string, string>> = []) =>
  kustomizationManifest(ns, name, { ...gitSourceRef(`${name}-repo`), dependsOn })

describe("dependsOn with readyExpr", () => {
  it.live(
    "replaces the Ready check by default; with AdditiveCELDependencyCheck the dependency must also be Ready",
    () =>
      Effect.gen(function* () {
        yield* Effect.promise(() => installFluxCrds())
        const ns = yield* testNamespace("ks-deps")
        // `base` has never been reconciled (no Ready condition); the expression only looks at its name.
        yield* Effect.promise(() => applyYaml(manifest(ns, "base")))
        yield* Effect.promise(() =>
          applyYaml(manifest(ns, "app", [{ name: "base", readyExpr: "dep.metadata.name == 'base'" }])),
        )
        const app = JSON.parse(
          yield* Effect.promise(() => kubectl(["-n", ns, "get", "kustomization", "app", "-o", "json"])),
        )
        const ks = yield* decodeKustomization(app)
        const client = yield* KubeClient
        const check = (additive: boolean) =>
          Effect.exit(checkDependencies(client, kustomizationRef, ks, app, "main@sha1:1", 30_000, additive))

        expect(Exit.isSuccess(yield* check(false))).toBe(true)
        const additive = yield* check(true)
        expect(Exit.isFailure(additive)).toBe(true)
        expect(String(Exit.isFailure(additive) ? additive.cause : "")).toContain(
          `dependency '${ns}/base' is not ready`,
        )
      }).pipe(Effect.provide(kube())),
  )
})
