/**
 * Looks for a plaintext in every file under a directory (the operator's `$TMPDIR`), over and over while a test
 * makes the operator build, so that files which live only as long as one build are seen too. A scan is a
 * snapshot: a file may be gone between listing and reading it, which is simply not a finding.
 */
import { type Dirent, existsSync } from "node:fs"
import { readdir, readFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { Effect, Fiber } from "effect"

export interface Finding {
  /** The file holding the plaintext. */
  readonly file: string
  /** Whether a directory above it (up to the scanned root) satisfies the scan's `foreign` test. */
  readonly foreign: boolean
}

const filesUnder = async (dir: string): Promise<ReadonlyArray<string>> => {
  const entries: Dirent[] = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))
}

/**
 * Starts scanning `root` for any of `needles` until the scope closes or `stop` is run. `foreign(dir)` tells a
 * directory where the plaintext must never be (e.g. another tenant's build view, or the shared tree).
 */
export const scanForPlaintext = (
  root: string,
  needles: ReadonlyArray<string>,
  foreign: (dir: string) => boolean,
) =>
  Effect.gen(function* () {
    const findings: Finding[] = []
    let scans = 0
    const isForeign = (file: string) => {
      for (let d = dirname(file); d.startsWith(root) && d !== root; d = dirname(d))
        if (foreign(d)) return true
      return false
    }
    const scanOnce = Effect.promise(async () => {
      for (const file of await filesUnder(root)) {
        const text = await readFile(file, "latin1").catch(() => "")
        if (needles.some((n) => text.includes(n)) && !findings.some((x) => x.file === file))
          findings.push({ file, foreign: isForeign(file) })
      }
      scans++
    })
    const fiber = yield* Effect.forkScoped(Effect.forever(scanOnce.pipe(Effect.andThen(Effect.sleep(20)))))
    return {
      /** Stops the background scan and returns what it found and how often it looked. */
      stop: Fiber.interrupt(fiber).pipe(
        Effect.andThen(Effect.sync(() => ({ findings: [...findings], scans }))),
      ),
      /** One more scan now; what it finds, nothing remembered. */
      now: Effect.promise(async () => {
        const found: string[] = []
        for (const file of await filesUnder(root)) {
          const text = await readFile(file, "latin1").catch(() => "")
          if (needles.some((n) => text.includes(n))) found.push(file)
        }
        return found
      }),
    }
  })

/** A directory holding the Kustomization directory `path` (e.g. `a` with its kustomization.yaml). */
export const holds = (path: string) => (dir: string) => existsSync(join(dir, path, "kustomization.yaml"))
