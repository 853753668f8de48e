import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { StageError } from "./controller.ts"
import { atStageBoundary, type StageFailed } from "./stage.ts"

const failureOf = <A>(effect: Effect.Effect<A, StageFailed>) =>
  Effect.flip(effect).pipe(
    Effect.map((e) => ({
      _tag: e._tag,
      stage: e.stage,
      reason: e.reason,
      message: e.message,
      terminal: e.terminal,
      defect: e.defect,
    })),
  )

describe("atStageBoundary", () => {
  it.effect("turns a typed error into StageFailed naming the stage, with the error's reason", () =>
    Effect.gen(function* () {
      const failed = yield* failureOf(
        atStageBoundary(
          "build",
          Effect.fail(
            new StageError({ reason: "BuildFailed", message: "kustomize build failed", terminal: true }),
          ),
        ),
      )
      expect(failed).toMatchObject({
        _tag: "StageFailed",
        stage: "build",
        reason: "BuildFailed",
        message: "kustomize build failed",
        terminal: true,
        defect: false,
      })
    }),
  )

  it.effect("records a rejected Effect.promise and a throw as a defect of the stage", () =>
    Effect.gen(function* () {
      const rejected = yield* failureOf(
        atStageBoundary(
          "fetch",
          Effect.promise(() => Promise.reject(new Error("socket hang up"))),
        ),
      )
      expect(rejected).toMatchObject({
        stage: "fetch",
        reason: "ReconciliationFailed",
        message: "internal error: socket hang up",
        terminal: false,
        defect: true,
      })
      const thrown = yield* failureOf(
        atStageBoundary(
          "apply",
          Effect.sync(() => {
            throw "a string, not an Error"
          }),
        ),
      )
      // A thrown value that is no Error is not quoted: it could be anything, a secret included.
      expect(thrown).toMatchObject({
        stage: "apply",
        message: "internal error: unexpected failure",
        defect: true,
      })
    }),
  )

  it.effect("keeps an inner stage's name through an outer boundary", () =>
    Effect.gen(function* () {
      const failed = yield* failureOf(
        atStageBoundary("reconcile", atStageBoundary("prune", Effect.die(new Error("boom")))),
      )
      expect(failed.stage).toBe("prune")
    }),
  )

  it.effect("masks values the API server quoted in the message", () =>
    Effect.gen(function* () {
      const failed = yield* failureOf(
        atStageBoundary(
          "apply",
          Effect.fail({
            reason: "ReconciliationFailed",
            message: 'Secret "x" is invalid: data.password: Invalid value: "hunter2"',
          }),
        ),
      )
      expect(failed.message).not.toContain("hunter2")
    }),
  )

  it.effect("lets interruption through: a deadline or shutdown is not a stage failure", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.forkChild(atStageBoundary("health", Effect.never))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(fiber)
      const exit = yield* Fiber.await(fiber)
      expect(Exit.hasInterrupts(exit)).toBe(true)
    }),
  )
})
