/**
 * The `kustomization.yaml` for a path that has none, as Flux generates it: every YAML/JSON manifest found
 * below it, except that a sub-directory holding its own kustomization is listed as a directory and not
 * descended into.
 *
 * @module
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
import * as YAML from "yaml"
import { BuildFailed } from "./errors.ts"
import { findKustomizationFile } from "./kustomization-file.ts"
import { type KustomizationEntry, relativeTo } from "./kustomization-graph.ts"

const manifestExtensions = new Set([".yaml", ".yml", ".json"])

/** Every document must look like a Kubernetes object (or be empty); else the file is not a manifest. */
const isManifest = (text: string) => {
  try {
    return YAML.parseAllDocuments(text).every((d) => {
      if (d.errors.length > 0) return false
      const v = d.toJS() as unknown
      if (v === null || v === undefined) return true
      return typeof v === "object" && !Array.isArray(v) && "kind" in v && "apiVersion" in v
    })
  } catch {
    return false
  }
}

const scan = async (root: string, base: string): Promise<{ paths: string[]; bad?: string }> => {
  const paths: string[] = []
  const visit = async (dir: string): Promise<string | undefined> => {
    const entries = (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )
    for (const e of entries) {
      const p = path.join(dir, e.name)
      if (e.isDirectory()) {
        if (await findKustomizationFile(p)) paths.push(p)
        else {
          const bad = await visit(p)
          if (bad) return bad
        }
      } else if (e.isFile() && manifestExtensions.has(path.extname(e.name))) {
        if (!isManifest(await fs.readFile(p, "utf8"))) return relativeTo(root, p)
        paths.push(p)
      }
    }
    return undefined
  }
  const bad = await visit(base)
  return bad === undefined ? { paths } : { paths, bad }
}

/**
 * The `kustomization.yaml` Flux would generate for `dir` when it has no kustomization file, else `undefined`.
 * Returned, not written: the artifact tree is shared by every build and read-only.
 */
export const generatedKustomization = Effect.fn("generatedKustomization")(function* (
  root: string,
  dir: string,
) {
  if (yield* Effect.promise(() => findKustomizationFile(dir))) return undefined
  const { paths, bad } = yield* Effect.promise(() => scan(root, dir))
  if (bad !== undefined) {
    return yield* new BuildFailed({
      message: `failed to decode Kubernetes YAML from '${bad}'`,
      file: bad,
      terminal: true,
    })
  }
  const doc = {
    apiVersion: "kustomize.config.k8s.io/v1beta1",
    kind: "Kustomization",
    resources: paths.map((p) => path.relative(dir, p).split(path.sep).join("/")),
  }
  return {
    file: path.join(dir, "kustomization.yaml"),
    text: YAML.stringify(doc),
  } satisfies KustomizationEntry
})
