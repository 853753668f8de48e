/**
 * spec.timeout as one budget: a stage that outlives it fails with the stage's reason and a message naming
 * spec.timeout, later stages get only what is left, and the interruption reaches the kustomize child process.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Kustomize } from "../stages/build/kustomize.ts"
import { startDeadline } from "./deadline.ts"

const gone = (pid: number) => {
  try {
    process.kill(pid, 0)
    return false
  } catch {
    return true
  }
}

describe("the reconcile deadline", () => {
  it.live("fails a stage that outlives spec.timeout, and the next one at once", () =>
    Effect.gen(function* () {
      const within = yield* startDeadline(200)
      const slow = yield* Effect.flip(within("build", "BuildFailed", Effect.never))
      expect(slow).toMatchObject({
        reason: "BuildFailed",
        message: "build timed out: the reconcile exceeded spec.timeout (200ms)",
      })
      const next = yield* Effect.flip(within("apply", "ReconciliationFailed", Effect.succeed(1)))
      expect(next.reason).toBe("ReconciliationFailed")
      const fresh = yield* startDeadline(60_000)
      expect(yield* fresh("build", "BuildFailed", Effect.succeed(1))).toBe(1)
    }),
  )

  it.live("kills the kustomize child when the build times out", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "kustodian-deadline-test-"))),
        (d) => Effect.promise(() => fs.rm(d, { recursive: true, force: true })),
      )
      // A kustomize that never answers: it records its pid, then sleeps in its own process (exec).
      const binary = path.join(dir, "kustomize")
      const pidFile = path.join(dir, "pid")
      yield* Effect.promise(() =>
        fs.writeFile(binary, `#!/bin/sh\necho $$ > '${pidFile}'\nexec sleep 600\n`, { mode: 0o755 }),
      )
      const kustomize = Kustomize.make({ binary, maxOutputSize: 1024 * 1024 }, undefined)
      const within = yield* startDeadline(1000)
      const failed = yield* Effect.flip(
        within("build", "BuildFailed", kustomize.build({ dir, view: dir, home: dir })),
      )
      expect(failed.message).toBe("build timed out: the reconcile exceeded spec.timeout (1s)")
      const pid = Number(yield* Effect.promise(() => fs.readFile(pidFile, "utf8")))
      // SIGKILL is asynchronous: poll until the child is reaped (the test timeout bounds it).
      while (!gone(pid)) yield* Effect.sleep(20)
      expect(gone(pid)).toBe(true)
    }).pipe(Effect.scoped),
  )
})
