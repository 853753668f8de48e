/**
 * Applies the Kustomization's own transforms (targetNamespace, namePrefix/nameSuffix, patches, images,
 * components) by editing the root `kustomization.yaml` the way Flux does (the edited text goes into the build's
 * view), so that kustomize does the work and the result is the same as with Flux. `commonMetadata` is applied to the built objects instead
 * (see `commonMetadata.ts`), since it must override whatever the build produced.
 *
 * @module
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
import * as YAML from "yaml"
import { BuildFailed } from "./errors.ts"
import { findKustomizationFile, type KustomizationDoc, parseKustomization } from "./kustomization-file.ts"
import { type KustomizationEntry, relativeTo } from "./kustomization-graph.ts"
import type { BuildSpec, Image } from "./spec.ts"

const exists = (p: string) =>
  fs.stat(p).then(
    () => true,
    () => false,
  )

const mergeImages = (current: unknown, images: ReadonlyArray<Image>) => {
  const list: Record<string, unknown>[] = Array.isArray(current)
    ? current.map((i) => ({ ...(i as object) }))
    : []
  for (const img of images) {
    const entry: Record<string, unknown> = { name: img.name }
    if (img.newName) entry.newName = img.newName
    if (img.newTag) entry.newTag = img.newTag
    if (img.digest) entry.digest = img.digest
    const at = list.findIndex((i) => i.name === img.name)
    // A partial entry completes the one already in kustomization.yaml (Flux ≥ 1.9.4).
    if (at >= 0) list[at] = { ...list[at], ...entry }
    else list.push(entry)
  }
  return list
}

/** The kustomization with the spec's transforms applied; pure, for tests. */
export const transformKustomization = (
  k: KustomizationDoc,
  spec: BuildSpec,
  presentComponents: ReadonlyArray<string>,
): KustomizationDoc => {
  const out: KustomizationDoc = { ...k }
  if (spec.targetNamespace) out.namespace = spec.targetNamespace
  if (spec.namePrefix) out.namePrefix = spec.namePrefix
  if (spec.nameSuffix) out.nameSuffix = spec.nameSuffix
  if (spec.patches && spec.patches.length > 0) {
    const existing = Array.isArray(k.patches) ? k.patches : []
    out.patches = [
      ...existing,
      ...spec.patches.map((p) => (p.target ? { patch: p.patch, target: p.target } : { patch: p.patch })),
    ]
  }
  if (spec.images && spec.images.length > 0) out.images = mergeImages(k.images, spec.images)
  if (spec.buildMetadata && spec.buildMetadata.length > 0) {
    const existing = Array.isArray(k.buildMetadata) ? (k.buildMetadata as string[]) : []
    out.buildMetadata = [...new Set([...existing, ...spec.buildMetadata])]
  }
  if (presentComponents.length > 0) {
    const existing = Array.isArray(k.components) ? k.components : []
    out.components = [...existing, ...presentComponents]
  }
  return out
}

/**
 * The kustomization file of `dir` (`entry` when the build generated one) with `spec`'s transforms applied;
 * `entry` itself when the spec touches nothing. Returned, not written: the artifact tree is shared and read-only.
 */
export const transformedKustomization = Effect.fn("transformedKustomization")(function* (
  root: string,
  dir: string,
  spec: BuildSpec,
  entry: KustomizationEntry | undefined,
) {
  const touches =
    spec.targetNamespace ||
    spec.namePrefix ||
    spec.nameSuffix ||
    spec.patches?.length ||
    spec.images?.length ||
    spec.components?.length ||
    spec.buildMetadata?.length
  if (!touches) return entry
  const file = entry?.file ?? (yield* Effect.promise(() => findKustomizationFile(dir)))
  if (file === undefined) return entry
  const rel = relativeTo(root, file)
  const text =
    entry?.text ??
    (yield* Effect.tryPromise({
      try: () => fs.readFile(file, "utf8"),
      catch: () => new BuildFailed({ message: `failed to read '${rel}'`, file: rel, terminal: false }),
    }))
  const k = yield* parseKustomization(text, rel)
  const components: string[] = []
  for (const c of spec.components ?? []) {
    if (spec.ignoreMissingComponents && !(yield* Effect.promise(() => exists(path.resolve(dir, c))))) continue
    components.push(c)
  }
  return {
    file,
    text: YAML.stringify(transformKustomization(k, spec, components)),
  } satisfies KustomizationEntry
})
