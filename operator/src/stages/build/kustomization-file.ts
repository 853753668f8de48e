/**
 * Reading a `kustomization.yaml` and listing the local files it makes kustomize read. Confinement and
 * pre-build decryption both walk the same graph, so it lives here once.
 *
 * @module
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
import * as YAML from "yaml"
import { BuildFailed } from "./errors.ts"

/** The names kustomize recognises, in its order of preference. */
export const kustomizationFileNames = ["kustomization.yaml", "kustomization.yml", "Kustomization"] as const

/** A parsed kustomization file: an open record, since users write fields we do not interpret. */
export type KustomizationDoc = Record<string, unknown>

/** A local path a kustomization file makes kustomize read, with what it is used for. */
export type Reference =
  | { readonly use: "resource" | "component"; readonly path: string }
  | { readonly use: "patch"; readonly path: string }
  | {
      readonly use: "generator-file"
      readonly generator: "secretGenerator" | "configMapGenerator"
      /** The data key (`key=path`), else the file's base name. Decides the SOPS format as Flux does. */
      readonly key: string
      readonly path: string
    }
  | {
      readonly use: "generator-env"
      readonly generator: "secretGenerator" | "configMapGenerator"
      readonly path: string
    }
  | { readonly use: "other"; readonly field: string; readonly path: string }

const isFile = async (p: string) => {
  try {
    return (await fs.stat(p)).isFile()
  } catch {
    return false
  }
}

/** The kustomization file in `dir`, if any. */
export const findKustomizationFile = async (dir: string): Promise<string | undefined> => {
  for (const name of kustomizationFileNames) {
    const p = path.join(dir, name)
    if (await isFile(p)) return p
  }
  return undefined
}

/** Parses a kustomization file; `rel` is the root-relative name used in errors. */
export const parseKustomization = (text: string, rel: string): Effect.Effect<KustomizationDoc, BuildFailed> =>
  Effect.try({
    try: () => {
      const doc = YAML.parse(text) as unknown
      if (doc === null || doc === undefined) return {}
      if (typeof doc !== "object" || Array.isArray(doc)) throw new Error("not a mapping")
      return doc as KustomizationDoc
    },
    catch: () =>
      new BuildFailed({
        message: `failed to unmarshal kustomization file from '${rel}'`,
        file: rel,
        terminal: true,
      }),
  })

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : typeof v === "string" ? [v] : []

const records = (v: unknown): Record<string, unknown>[] =>
  Array.isArray(v) ? v.filter((x): x is Record<string, unknown> => typeof x === "object" && x !== null) : []

/** A string that kustomize would read as an inline YAML document rather than a path. */
const isInline = (s: string) => s.includes("\n") || /^\s*[{[]/.test(s)

/**
 * `true` when a resource entry is a remote target (git URL, HTTP URL, `github.com/…` shorthand) rather
 * than a local path. Kustomize tries local paths first; callers check local existence before this.
 */
export const looksRemote = (s: string) =>
  /^[a-z][a-z0-9+.-]*:\/\//i.test(s) ||
  /^git@/.test(s) ||
  /^git::/.test(s) ||
  /^(github|gitlab|bitbucket)\.(com|org)\//.test(s)

/** Every local path the kustomization makes kustomize read (remote entries are left out by the caller). */
export const references = (k: KustomizationDoc): Reference[] => {
  const refs: Reference[] = []
  for (const r of [...strings(k.resources), ...strings(k.bases)]) refs.push({ use: "resource", path: r })
  for (const c of strings(k.components)) refs.push({ use: "component", path: c })
  for (const p of records(k.patches))
    if (typeof p.path === "string") refs.push({ use: "patch", path: p.path })
  for (const p of strings(k.patchesStrategicMerge)) if (!isInline(p)) refs.push({ use: "patch", path: p })
  for (const p of records(k.patchesJson6902))
    if (typeof p.path === "string") refs.push({ use: "patch", path: p.path })
  for (const generator of ["secretGenerator", "configMapGenerator"] as const) {
    for (const g of records(k[generator])) {
      for (const f of strings(g.files)) {
        const eq = f.indexOf("=")
        const key = eq >= 0 ? f.slice(0, eq) : path.basename(f)
        refs.push({ use: "generator-file", generator, key, path: eq >= 0 ? f.slice(eq + 1) : f })
      }
      for (const e of [...strings(g.envs), ...strings(g.env)])
        refs.push({ use: "generator-env", generator, path: e })
    }
  }
  for (const field of ["crds", "configurations", "transformers", "generators", "validators"]) {
    for (const p of strings(k[field])) if (!isInline(p)) refs.push({ use: "other", field, path: p })
  }
  const openapi = k.openapi as Record<string, unknown> | undefined
  if (openapi && typeof openapi.path === "string")
    refs.push({ use: "other", field: "openapi", path: openapi.path })
  for (const r of records(k.replacements))
    if (typeof r.path === "string") refs.push({ use: "other", field: "replacements", path: r.path })
  return refs
}
