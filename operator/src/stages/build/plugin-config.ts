/**
 * Plugin configs: the documents `generators`, `transformers` and `validators` entries name (inline, in files,
 * or built from a kustomization directory). kustomize runs the builtin ones in-process, and several read
 * files — through the loader of the kustomization that lists them, so with `LoadRestrictionsNone` any path
 * at all. This module turns the documents into the paths they make kustomize read, or refuses them.
 *
 * Which documents are plugin configs mirrors kustomize (api/resource/factory.go `RNodesFromBytes`): empty
 * documents are dropped, a document whose `kind` ends in `List` is replaced by its `items` (recursively).
 * A config is builtin when its apiVersion's group is empty and its version is `builtin`
 * (api/internal/plugins/loader `isBuiltinPlugin`: `builtin` and `/builtin` both qualify); anything else
 * would be an exec, Go or KRM-function plugin, and those stay off. The file fields per builtin kind come
 * from api/internal/builtins:
 *
 * | kind | fields read through the loader |
 * |---|---|
 * | ConfigMapGenerator, SecretGenerator | `files` (`key=path`), `envs`, `env` |
 * | PatchTransformer, PatchJson6902Transformer | `path` |
 * | PatchStrategicMergeTransformer | `paths` (each inline YAML or a path) |
 * | ReplacementTransformer | `replacements[].path` |
 * | ValueAddTransformer | `targetFilePath` |
 * | HelmChartInflationGenerator | refused: Helm stays off |
 * | the others (Label, Annotations, Namespace, Prefix, Suffix, PrefixSuffix, ImageTag, ReplicaCount, Hash, IAMPolicy) | none |
 *
 * @module
 */
import { fieldEntries, isRecord, records, shownName, strings } from "./go-json-keys.ts"
import type { Reference } from "./kustomization-file.ts"
import { fileSourceRef } from "./kustomization-file.ts"

/** The builtin kinds kustomize v5.8 can instantiate (builtinhelpers Generator/TransformerFactories). */
export const builtinKinds: ReadonlySet<string> = new Set([
  "AnnotationsTransformer",
  "ConfigMapGenerator",
  "HashTransformer",
  "HelmChartInflationGenerator",
  "IAMPolicyGenerator",
  "ImageTagTransformer",
  "LabelTransformer",
  "NamespaceTransformer",
  "PatchJson6902Transformer",
  "PatchStrategicMergeTransformer",
  "PatchTransformer",
  "PrefixSuffixTransformer",
  "PrefixTransformer",
  "ReplacementTransformer",
  "ReplicaCountTransformer",
  "SecretGenerator",
  "SuffixTransformer",
  "ValueAddTransformer",
])

/** Annotations that would make a config a KRM function (containerized or exec). */
const functionAnnotations = ["config.kubernetes.io/function", "config.k8s.io/function"]

/** Why a plugin config is refused, and where (the field label, e.g. `ConfigMapGenerator 'x'`). */
export interface PluginRefusal {
  readonly field: string
  readonly reason: string
}

/** What the documents make kustomize read, or the first reason to refuse them. */
export type PluginScan =
  | { readonly refs: ReadonlyArray<Reference>; readonly configs: number }
  | { readonly refused: PluginRefusal }

/** Documents dropped by kustomize (`IsNilOrEmpty`): null and empty mappings. */
const isNil = (d: unknown) =>
  d === null ||
  d === undefined ||
  d === "" ||
  d === "~" ||
  d === "null" ||
  (isRecord(d) && !Object.keys(d).length)

/** `kind: FooList` documents replaced by their items, as kustomize's resource factory does. */
const expandLists = (docs: ReadonlyArray<unknown>): { docs: unknown[] } | { reason: string } => {
  const out: unknown[] = []
  const queue = [...docs]
  while (queue.length > 0) {
    const d = queue.shift()
    if (isNil(d)) continue
    if (isRecord(d) && typeof d.kind === "string" && d.kind.endsWith("List") && "items" in d) {
      if (isNil(d.items)) continue
      if (!Array.isArray(d.items)) return { reason: `'${d.kind}' items is not a list` }
      queue.push(...d.items)
      continue
    }
    out.push(d)
  }
  return { docs: out }
}

