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
import { isWithin, type KustomizationNode, relativeTo } from "./kustomization-graph.ts"

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

/**
 * Checks every local file the graph reads: resolved (through links) inside the root, a regular file or a
 * directory, and no larger than {@link maxFileSize}. Also checks the kustomization files themselves.
 */
export const checkReferencedFiles = Effect.fn("checkReferencedFiles")(function* (
  root: string,
  nodes: ReadonlyArray<KustomizationNode>,
) {
  const realRoot = yield* Effect.promise(() => fs.realpath(root))
  const files = new Set<string>()
  for (const node of nodes) {
    files.add(node.file)
    for (const r of node.refs) {
      if (r.kind === "file") files.add(r.abs)
      if (r.kind === "dir" || r.kind === "file") {
        const real = yield* Effect.promise(() => fs.realpath(r.abs))
        if (!isWithin(realRoot, real)) {
          return yield* refuse(
            `'${r.ref.path}' in '${relativeTo(root, node.file)}' points outside the artifact root`,
            relativeTo(root, node.file),
          )
        }
      }
    }
  }
  for (const f of files) {
    const st = yield* Effect.promise(() => fs.stat(f))
    const rel = relativeTo(root, f)
    if (!st.isFile()) return yield* refuse(`'${rel}' is not a regular file`, rel)
    if (st.size > maxFileSize) {
      return yield* refuse(
        `file '${rel}' size (${st.size} bytes) exceeds the limit (${maxFileSize} bytes)`,
        rel,
      )
    }
  }
  return [...files]
})
