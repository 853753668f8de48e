import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { eventArb } from "./events.arbitrary.ts"
import type { DomainEvent, Recorded } from "./events.ts"
import {
  appendReconcile,
  defaultJournalLimits,
  emptyJournal,
  historyLines,
  type JournalLimits,
  type JournalState,
  journalBytes,
  replay,
} from "./journal.ts"
import { project, type ReconcileStatus, statusEquals } from "./projection.ts"

const at = (s: number) =>
  new Date(Date.UTC(2026, 11, 7, 12, 0, 0) + s * 1000).toISOString().replace(/\.\d+Z$/, "Z")

/** A reconcile: ReconcileStarted and what followed; `repeat` > 0 runs it again later, with other durations. */
const reconcileArb = fc.record({
  generation: fc.integer({ min: 1, max: 4 }),
  events: fc.array(
    eventArb.filter((e) => e._tag !== "ReconcileStarted"),
    { maxLength: 8 },
  ),
  repeat: fc.nat(4),
  durations: fc.array(fc.nat(100_000), { minLength: 5, maxLength: 5 }),
  // `flux reconcile`: each occurrence may answer another requestedAt, or none.
  requested: fc.array(fc.option(fc.constantFrom("r1", "r2", "r3"), { nil: undefined }), {
    minLength: 5,
    maxLength: 5,
  }),
})

type Reconcile = ReadonlyArray<Recorded>

/** The reconciles in time order, each event one second after the one before. */
type Spec = typeof reconcileArb extends fc.Arbitrary<infer T> ? T : never

const timeline = (specs: ReadonlyArray<Spec>): Reconcile[] => {
  let clock = 0
  const out: Reconcile[] = []
  for (const spec of specs) {
    for (let r = 0; r <= spec.repeat; r++) {
      const requestedAt = spec.requested[r]
      const events: DomainEvent[] = [
        { _tag: "ReconcileStarted", generation: spec.generation, ...(requestedAt ? { requestedAt } : {}) },
        ...spec.events,
      ]
      out.push(
        events.map((event) => ({
          at: at(clock++),
          event: "durationMs" in event ? ({ ...event, durationMs: spec.durations[r] } as DomainEvent) : event,
        })),
      )
      clock += 60
    }
  }
  return out
}

const specsArb = fc.array(reconcileArb, { maxLength: 12 })

const live = (initial: ReconcileStatus, reconciles: ReadonlyArray<Reconcile>) =>
  reconciles.reduce<ReconcileStatus>((s, r) => project(s, r), initial)

const journalOf = (
  initial: ReconcileStatus,
  reconciles: ReadonlyArray<Reconcile>,
  limits?: JournalLimits,
) => {
  let state: JournalState = emptyJournal(initial)
  let status = initial
  let writes = 0
  for (const r of reconciles) {
    const appended = appendReconcile(state, status, r, limits)
    state = appended.state
    status = appended.status
    if (appended.changed) writes++
  }
  return { state, status, writes }
}

const small: JournalLimits = { maxRecords: 3, maxBytes: 4096, maxCount: 3 }

