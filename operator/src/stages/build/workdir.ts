/**
 * A private scratch directory for one build: mode 0700, on tmpfs when the machine has one (so decrypted
 * plaintext never reaches a disk), removed when the surrounding Scope closes, whatever happened.
 *
 * @module
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { BuildFailed } from "./errors.ts"

/** The parent of build directories: `/dev/shm` when it is a writable directory, else the OS temp dir. */
export const scratchParent = async (): Promise<string> => {
  try {
    const st = await fs.stat("/dev/shm")
    if (st.isDirectory()) {
      await fs.access("/dev/shm", fs.constants.W_OK)
      return "/dev/shm"
    }
  } catch {
    // no tmpfs: fall through
  }
  return os.tmpdir()
}

/** Use inside `Effect.scoped`: the directory lives exactly as long as the scope. */
export const privateWorkdir = (prefix = "kustodian-build-") =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const dir = await fs.mkdtemp(path.join(await scratchParent(), prefix))
        await fs.chmod(dir, 0o700)
        return dir
      },
      catch: (e) =>
        new BuildFailed({
          message: `failed to create a private build directory: ${(e as Error).message}`,
          terminal: false,
        }),
    }),
    (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true, maxRetries: 3 })),
  )
