/**
 * Reading a `kustomization.yaml` and listing every path and URL its fields make kustomize read. Confinement
 * and pre-build decryption both walk the same graph, so it lives here once.
 *
 * @module
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
import * as YAML from "yaml"
import { BuildFailed } from "./errors.ts"
import {
  fieldEntries,
  foldKey,
  isEmptyValue,
  isRecord,
  parseDocument,
  records,
  shownName,
  strings,
} from "./go-json-keys.ts"

/** The names kustomize recognises, in its order of preference. */
export const kustomizationFileNames = ["kustomization.yaml", "kustomization.yml", "Kustomization"] as const

/** A parsed kustomization file: an open record, since users write fields we do not interpret. */
export type KustomizationDoc = Record<string, unknown>

/**
 * A path (or URL) a kustomization file makes kustomize read, with what it is used for. `field` names where it
 * was found, for messages: `resources[2]`, `configMapGenerator[0] 'app' files[1]`,
 * `generators[0] 'gen.yaml' → ConfigMapGenerator 'x' files[0]` (always set by the scanners; optional so
 * hand-made references in tests stay valid).
 */
export type Reference =
  | { readonly use: "resource" | "component"; readonly field?: string; readonly path: string }
  | { readonly use: "patch"; readonly field?: string; readonly path: string }
  | {
      readonly use: "generator-file"
      readonly generator: "secretGenerator" | "configMapGenerator"
      /** The data key (`key=path`), else the file's base name. Decides the SOPS format as Flux does. */
      readonly key: string
      readonly field?: string
      readonly path: string
    }
  | {
      readonly use: "generator-env"
      readonly generator: "secretGenerator" | "configMapGenerator"
      readonly field?: string
      readonly path: string
    }
  | {
      /**
       * A `generators`, `transformers` or `validators` entry: inline plugin config YAML, or a file of configs,
       * or a kustomization directory whose resources are configs. kustomize tries inline first; we check both.
       */
      readonly use: "plugin-source"
      readonly list: "generators" | "transformers" | "validators"
      readonly field?: string
      readonly path: string
    }
  | { readonly use: "other"; readonly field?: string; readonly path: string }

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

/**
 * A `files` entry of a config/secret generator, split like kustomize's `generators.ParseFileSource`: `key=path`
 * with exactly one `=`, else the whole entry is the path and its base name the key (kustomize refuses entries
 * with more `=`, or one at either end; checking the whole string as a path is then only stricter).
 */
export const fileSourceRef = (
  generator: "secretGenerator" | "configMapGenerator",
  field: string,
  source: string,
): Reference => {
  const eq = source.indexOf("=")
  const one = eq > 0 && eq < source.length - 1 && source.indexOf("=", eq + 1) < 0
  return one
    ? { use: "generator-file", generator, key: source.slice(0, eq), field, path: source.slice(eq + 1) }
    : { use: "generator-file", generator, key: path.posix.basename(source), field, path: source }
}

const nameOf = (g: Record<string, unknown>) => {
  const name = fieldEntries(g, "name")
    .map(([, v]) => v)
    .find((v) => typeof v === "string")
  return typeof name === "string" && name !== "" ? ` '${shownName(name)}'` : ""
}

/** What a kustomization makes kustomize read, and the first field we refuse outright (Helm). */
export interface KustomizationScan {
  readonly refs: ReadonlyArray<Reference>
  readonly refused?: { readonly field?: string; readonly reason: string }
}

/**
 * Every path, directory or URL the kustomization's fields name (kustomize's `types.Kustomization`, keys
 * matched as Go's JSON decoder does, see `go-json-keys.ts`). Remote entries are included: the resolver
 * classifies them. Paths inside plugin configs are found by the resolver, which reads the configs.
 */
