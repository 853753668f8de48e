/**
 * The real `flux` command line (flux2 v2.9.x, built by `scripts/tools.sh flux-cli`) run against the test cluster,
 * and a reader for the tables it prints. Its discovery cache goes to a directory of the caller's, not `~/.kube`.
 */
import { execFile } from "node:child_process"
import { Effect } from "effect"
import { toolPath } from "./tools.ts"

export interface FluxRun {
  readonly args: ReadonlyArray<string>
  readonly code: number
  /** Tables, YAML and diffs. */
  readonly stdout: string
  /** Progress lines (`► annotating …`, `✔ …`, `✗ …`). */
  readonly stderr: string
}

export interface FluxCliOptions {
  readonly kubeconfig: string
  /** `--cache-dir`: the CLI's discovery and HTTP cache. */
  readonly cacheDir: string
  /** Seconds before the CLI gives up waiting (`--timeout`, default 60). */
  readonly timeoutSeconds?: number
}

/** `flux <args>`, whatever its exit code (a wait that never ends is cut at twice the CLI's own timeout). */
export const runFlux = (options: FluxCliOptions, args: ReadonlyArray<string>) =>
  Effect.promise(
    () =>
      new Promise<FluxRun>((resolve) => {
        const timeout = options.timeoutSeconds ?? 60
        execFile(
          toolPath("flux"),
          [
            ...args,
            `--kubeconfig=${options.kubeconfig}`,
            `--cache-dir=${options.cacheDir}`,
            `--timeout=${timeout}s`,
          ],
          { maxBuffer: 16 * 1024 * 1024, timeout: timeout * 2_000, env: { ...process.env, NO_COLOR: "1" } },
          (err, stdout, stderr) =>
            resolve({
              args,
              code: err === null ? 0 : typeof err.code === "number" ? err.code : 1,
              stdout,
              stderr,
            }),
        )
      }),
  )

/**
 * A table as flux prints it (tab-separated cells padded with spaces, a header row, continuation rows with empty
 * leading cells for multi-line messages): rows of trimmed cells, without blank lines.
 */
export const fluxTable = (text: string): ReadonlyArray<ReadonlyArray<string>> =>
  text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const cells = line.split("\t").map((c) => c.trim())
      while (cells.length > 1 && cells[cells.length - 1] === "") cells.pop()
      return cells
    })
