/**
 * Keeps kustomize inside the artifact: it runs with `LoadRestrictionsNone` (so patches and generator files may
 * live in sibling directories, as Flux allows), which means we enforce the root ourselves before it starts.
 *
 * @module
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
import { BuildFailed } from "./errors.ts"
import {
  isWithin,
  type KustomizationEntry,
  type KustomizationNode,
  relativeTo,
} from "./kustomization-graph.ts"

/** Flux's limit for a file that may be decrypted; we apply it to every file kustomize reads. */
export const maxFileSize = 5 * 1024 * 1024

const refuse = (message: string, file: string) => new BuildFailed({ message, file, terminal: true })

/**
 * Refuses any symbolic link in the tree whose target resolves outside `root` (or cannot be resolved).
 * Links inside the root are fine: kustomize follows them to files we also check.
 */
export const refuseEscapingSymlinks = Effect.fn("refuseEscapingSymlinks")(function* (root: string) {
  const realRoot = yield* Effect.promise(() => fs.realpath(root))
  const stack = [root]
  while (stack.length > 0) {
    const dir = stack.pop()!
    const entries = yield* Effect.promise(() => fs.readdir(dir, { withFileTypes: true }))
    for (const e of entries) {
      const p = path.join(dir, e.name)
      if (e.isDirectory()) stack.push(p)
      else if (e.isSymbolicLink()) {
        const target = yield* Effect.promise(() => fs.realpath(p).catch(() => undefined))
        if (target === undefined || !isWithin(realRoot, target)) {
          return yield* refuse(
            `symlink '${relativeTo(root, p)}' points outside the artifact root`,
            relativeTo(root, p),
          )
        }
      }
    }
  }
})

/** What kustomize may read during a build: absolute paths inside the root (see {@link readSet}). */
export interface GraphReadSet {
  readonly files: ReadonlyArray<string>
  readonly dirs: ReadonlyArray<string>
}

/**
 * The complete read set of a walked graph: every kustomization file, every local file a field or a builtin
 * plugin config names (resources, patches, generator files and envs, plugin config files, replacements,
 * configurations, crds, openapi, …) in `files`; every kustomization directory and every directory a field
 * names in `dirs` (kustomize needs them to exist even when it then fails on them).
 *
 * Guarantees, checked again here whatever produced `nodes`: every path is absolute and lexically inside
 * `root`; its symbolic-link resolution is inside the real root too; every file is a regular file of at most
 * `maxSize` bytes (default {@link maxFileSize}), every directory a directory. `entry`, the build's own
 * kustomization file (generated or edited), is left out: it goes into the view from memory. Paths are the lexical ones
 * kustomize resolves (its loader joins and cleans before any system call), so copying each path's content,
 * links followed, to the same relative path of a link-free view gives kustomize exactly these reads there;
 * anything outside the set is absent from such a view. Remote references (allowed URLs) are not in the set:
 * kustomize fetches them itself, under the sandbox. Each path appears once; `files` and `dirs` are sorted.
 */
export const readSet = Effect.fn("readSet")(function* (
  root: string,
  nodes: ReadonlyArray<KustomizationNode>,
  entry?: KustomizationEntry,
  maxSize: number = maxFileSize,
) {
  const realRoot = yield* Effect.promise(() => fs.realpath(root))
  const files = new Set<string>()
  const dirs = new Set<string>()
  for (const node of nodes) {
    files.add(node.file)
    dirs.add(node.dir)
    for (const r of node.refs) {
      if (r.kind === "file") files.add(r.abs)
      if (r.kind === "dir") dirs.add(r.abs)
    }
  }
  const check = (p: string, want: "file" | "dir") =>
    Effect.gen(function* () {
      const rel = relativeTo(root, p)
      if (!path.isAbsolute(p) || !isWithin(root, p))
        return yield* refuse(`'${rel}' is outside the artifact root`, rel)
      const real = yield* Effect.promise(() => fs.realpath(p).catch(() => undefined))
      if (real === undefined || !isWithin(realRoot, real))
        return yield* refuse(`'${rel}' points outside the artifact root`, rel)
      const st = yield* Effect.promise(() => fs.stat(real))
      if (want === "dir" && !st.isDirectory()) return yield* refuse(`'${rel}' is not a directory`, rel)
      if (want === "file" && !st.isFile()) return yield* refuse(`'${rel}' is not a regular file`, rel)
      if (want === "file" && st.size > maxSize)
        return yield* refuse(
          `file '${rel}' size (${st.size} bytes) exceeds the limit (${maxSize} bytes)`,
          rel,
        )
    })
  // The build's own kustomization file is written into the view from memory, not read from the tree.
  if (entry !== undefined) files.delete(entry.file)
  for (const f of files) yield* check(f, "file")
  for (const d of dirs) yield* check(d, "dir")
  return { files: [...files].sort(), dirs: [...dirs].sort() } satisfies GraphReadSet
})
