/**
 * Test helper: the `kustodian` executable as a real process (the package's bin under this Node), with stdin,
 * a working directory and a clean environment of the caller's.
 *
 * @module
 */
import { spawnSync } from "node:child_process"
import { resolve } from "node:path"

const bin = resolve(import.meta.dirname, "../../../bin/kustodian.ts")

export interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export const runKustodian = (
  args: ReadonlyArray<string>,
  opts: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv; readonly input?: string } = {},
): CliRun => {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: opts.cwd,
    env: opts.env ?? { PATH: process.env.PATH, HOME: process.env.HOME },
    input: opts.input ?? "",
    encoding: "utf8",
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}
