/**
 * A liveness probe of the operator that runs through the whole suite, like the kubelet's: `/healthz` once a
 * second, recording the longest time between two answers. It runs in a child process
 * ({@link ./healthz-poller-main.ts}) so the test runner's own work never shows up as an operator stall.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { startDetached, stopGroup } from "../../support/process.ts"

export interface HealthzSummary {
  readonly startedAt: string
  readonly answered: number
  readonly failed: number
  readonly lastFailure: string
  /** Longest time between two successful answers, including a gap still open. */
  readonly longestGapMs: number
  /** Every silence over 2 s and when it ended. */
  readonly stalls: ReadonlyArray<{ readonly gapMs: number; readonly endedAt: string }>
}

export interface HealthzPoller {
  readonly summary: () => HealthzSummary | undefined
  readonly stop: () => Promise<void>
}

export const startHealthzPoller = (probeUrl: string, dir: string): HealthzPoller => {
  const out = join(dir, "healthz.json")
  const d = startDetached({
    name: "healthz poller",
    command: process.execPath,
    args: [join(import.meta.dirname, "healthz-poller-main.ts"), `${probeUrl}/healthz`, out],
    logFile: join(dir, "healthz-poller.log"),
  })
  return {
    summary: () => (existsSync(out) ? (JSON.parse(readFileSync(out, "utf8")) as HealthzSummary) : undefined),
    stop: () => stopGroup(d.pid, d.startTime, 2_000),
  }
}
