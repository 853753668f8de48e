/**
 * Repositories with what e2e/support/git-server.ts's `commitFiles` cannot write: symbolic links (to anywhere,
 * including outside the repository) and sparse files (a 1 GiB file of zeros costs no disk in the work tree and
 * about a megabyte in git, which compresses it). One commit on `main`, pushed into a bare repository.
 */
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { git } from "../../support/git-server.ts"

/** File content, a symbolic link (its target, written as is) or a sparse file of zeros (its size). */
export type Entry = string | Uint8Array | { readonly symlink: string } | { readonly sparse: number }

/** Paths relative to the repository root. */
export type Tree = Readonly<Record<string, Entry>>

/** Commits `tree` as the whole content of `main` in `bareRepo` and returns the commit id. */
export const pushTree = async (
  bareRepo: string,
  tree: Tree,
  message = "hostile content",
): Promise<string> => {
  const work = mkdtempSync(join(tmpdir(), "kustodian-adv-work-"))
  try {
    await git(["init", "--quiet", "--initial-branch=main", work])
    for (const [path, entry] of Object.entries(tree)) {
      const abs = join(work, path)
      mkdirSync(dirname(abs), { recursive: true })
      if (typeof entry === "string" || entry instanceof Uint8Array) writeFileSync(abs, entry)
      else if ("symlink" in entry) symlinkSync(entry.symlink, abs)
      else {
        const fd = openSync(abs, "w")
        try {
          ftruncateSync(fd, entry.sparse)
        } finally {
          closeSync(fd)
        }
      }
    }
    await git(["add", "--all"], { cwd: work })
    await git(["commit", "--quiet", "--no-verify", "-m", message], { cwd: work })
    await git(["push", "--quiet", "--force", bareRepo, "main"], { cwd: work })
    return await git(["rev-parse", "HEAD"], { cwd: work })
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
