/**
 * fast-check arbitraries of domain events, for property tests of the projection (unit and against the
 * API server). Includes invalid reasons and condition types on purpose: the projection must cope.
 */
import * as fc from "fast-check"
import { Reason } from "./condition.ts"
import type { DomainEvent } from "./events.ts"

const reasonArb = fc.oneof(
  fc.constantFrom(
    Reason.BuildFailed,
    Reason.ArtifactFailed,
    Reason.ReconciliationFailed,
    Reason.HealthCheckFailed,
  ),
  // Stages may hand over anything; the projection must still produce a valid reason.
  fc.string({ maxLength: 20 }),
)
const digestArb = fc.constantFrom(
  "sha256:aa",
  "sha256:bb",
  "sha256:cc",
  "sha256:dd",
  "sha256:ee",
  "sha256:ff",
  "sha256:11",
)
const revisionArb = fc.constantFrom("main@sha1:0123", "main@sha1:4567", "v1.0.0@sha1:89ab")

export const eventArb: fc.Arbitrary<DomainEvent> = fc.oneof(
  fc.record({
    _tag: fc.constant("ReconcileStarted" as const),
    generation: fc.integer({ min: 1, max: 50 }),
    requestedAt: fc.option(fc.constantFrom("a", "2026-01-01T00:00:00Z"), { nil: undefined }),
  }),
  fc.record({
    _tag: fc.constant("Progressed" as const),
    stage: fc.constant("build"),
    message: fc.string({ maxLength: 40 }),
  }),
  fc.record({ _tag: fc.constant("ArtifactFetched" as const), revision: revisionArb }),
  fc.record({ _tag: fc.constant("Built" as const), digest: digestArb, objects: fc.nat(10) }),
  fc.record({
    _tag: fc.constant("HealthChecked" as const),
    healthy: fc.boolean(),
    reason: reasonArb,
    message: fc.string({ maxLength: 40 }),
  }),
  fc.record({
    _tag: fc.constant("ConditionSet" as const),
    type: fc.constantFrom("ArtifactInStorage", "Ready", "not a type!"),
    status: fc.constantFrom("True" as const, "False" as const, "Unknown" as const),
    reason: reasonArb,
    message: fc.string({ maxLength: 40 }),
  }),
  fc.record({
    _tag: fc.constant("StageFailed" as const),
    stage: fc.constantFrom("fetch", "build", "apply"),
    reason: reasonArb,
    message: fc.string({ maxLength: 60 }),
    terminal: fc.boolean(),
    durationMs: fc.nat(100_000),
  }),
  fc.record({
    _tag: fc.constant("Succeeded" as const),
    message: fc.string({ maxLength: 60 }),
    revision: fc.option(revisionArb, { nil: undefined }),
    durationMs: fc.nat(100_000),
  }),
)
