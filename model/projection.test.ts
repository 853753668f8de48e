import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import * as fc from "fast-check"
import { Condition, ConditionType } from "./condition.ts"
import { eventArb } from "./events.arbitrary.ts"
import type { DomainEvent, Recorded } from "./events.ts"
import { MaxHistory, project, type ReconcileStatus, readyOf, statusEquals } from "./projection.ts"

const at = (i: number) => new Date(Date.UTC(2026, 10, 27, 12, 0, i)).toISOString().replace(/\.\d+Z$/, "Z")
const recordAll = (events: ReadonlyArray<DomainEvent>, offset = 0): Recorded[] =>
  events.map((event, i) => ({ at: at(offset + i), event }))

const decodeCondition = Schema.decodeUnknownSync(Condition)

describe("project", () => {
  it("gives a status whose conditions satisfy metav1.Condition for any event sequence", () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 40 }), (events) => {
        const status = project({}, recordAll(events))
        for (const c of status.conditions ?? []) expect(() => decodeCondition(c)).not.toThrow()
        const types = (status.conditions ?? []).map((c) => c.type)
        expect(new Set(types).size).toBe(types.length)
        if (status.observedGeneration !== undefined)
          expect(status.observedGeneration).toBeGreaterThanOrEqual(0)
      }),
    )
  })

  it("keeps history bounded, newest first and unique per (digest, status)", () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 80 }), (events) => {
        const history = project({}, recordAll(events)).history ?? []
        expect(history.length).toBeLessThanOrEqual(MaxHistory)
        const keys = history.map((s) => `${s.digest}|${s.lastReconciledStatus}`)
        expect(new Set(keys).size).toBe(keys.length)
        for (let i = 1; i < history.length; i++) {
          expect(history[i - 1]!.lastReconciled >= history[i]!.lastReconciled).toBe(true)
        }
        for (const s of history) expect(s.totalReconciliations).toBeGreaterThanOrEqual(1)
      }),
    )
  })

  it("sets observedGeneration only when Ready=True or Stalled, and then to the reconciled generation", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 6, max: 50 }),
        fc.array(
          eventArb.filter((e) => e._tag !== "ReconcileStarted"),
          { maxLength: 10 },
        ),
        (before, generation, middle) => {
          const last: ReconcileStatus = { observedGeneration: before }
          const status = project(last, recordAll([{ _tag: "ReconcileStarted", generation }, ...middle]))
          const outcomes = middle.filter(
            (e) => e._tag === "Succeeded" || (e._tag === "StageFailed" && e.terminal),
          )
          expect(status.observedGeneration).toBe(outcomes.length > 0 ? generation : before)
        },
      ),
    )
  })

  it("is a fold: projecting in two steps equals projecting at once", () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 20 }), fc.array(eventArb, { maxLength: 20 }), (a, b) => {
        // The fold carries per-reconcile context (digest, revision) only within one call, so split at a start.
        const second = [{ _tag: "ReconcileStarted", generation: 3 } as const, ...b]
        const whole = project({}, recordAll([...a, ...second]))
        const stepwise = project(project({}, recordAll(a)), recordAll(second, a.length))
        expect(statusEquals(whole, stepwise)).toBe(true)
      }),
    )
  })

  it("follows Flux's Ready/Reconciling/Stalled semantics", () => {
    const started = project({}, recordAll([{ _tag: "ReconcileStarted", generation: 2 }]))
    expect(readyOf(started)).toMatchObject({ status: "Unknown", reason: "Progressing" })
    expect(started.conditions?.find((c) => c.type === ConditionType.Reconciling)?.status).toBe("True")

    const failed = project(
      started,
      recordAll(
        [
          {
            _tag: "StageFailed",
            stage: "build",
            reason: "BuildFailed",
            message: "kustomize build failed",
            terminal: false,
          },
        ],
        1,
      ),
    )
    expect(readyOf(failed)).toMatchObject({
      status: "False",
      reason: "BuildFailed",
      message: "kustomize build failed",
      observedGeneration: 2,
    })
    expect(failed.conditions?.find((c) => c.type === "Reconciling")?.reason).toBe("ProgressingWithRetry")
    expect(failed.observedGeneration).toBeUndefined()

    const ok = project(
      failed,
      recordAll(
        [
          { _tag: "ReconcileStarted", generation: 2 },
          { _tag: "ArtifactFetched", revision: "main@sha1:0123" },
          { _tag: "Succeeded", message: "Applied revision: main@sha1:0123" },
        ],
        2,
      ),
    )
    expect(readyOf(ok)).toMatchObject({ status: "True", reason: "ReconciliationSucceeded" })
    expect(ok.conditions?.map((c) => c.type)).toEqual(["Ready"])
    expect(ok).toMatchObject({
      observedGeneration: 2,
      lastAppliedRevision: "main@sha1:0123",
      lastAttemptedRevision: "main@sha1:0123",
    })

    const stalled = project(
      ok,
      recordAll(
        [
          { _tag: "ReconcileStarted", generation: 3 },
          {
            _tag: "StageFailed",
            stage: "build",
            reason: "InvalidCELExpression",
            message: "bad",
            terminal: true,
          },
        ],
        5,
      ),
    )
    expect(stalled.conditions?.map((c) => [c.type, c.status])).toEqual([
      ["Ready", "False"],
      ["Stalled", "True"],
    ])
    expect(stalled.observedGeneration).toBe(3)
  })

  it("keeps lastTransitionTime while a condition's status does not change, so a repeat success writes nothing", () => {
    const run = (offset: number): Recorded[] =>
      recordAll(
        [
          { _tag: "ReconcileStarted", generation: 1 },
          { _tag: "Succeeded", message: "ok" },
        ],
        offset,
      )
    const first = project({}, run(0))
    const second = project(first, run(10))
    expect(statusEquals(first, second)).toBe(true)
  })

  it("records the requestedAt it handled", () => {
    const s = project(
      {},
      recordAll([{ _tag: "ReconcileStarted", generation: 1, requestedAt: "2026-11-27T10:00:00Z" }]),
    )
    expect(s.lastHandledReconcileAt).toBe("2026-11-27T10:00:00Z")
  })
})
