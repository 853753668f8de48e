import { describe, expect, it } from "@effect/vitest"
import type { DomainEvent, Recorded } from "../../../model/events.ts"
import { project } from "../../../model/projection.ts"
import { announce } from "./announce.ts"

const rec = (events: DomainEvent[]): Recorded[] =>
  events.map((event) => ({ at: "2026-11-27T10:00:00Z", event }))

describe("announce", () => {
  it("reports change sets, failures as Warnings with the failure reason, and success only on recovery or a new revision", () => {
    const run = rec([
      { _tag: "ReconcileStarted", generation: 1 },
      { _tag: "ArtifactFetched", revision: "main@sha1:1" },
      {
        _tag: "Applied",
        changes: [
          { subject: "ConfigMap/default/a", action: "created" },
          { subject: "Service/default/b", action: "unchanged" },
        ],
      },
      { _tag: "Succeeded", message: "Applied revision: main@sha1:1", durationMs: 1500 },
    ])
    const after = project({}, run)
    expect(announce(run, {}, after, 600_000)).toEqual([
      { type: "Normal", reason: "Progressing", note: "ConfigMap/default/a created" },
      {
        type: "Normal",
        reason: "ReconciliationSucceeded",
        note: "Reconciliation finished in 1.5s, next run in 10m0s",
        commitStatus: true,
      },
    ])
    // The same revision again with nothing changed: silence (source-controller's rule) ...
    const again = rec([
      { _tag: "ReconcileStarted", generation: 1 },
      { _tag: "ArtifactFetched", revision: "main@sha1:1" },
      { _tag: "Succeeded", message: "Applied revision: main@sha1:1", durationMs: 40 },
    ])
    expect(announce(again, after, project(after, again), 600_000)).toEqual([])
    // ... or the success message once more (kustomize-controller's: every Ready reconcile).
    expect(announce(again, after, project(after, again), 600_000, "always")).toEqual([
      {
        type: "Normal",
        reason: "ReconciliationSucceeded",
        note: "Reconciliation finished in 40ms, next run in 10m0s",
        commitStatus: true,
      },
    ])

    const failed = rec([
      { _tag: "ReconcileStarted", generation: 1 },
      {
        _tag: "StageFailed",
        stage: "build",
        reason: "BuildFailed",
        message: "kustomize build failed",
        terminal: false,
      },
    ])
    expect(announce(failed, after, project(after, failed), 600_000)).toEqual([
      { type: "Warning", reason: "BuildFailed", note: "kustomize build failed" },
    ])
  })

  it("a dependency that is not ready is announced as Normal (Flux sends it as info), other failures as Warning", () => {
    const waiting = rec([
      { _tag: "ReconcileStarted", generation: 1 },
      {
        _tag: "StageFailed",
        stage: "dependencies",
        reason: "DependencyNotReady",
        message: "dependency 'apps/base' is not ready",
        terminal: false,
      },
    ])
    expect(announce(waiting, {}, project({}, waiting), 600_000)).toEqual([
      { type: "Normal", reason: "DependencyNotReady", note: "dependency 'apps/base' is not ready" },
    ])
  })

  it("a failure the controller announces in its own words, or not at all (the condition says it either way)", () => {
    const failure = (event: { type: "Normal" | "Warning"; note: string } | null) =>
      rec([
        { _tag: "ReconcileStarted", generation: 1 },
        {
          _tag: "StageFailed",
          stage: "fetch",
          reason: "ArtifactFailed",
          message: "Source artifact not found, retrying in 30s",
          terminal: false,
          event,
        },
      ])
    const quiet = failure(null)
    expect(announce(quiet, {}, project({}, quiet), 600_000)).toEqual([])
    expect(project({}, quiet).conditions?.find((c) => c.type === "Ready")?.message).toBe(
      "Source artifact not found, retrying in 30s",
    )
    const worded = failure({
      type: "Normal",
      note: "Dependencies do not meet ready condition, retrying in 30s",
    })
    expect(announce(worded, {}, project({}, worded), 600_000)).toEqual([
      {
        type: "Normal",
        reason: "ArtifactFailed",
        note: "Dependencies do not meet ready condition, retrying in 30s",
      },
    ])
  })
})
