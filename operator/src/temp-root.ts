/**
 * Where every temporary tree of this process lives: one private directory per process under the OS temp dir
 * (`/tmp`, the pod's sized emptyDir; never the 64 MiB `/dev/shm`), named `kustodian-tmp-<pid>-<random>`. Build
 * directories with decrypted files, git credential directories, checkouts, downloaded tarballs and extracted
 * artifacts are all created inside it and removed by their scopes.
 *
 * A SIGKILL or an OOM kill runs no scope: the next start-up sweeps the roots of processes that are gone
 * ({@link sweepStaleTempRoots}). Ownership is by name, never by guessing: only directories matching our exact
 * pattern are touched, and a root whose pid is alive belongs to another running operator or test on the same
 * machine and is left alone. In a container the restarted process often gets the pid of the dead one (1), so a
 * root with our own pid but another random part is stale too.
 *
 * @module
 */
import { randomBytes } from "node:crypto"
import { mkdirSync, rmSync } from "node:fs"
import { lstat, readdir, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"

const pattern = /^kustodian-tmp-(\d+)-([0-9a-f]{12})$/

let root: string | undefined

/** The name this process's root gets (exposed so tests can fabricate a dead process's root). */
export const tempRootName = (pid: number, id: string) => `kustodian-tmp-${pid}-${id}`

/**
 * This process's temp root, created (mode 0700) on first use and removed when the process exits normally.
 * Synchronous on purpose: it is a single `mkdir`, once per process, and callers sit in `mkdtemp` paths.
 */
export const tempRoot = (): string => {
  if (root !== undefined) return root
  const dir = join(tmpdir(), tempRootName(process.pid, randomBytes(6).toString("hex")))
  mkdirSync(dir, { mode: 0o700, recursive: true })
  root = dir
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    // EPERM: the pid exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * Removes the temp roots of processes that are gone, in `parent` (default: the OS temp dir). Returns the
 * names removed. Never fails: a sweep that cannot read the directory leaves it to the next start-up.
 */
export const sweepStaleTempRoots = (parent: string = tmpdir()) =>
  Effect.promise(async () => {
    const own = root === undefined ? undefined : root.slice(root.lastIndexOf("/") + 1)
    const names = await readdir(parent).catch(() => [] as string[])
    const removed: string[] = []
    for (const name of names) {
      const m = pattern.exec(name)
      if (m === null || name === own) continue
      const pid = Number(m[1])
      if (pid !== process.pid && alive(pid)) continue
      const path = join(parent, name)
      const st = await lstat(path).catch(() => undefined)
      // A link or file with our name is not ours to follow.
      if (
        st === undefined ||
        !st.isDirectory() ||
        (process.getuid !== undefined && st.uid !== process.getuid())
      )
        continue
      await rm(path, { recursive: true, force: true, maxRetries: 3 }).then(
        () => removed.push(name),
        () => undefined,
      )
    }
    return removed
  }).pipe(Effect.withSpan("sweepStaleTempRoots"))
