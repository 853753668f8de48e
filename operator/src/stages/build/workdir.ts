/**
 * A private scratch directory for one build: mode 0700, inside this process's temp root (`temp-root.ts`: the
 * OS temp dir, in the pod the sized `/tmp` emptyDir), removed when the surrounding Scope closes, whatever
 * happened, and swept at the next start-up if the process was killed before that.
 *
 * Not `/dev/shm`: it is 64 MiB for the whole pod, shared with everything else, and a full one fails builds of
 * unrelated tenants. The pod's `/tmp` is memory-backed with a size limit, so plaintext still stays off disks.
 *
 * @module
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
import { tempRoot } from "../../temp-root.ts"
import { BuildFailed } from "./errors.ts"

/** The parent of build directories and extracted trees: this process's temp root. */
export const scratchParent = async (): Promise<string> => tempRoot()

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
          message: `failed to create a private build directory: ${(e as NodeJS.ErrnoException).code ?? "error"}`,
          terminal: false,
        }),
    }),
    (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true, maxRetries: 3 })),
  )