export const scanKustomization = (k: KustomizationDoc): KustomizationScan => {
  const refs: Reference[] = []
  let refused: KustomizationScan["refused"]
  for (const [key, v] of Object.entries(k)) {
    const list = strings(v)
    const at = (i: number) => `${key}[${i}]`
    switch (foldKey(key)) {
      case "resources":
      case "bases":
        list.forEach((p, i) => {
          refs.push({ use: "resource", field: at(i), path: p })
        })
        break
      case "components":
        list.forEach((p, i) => {
          refs.push({ use: "component", field: at(i), path: p })
        })
        break
      case "patches":
      case "patchesjson6902":
        records(v).forEach((patch, i) => {
          for (const [pk, pv] of fieldEntries(patch, "path"))
            for (const p of strings(pv)) refs.push({ use: "patch", field: `${at(i)}.${pk}`, path: p })
        })
        break
      case "patchesstrategicmerge":
        // Each entry is tried as inline YAML first, then as a path: the path reading is checked either way.
        list.forEach((p, i) => {
          refs.push({ use: "patch", field: at(i), path: p })
        })
        break
      case "replacements":
        records(v).forEach((r, i) => {
          for (const [pk, pv] of fieldEntries(r, "path"))
            for (const p of strings(pv)) refs.push({ use: "other", field: `${at(i)}.${pk}`, path: p })
        })
        break
      case "configurations":
      case "crds":
        list.forEach((p, i) => {
          refs.push({ use: "other", field: at(i), path: p })
        })
        break
      case "openapi":
        for (const [pk, pv] of fieldEntries(v, "path"))
          for (const p of strings(pv)) refs.push({ use: "other", field: `${key}.${pk}`, path: p })
        break
      case "configmapgenerator":
      case "secretgenerator": {
        const generator = foldKey(key) === "secretgenerator" ? "secretGenerator" : "configMapGenerator"
        records(v).forEach((g, i) => {
          const where = `${at(i)}${nameOf(g)}`
          for (const [fk, fv] of fieldEntries(g, "files"))
            strings(fv).forEach((f, j) => {
              refs.push(fileSourceRef(generator, `${where} ${fk}[${j}]`, f))
            })
          for (const name of ["envs", "env"])
            for (const [ek, ev] of fieldEntries(g, name))
              strings(ev).forEach((p, j) => {
                refs.push({
                  use: "generator-env",
                  generator,
                  field: `${where} ${ek}${Array.isArray(ev) ? `[${j}]` : ""}`,
                  path: p,
                })
              })
        })
        break
      }
      case "generators":
      case "transformers":
      case "validators": {
        const which = foldKey(key) as "generators" | "transformers" | "validators"
        list.forEach((p, i) => {
          refs.push({ use: "plugin-source", list: which, field: at(i), path: p })
        })
        break
      }
      case "helmcharts":
      case "helmglobals":
      case "helmchartinflationgenerator":
        if (!isEmptyValue(v) && refused === undefined) refused = { field: key, reason: "Helm is off" }
        break
      default:
        break
    }
  }
  return refused === undefined ? { refs } : { refs, refused }
}

/** Every local path the kustomization names (the paths of {@link scanKustomization}). */
export const references = (k: KustomizationDoc): Reference[] => [...scanKustomization(k).refs]

/**
 * Parses a kustomization file for the resolver: the failsafe schema (every scalar a string), merge keys,
 * the first document only, as kustomize reads it. `rel` is the root-relative name used in errors.
 */
export const parseKustomizationStrict = (
  text: string,
  rel: string,
): Effect.Effect<KustomizationDoc, BuildFailed> =>
  Effect.try({
    try: () => {
      const doc = parseDocument(text)
      if (doc === null || doc === undefined || doc === "" || doc === "~" || doc === "null") return {}
      if (!isRecord(doc)) throw new Error("not a mapping")
      return doc
    },
    catch: () =>
      new BuildFailed({
        message: `failed to unmarshal kustomization file from '${rel}'`,
        file: rel,
        terminal: true,
      }),
  })
