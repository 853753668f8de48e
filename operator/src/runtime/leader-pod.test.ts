import { describe, expect, it } from "@effect/vitest"
import type { KubeObject } from "../kube/object.ts"
import { isMarked, leaderLabel, leaderLeaseAnnotation, leaderPatch, staleLeaders } from "./leader-pod.ts"

const pod = (
  name: string,
  labels?: Record<string, string>,
  annotations?: Record<string, string>,
): KubeObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name,
    namespace: "kustodian-system",
    ...(labels ? { labels } : {}),
    ...(annotations ? { annotations } : {}),
  },
})

const marked = (name: string, lease: string) =>
  pod(name, { app: "kustodian", [leaderLabel]: "true" }, { [leaderLeaseAnnotation]: lease })

describe("the leader's Pod mark", () => {
  it("marks with the label and the Lease's name, and unmarks by deleting both (JSON merge patch nulls)", () => {
    expect(leaderPatch(true, "kustodian-leader")).toEqual({
      metadata: {
        labels: { "kustodian.io/leader": "true" },
        annotations: { "kustodian.io/leader-lease": "kustodian-leader" },
      },
    })
    expect(leaderPatch(false, "kustodian-leader")).toEqual({
      metadata: {
        labels: { "kustodian.io/leader": null },
        annotations: { "kustodian.io/leader-lease": null },
      },
    })
  })

  it("a Pod is marked only with the label set to true and the same Lease", () => {
    expect(isMarked(marked("a", "l1"), "l1")).toBe(true)
    expect(isMarked(marked("a", "l1"), "l2")).toBe(false)
    expect(isMarked(pod("a", { [leaderLabel]: "false" }, { [leaderLeaseAnnotation]: "l1" }), "l1")).toBe(
      false,
    )
    expect(isMarked(pod("a", { [leaderLabel]: "true" }), "l1")).toBe(false)
    expect(isMarked(pod("a"), "l1")).toBe(false)
  })

  it("a new leader unmarks the other Pods marked for its Lease, never itself, another shard's or an unannotated one", () => {
    const pods = [
      marked("self", "l1"),
      marked("old-leader", "l1"),
      marked("older-leader", "l1"),
      marked("shard-2-leader", "l2"),
      pod("labelled-by-hand", { [leaderLabel]: "true" }),
      pod("standby", { app: "kustodian" }),
    ]
    expect(staleLeaders(pods, "self", "l1")).toEqual(["old-leader", "older-leader"])
    expect(staleLeaders(pods, "shard-2-leader", "l2")).toEqual([])
    expect(staleLeaders([], "self", "l1")).toEqual([])
  })
})
