/**
 * Flux objects as tests apply them: the fields Flux requires filled with what tests want by default (`interval:
 * 1h`, so only the test's own requests reconcile; `prune: true`; the artifact root as `path`), the rest from the test.
 *
 * @module
 */
import { Effect } from "effect"
import { applyYaml } from "./cluster.ts"

/** A `kustomize.toolkit.fluxcd.io/v1` Kustomization as JSON; `spec` overrides the defaults. */
export const kustomizationManifest = (
  namespace: string,
  name: string,
  spec: Readonly<Record<string, unknown>>,
): string =>
  JSON.stringify({
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name, namespace },
    spec: { interval: "1h", prune: true, path: "./", ...spec },
  })

/** Applies {@link kustomizationManifest} (server-side, through kubectl). */
export const applyKustomization = (
  namespace: string,
  name: string,
  spec: Readonly<Record<string, unknown>>,
) => Effect.promise(() => applyYaml(kustomizationManifest(namespace, name, spec)))

/** `spec.sourceRef` for a GitRepository. */
export const gitSourceRef = (name: string) => ({ sourceRef: { kind: "GitRepository", name } }) as const
