/**
 * File input/output of the CLI commands, as typed failures.
 *
 * @module
 */
import { chmodSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { Data, Effect } from "effect"

/** Reading the input or writing the output failed (sops exit codes 2 and 3). */
export class FileError extends Data.TaggedError("FileError")<{
  readonly file: string
  readonly op: "read" | "write"
  readonly reason: string
}> {
  override get message(): string {
    return `cannot ${this.op} ${this.file}: ${this.reason}`
  }
}

const why = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message ?? String(e)

export const readInput = (file: string) =>
  Effect.try({
    try: () => new Uint8Array(readFileSync(file === "-" ? 0 : file)),
    catch: (e) => new FileError({ file, op: "read", reason: why(e) }),
  })

/** Writes next to the target and renames, so a failure never leaves a half-written file; keeps the mode. */
export const writeFileAtomic = (file: string, bytes: Uint8Array) =>
  Effect.try({
    try: () => {
      const tmp = join(dirname(file), `.${basename(file)}.kustodian-${process.pid}`)
      let mode: number | undefined
      try {
        mode = statSync(file).mode & 0o7777
      } catch {
        mode = undefined
      }
      writeFileSync(tmp, bytes, { mode: mode ?? 0o600 })
      if (mode !== undefined) chmodSync(tmp, mode)
      renameSync(tmp, file)
    },
    catch: (e) => new FileError({ file, op: "write", reason: why(e) }),
  })

export const writeStdout = (bytes: Uint8Array) =>
  Effect.callback<void>((resume) => {
    process.stdout.write(bytes, () => resume(Effect.void))
  })