describe("journal", () => {
  it("replays to the live status, with and without compaction", () => {
    let collapsed = 0
    fc.assert(
      fc.property(specsArb, fc.boolean(), (specs, compacting) => {
        const reconciles = timeline(specs)
        const { state, status } = journalOf({}, reconciles, compacting ? small : defaultJournalLimits)
        const expected = live({}, reconciles)
        expect(statusEquals(status, expected)).toBe(true)
        expect(replay(state)).toEqual(expected)
        collapsed += state.records.filter((r) => r.count > 1).length
      }),
      { numRuns: 300 },
    )
    // The runs exercised collapsed records, not only single ones.
    expect(collapsed).toBeGreaterThan(20)
  })

  it("replaying any prefix of the journal and continuing live gives the live status", () => {
    fc.assert(
      fc.property(specsArb, fc.nat(), fc.boolean(), (specs, cut, compacting) => {
        const reconciles = timeline(specs)
        const k = reconciles.length === 0 ? 0 : cut % (reconciles.length + 1)
        const { state } = journalOf({}, reconciles.slice(0, k), compacting ? small : defaultJournalLimits)
        // A restart after k reconciles: the status comes from the journal, the rest runs live.
        const resumed = live(replay(state), reconciles.slice(k))
        expect(resumed).toEqual(live({}, reconciles))
        // And the journal keeps going from there as if nothing had happened.
        let s = state
        let st = replay(state)
        for (const r of reconciles.slice(k)) ({ state: s, status: st } = appendReconcile(s, st, r))
        expect(replay(s)).toEqual(live({}, reconciles))
      }),
      { numRuns: 300 },
    )
  })

  it("stays within its caps: the oldest records fold into the snapshot", () => {
    fc.assert(
      fc.property(specsArb, (specs) => {
        const { state } = journalOf({}, timeline(specs), small)
        expect(state.records.length).toBeLessThanOrEqual(small.maxRecords)
        // Only the newest record may be over the byte cap on its own.
        if (state.records.length > 1) expect(journalBytes(state)).toBeLessThanOrEqual(small.maxBytes)
        for (const r of state.records) expect(r.count).toBeLessThanOrEqual(small.maxCount)
        const seqs = state.records.map((r) => r.seq)
        expect([...seqs].sort((a, b) => a - b)).toEqual(seqs)
      }),
    )
  })

  const noChange = (t: number, ms: number): Reconcile => [
    { at: at(t), event: { _tag: "ReconcileStarted", generation: 2 } },
    { at: at(t), event: { _tag: "ArtifactFetched", revision: "main@sha1:abc" } },
    { at: at(t), event: { _tag: "Built", digest: "sha256:aa", objects: 2 } },
    {
      at: at(t),
      event: {
        _tag: "Applied",
        changes: [
          { subject: "Secret/default/basic-auth", action: "unchanged" },
          { subject: "ConfigMap/default/c", action: "unchanged" },
        ],
      },
    },
    {
      at: at(t + 1),
      event: { _tag: "Succeeded", message: "Applied revision: main@sha1:abc", durationMs: ms },
    },
  ]

  it("collapses identical no-change reconciles into one record: no write, a count and first/last time", () => {
    const first: Reconcile = noChange(0, 900).map((e) =>
      e.event._tag === "Applied"
        ? {
            ...e,
            event: {
              _tag: "Applied",
              changes: [{ subject: "Secret/default/basic-auth", action: "created" }],
            },
          }
        : e,
    )
    const reconciles = [
      first,
      noChange(600, 120),
      noChange(1200, 130),
      noChange(1800, 110),
      noChange(2400, 140),
    ]
    const { state, writes } = journalOf({}, reconciles)
    // The first reconcile and the first no-change one (Ready's message is new) are records; the rest count.
    expect(writes).toBe(2)
    expect(state.records.map((r) => r.count)).toEqual([1, 4])
    const lines = historyLines(state)
    expect(lines[0]).toMatchObject({
      created: 1,
      configured: 0,
      revision: "main@sha1:abc",
      outcome: "Succeeded",
    })
    expect(lines[1]).toMatchObject({ count: 4, firstAt: at(600), lastAt: at(2400), created: 0, unchanged: 2 })
    // Change sets keep what changed only; unchanged objects are counted.
    expect(JSON.stringify(state)).not.toContain("ConfigMap/default/c")
    const status = replay(state)
    expect(status.history?.[0]).toMatchObject({ totalReconciliations: 5, lastReconciledDuration: "140ms" })
    expect(status).toEqual(live({}, reconciles))
  })

  it("adopts the object's status as the snapshot of a new journal", () => {
    const adopted: ReconcileStatus = { observedGeneration: 1, lastAppliedRevision: "main@sha1:0" }
    expect(replay(emptyJournal(adopted))).toEqual(adopted)
  })
})
