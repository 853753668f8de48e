/**
 * The graph of kustomization files a build reads: the root one and, recursively, every local directory
 * named in `resources` or `components`. Each directory is visited once.
 *
 * @module
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
import { BuildFailed } from "./errors.ts"
import {
  findKustomizationFile,
  type KustomizationDoc,
  looksRemote,
  parseKustomization,
  type Reference,
  references,
} from "./kustomization-file.ts"

/** A reference resolved against the directory of its kustomization file. */
export interface ResolvedReference {
  readonly ref: Reference
  /** Absolute path (lexically resolved; symlinks are not followed). */
  readonly abs: string
  /** What is at `abs`. Remote resources are never read locally. */
  readonly kind: "file" | "dir" | "missing" | "remote"
}

/** One kustomization file of the graph. */
export interface KustomizationNode {
  readonly dir: string
  readonly file: string
  readonly doc: KustomizationDoc
  readonly refs: ReadonlyArray<ResolvedReference>
}

/** `p` relative to `root`, with forward slashes; what errors show. */
export const relativeTo = (root: string, p: string) => path.relative(root, p).split(path.sep).join("/") || "."

/** True when `p` is `root` or below it. */
export const isWithin = (root: string, p: string) => {
  const rel = path.relative(root, p)
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel))
}

const kindOf = async (p: string): Promise<"file" | "dir" | "missing"> => {
  try {
    const st = await fs.stat(p)
    return st.isDirectory() ? "dir" : "file"
  } catch {
    return "missing"
  }
}

/**
 * Walks from the kustomization in `start`. References whose lexical path leaves `root` are refused here,
 * before anything reads them; a missing kustomization in a referenced directory is left for kustomize to
 * report.
 */
export const walkKustomizations = Effect.fn("walkKustomizations")(function* (root: string, start: string) {
  const nodes: KustomizationNode[] = []
  const seen = new Set<string>()
  const queue = [start]
  while (queue.length > 0) {
    const dir = queue.shift()!
    if (seen.has(dir)) continue
    seen.add(dir)
    const file = yield* Effect.promise(() => findKustomizationFile(dir))
    if (file === undefined) continue
    const rel = relativeTo(root, file)
    const text = yield* Effect.tryPromise({
      try: () => fs.readFile(file, "utf8"),
      catch: () => new BuildFailed({ message: `failed to read '${rel}'`, file: rel, terminal: false }),
    })
    const doc = yield* parseKustomization(text, rel)
    const refs: ResolvedReference[] = []
    for (const ref of references(doc)) {
      const abs = path.resolve(dir, ref.path)
      let kind: ResolvedReference["kind"] = yield* Effect.promise(() => kindOf(abs))
      if (
        kind === "missing" &&
        (ref.use === "resource" || ref.use === "component") &&
        looksRemote(ref.path)
      ) {
        kind = "remote"
      }
      if (kind !== "remote" && !isWithin(root, abs)) {
        return yield* new BuildFailed({
          message: `'${ref.path}' in '${rel}' points outside the artifact root`,
          file: rel,
          terminal: true,
        })
      }
      refs.push({ ref, abs, kind })
      if (kind === "dir" && (ref.use === "resource" || ref.use === "component")) queue.push(abs)
    }
    nodes.push({ dir, file, doc, refs })
  }
  return nodes as ReadonlyArray<KustomizationNode>
})

/** Fails on the first remote resource or component of the graph (`--no-remote-bases`). */
export const refuseRemoteBases = (root: string, nodes: ReadonlyArray<KustomizationNode>) => {
  for (const node of nodes) {
    const remote = node.refs.find((r) => r.kind === "remote")
    if (remote) {
      const rel = relativeTo(root, node.file)
      return Effect.fail(
        new BuildFailed({
          message: `remote bases are disabled (--no-remote-bases): '${remote.ref.path}' in '${rel}'`,
          file: rel,
          terminal: true,
        }),
      )
    }
  }
  return Effect.void
}