const short = (s: string) => shownName(s)

/**
 * Scans plugin config documents; `label` prefixes every field (e.g. `generators[0] 'gen.yaml'`). Paths in
 * the refs are as written: the caller resolves them against the directory of the listing kustomization.
 */
export const scanPluginConfigs = (docs: ReadonlyArray<unknown>, label: string): PluginScan => {
  const expanded = expandLists(docs)
  if ("reason" in expanded) return { refused: { field: label, reason: expanded.reason } }
  const refs: Reference[] = []
  let index = 0
  for (const d of expanded.docs) {
    const at = expanded.docs.length > 1 ? `${label} [document ${index}]` : label
    index++
    if (!isRecord(d)) return { refused: { field: at, reason: "a plugin config must be a mapping" } }
    const apiVersion = typeof d.apiVersion === "string" ? d.apiVersion : ""
    const kind = typeof d.kind === "string" ? d.kind : ""
    const meta = isRecord(d.metadata) ? d.metadata : {}
    const name = typeof meta.name === "string" ? meta.name : ""
    const what = `${at} → ${short(kind || "(no kind)")}${name ? ` '${short(name)}'` : ""}`
    if ("sops" in d)
      return {
        refused: {
          field: what,
          reason:
            "SOPS-encrypted plugin configs are refused: their paths cannot be checked before decryption",
        },
      }
    const annotations = isRecord(meta.annotations) ? meta.annotations : {}
    if (functionAnnotations.some((a) => a in annotations))
      return { refused: { field: what, reason: "KRM function plugins are off" } }
    const slash = apiVersion.indexOf("/")
    const [group, version] =
      slash >= 0 ? [apiVersion.slice(0, slash), apiVersion.slice(slash + 1)] : ["", apiVersion]
    if (group !== "" || version !== "builtin")
      return {
        refused: {
          field: what,
          reason: `'${short(apiVersion)}' is not a builtin plugin: exec, Go and KRM function plugins are off`,
        },
      }
    if (!builtinKinds.has(kind))
      return { refused: { field: what, reason: "not a builtin plugin kind of kustomize" } }
    if (kind === "HelmChartInflationGenerator") return { refused: { field: what, reason: "Helm is off" } }
    // Patches are decrypted before the build like the kustomization's own; the other files are read as is.
    const ref = (field: string, p: string, use: "patch" | "other"): Reference => ({
      use,
      field: `${what} ${field}`,
      path: p,
    })
    switch (kind) {
      case "ConfigMapGenerator":
      case "SecretGenerator": {
        const generator = kind === "SecretGenerator" ? "secretGenerator" : "configMapGenerator"
        for (const [k, v] of fieldEntries(d, "files"))
          strings(v).forEach((f, i) => {
            refs.push(fileSourceRef(generator, `${what} ${k}[${i}]`, f))
          })
        for (const name of ["envs", "env"])
          for (const [k, v] of fieldEntries(d, name))
            strings(v).forEach((p, i) => {
              refs.push({
                use: "generator-env",
                generator,
                field: `${what} ${k}${Array.isArray(v) ? `[${i}]` : ""}`,
                path: p,
              })
            })
        break
      }
      case "PatchTransformer":
      case "PatchJson6902Transformer":
        for (const [k, v] of fieldEntries(d, "path"))
          for (const p of strings(v)) refs.push(ref(k, p, "patch"))
        break
      case "PatchStrategicMergeTransformer":
        for (const [k, v] of fieldEntries(d, "paths"))
          strings(v).forEach((p, i) => {
            refs.push(ref(`${k}[${i}]`, p, "patch"))
          })
        break
      case "ReplacementTransformer":
        for (const [k, v] of fieldEntries(d, "replacements"))
          records(v).forEach((r, i) => {
            for (const [pk, pv] of fieldEntries(r, "path"))
              for (const p of strings(pv)) refs.push(ref(`${k}[${i}].${pk}`, p, "other"))
          })
        break
      case "ValueAddTransformer":
        for (const [k, v] of fieldEntries(d, "targetFilePath"))
          for (const p of strings(v)) refs.push(ref(k, p, "other"))
        break
      default:
        break
    }
  }
  return { refs, configs: expanded.docs.length }
}
