/**
 * The private build view: a directory holding exactly the files the resolver found and checked, at their
 * artifact-relative paths, as private regular files. kustomize (sandboxed) runs on the view and can read
 * nothing else; pre-build decryption writes plaintext only here, never into the source tree it came from.
 *
 * Links are copied as the file they resolve to (the resolver already refused every link leaving the root),
 * so the view itself holds no symbolic link that could point anywhere.
 *
 * @module
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
import { BuildFailed } from "./errors.ts"
import { type KustomizationEntry, relativeTo } from "./kustomization-graph.ts"

/** What goes into a view: absolute paths inside the source root. */
export interface ReadSet {
  readonly files: ReadonlyArray<string>
  /** Directories that must exist even when empty (kustomize then reports what is missing in them). */
  readonly dirs: ReadonlyArray<string>
}

/**
 * Copies `set` from `root` into the empty directory `view`, and writes `entry` (the build's own kustomization
 * file) there from memory; returns the view's path for a path `p` under `root`.
 */
export const makeView = Effect.fn("makeView")(function* (
  root: string,
  set: ReadSet,
  view: string,
  entry?: KustomizationEntry,
) {
  const target = (p: string) => path.join(view, relativeTo(root, p))
  yield* Effect.tryPromise({
    try: async () => {
      await fs.mkdir(view, { recursive: true, mode: 0o700 })
      for (const d of set.dirs) await fs.mkdir(target(d), { recursive: true, mode: 0o700 })
      for (const f of new Set(set.files)) {
        const to = target(f)
        await fs.mkdir(path.dirname(to), { recursive: true, mode: 0o700 })
        // copyFile reads through links, so the copy is a plain file; EXCL: nothing is ever written twice.
        await fs.copyFile(f, to, fs.constants.COPYFILE_EXCL)
        await fs.chmod(to, 0o600)
      }
      if (entry !== undefined) {
        await fs.mkdir(path.dirname(target(entry.file)), { recursive: true, mode: 0o700 })
        await fs.writeFile(target(entry.file), entry.text, { mode: 0o600, flag: "wx" })
      }
    },
    catch: (e) =>
      new BuildFailed({
        message: `failed to prepare the build view: ${(e as NodeJS.ErrnoException).code ?? "error"}`,
        terminal: false,
      }),
  })
  return (p: string) => target(p)
})
