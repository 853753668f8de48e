/**
 * How many objects a kustomization graph builds, estimated before kustomize runs. A "diamond" — a directory
 * listing two directories that each list the same base, `n` levels deep, with a name prefix per branch so the
 * IDs stay distinct — builds `2^n` copies of the base: 20 levels are a million objects. kustomize holds them
 * all in memory before it prints the first byte, so neither the output cap nor the object cap on its output
 * can stop it in time; this count can, from the graph the resolver already walked.
 *
 * The count is an estimate on purpose, linear in the graph: a resource file counts its YAML documents, a
 * generator entry one object, a directory the objects of its kustomization times the number of times it is
 * listed, a remote base one. Patches and transformers add none. It can overcount (an empty document, a
 * resource kustomize merges), so the check refuses only above twice the cap: its job is to stop exponential
 * growth before kustomize runs; the object cap on the output (`parseObjects`) is the exact one.
 *
 * @module
 */
import * as fs from "node:fs/promises"
import { Effect } from "effect"
import { formatLimit, limitFlag } from "../../limits.ts"
import { BuildFailed } from "./errors.ts"
import { type KustomizationNode, relativeTo } from "./kustomization-graph.ts"
import { countDocuments } from "./objects.ts"

/** The estimate and the directory that multiplies most (the diamond's base), for the message. */
export interface ObjectEstimate {
  readonly objects: number
  /** The non-root kustomization directory listed the most times along all paths, with that count. */
  readonly hottest: { readonly dir: string; readonly paths: number } | undefined
}

const generated = (doc: Record<string, unknown>) =>
  ["configMapGenerator", "secretGenerator"].reduce(
    (n, k) => n + (Array.isArray(doc[k]) ? (doc[k] as unknown[]).length : 0),
    0,
  )

/** Counts the objects of the graph walked from `nodes[0]` (the build's kustomization). */
export const estimateObjects = Effect.fn("estimateObjects")(function* (
  root: string,
  nodes: ReadonlyArray<KustomizationNode>,
) {
  const byDir = new Map(nodes.map((n) => [n.dir, n]))
  // Documents per resource file: read once each, counted without parsing.
  const files = new Set(
    nodes.flatMap((n) =>
      n.refs.filter((r) => r.ref.use === "resource" && r.kind === "file").map((r) => r.abs),
    ),
  )
  const docs = new Map<string, number>()
  for (const f of files)
    docs.set(f, yield* Effect.promise(() => fs.readFile(f, "utf8").then(countDocuments, () => 1)))

  // objects(dir): memoised over the DAG; a cycle (kustomize refuses those itself) counts as nothing.
  const memo = new Map<string, number>()
  const objects = (dir: string): number => {
    const known = memo.get(dir)
    if (known !== undefined) return known
    memo.set(dir, 0)
    const node = byDir.get(dir)
    let n = node === undefined ? 0 : generated(node.doc)
    for (const r of node?.refs ?? []) {
      if (r.ref.use !== "resource" && r.ref.use !== "component") continue
      n +=
        r.kind === "file"
          ? (docs.get(r.abs) ?? 1)
          : r.kind === "dir"
            ? objects(r.abs)
            : r.kind === "remote"
              ? 1
              : 0
    }
    memo.set(dir, n)
    return n
  }
  const start = nodes[0]
  if (start === undefined) return { objects: 0, hottest: undefined } satisfies ObjectEstimate
  const total = objects(start.dir)

  // paths(dir): how many times the build includes `dir`, summed over the parents that list it.
  const parents = new Map<string, string[]>()
  for (const n of nodes)
    for (const r of n.refs)
      if (r.kind === "dir" && (r.ref.use === "resource" || r.ref.use === "component"))
        parents.set(r.abs, [...(parents.get(r.abs) ?? []), n.dir])
  const pathMemo = new Map<string, number>([[start.dir, 1]])
  const paths = (dir: string): number => {
    const known = pathMemo.get(dir)
    if (known !== undefined) return known
    pathMemo.set(dir, 0)
    const n = (parents.get(dir) ?? []).reduce((sum, p) => sum + paths(p), 0)
    pathMemo.set(dir, n)
    return n
  }
  let hottest: ObjectEstimate["hottest"]
  for (const n of nodes) {
    if (n === start) continue
    const p = paths(n.dir)
    if (hottest === undefined || p > hottest.paths) hottest = { dir: relativeTo(root, n.dir), paths: p }
  }
  return { objects: total, hottest } satisfies ObjectEstimate
})

/**
 * Refuses a graph whose estimate is over twice `maxObjects` (`--max-build-objects`) before kustomize runs;
 * the message names the directory that multiplies. Call it after `walkKustomizations`.
 */
export const refuseObjectExplosion = Effect.fn("refuseObjectExplosion")(function* (
  root: string,
  nodes: ReadonlyArray<KustomizationNode>,
  maxObjects: number,
) {
  const estimate = yield* estimateObjects(root, nodes)
  if (estimate.objects <= 2 * maxObjects) return estimate
  const count = Number.isFinite(estimate.objects) ? String(estimate.objects) : "more than 2^1023"
  const where =
    estimate.hottest !== undefined && estimate.hottest.paths > 1
      ? `; '${estimate.hottest.dir}' is included ${estimate.hottest.paths} times through the resources of the kustomizations above it`
      : ""
  return yield* new BuildFailed({
    message:
      `the build would produce ${count} objects, more than the limit of ` +
      `${formatLimit("maxBuildObjects", maxObjects)} (raise it with ${limitFlag("maxBuildObjects")})${where}`,
    ...(nodes[0] === undefined ? {} : { file: relativeTo(root, nodes[0].file) }),
    terminal: true,
  })
})
