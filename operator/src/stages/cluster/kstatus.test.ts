import { describe, expect, it } from "@effect/vitest"
import type { KubeObject } from "../../kube/object.ts"
import { computeStatus } from "./kstatus.ts"

const deployment = (status: Record<string, unknown> | undefined, replicas = 2): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: "app", generation: 3 },
  spec: { replicas },
  ...(status ? { status } : {}),
})

const readyStatus = {
  observedGeneration: 3,
  replicas: 2,
  updatedReplicas: 2,
  readyReplicas: 2,
  availableReplicas: 2,
  conditions: [
    { type: "Available", status: "True" },
    { type: "Progressing", status: "True", reason: "NewReplicaSetAvailable" },
  ],
}

describe("kstatus", () => {
  it("judges Deployments by their rollout counters and conditions", () => {
    expect(computeStatus(deployment(undefined)).status).toBe("InProgress")
    expect(computeStatus(deployment(readyStatus)).status).toBe("Current")
    expect(computeStatus(deployment({ ...readyStatus, observedGeneration: 2 })).message).toMatch(
      /Generation 3/,
    )
    expect(computeStatus(deployment({ ...readyStatus, readyReplicas: 1 })).message).toBe("Ready: 1/2")
    expect(computeStatus(deployment({ ...readyStatus, updatedReplicas: 1 })).message).toBe("Updated: 1/2")
    expect(
      computeStatus(
        deployment({
          ...readyStatus,
          conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded" }],
        }),
      ).status,
    ).toBe("Failed")
    expect(computeStatus(deployment({ ...readyStatus, conditions: [] })).message).toBe(
      "ReplicaSet not Available",
    )
  })

  it("requires Jobs to complete and fails failed Jobs", () => {
    const job = (conditions: unknown[]): KubeObject => ({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "j", namespace: "a" },
      status: { conditions },
    })
    expect(computeStatus(job([])).status).toBe("InProgress")
    expect(computeStatus(job([{ type: "Complete", status: "True" }])).status).toBe("Current")
    expect(
      computeStatus(job([{ type: "Failed", status: "True", message: "BackoffLimitExceeded" }])).status,
    ).toBe("Failed")
  })

  it("knows Namespaces, CRDs, PVCs, Pods and Services", () => {
    const o = (apiVersion: string, kind: string, rest: Record<string, unknown>): KubeObject => ({
      apiVersion,
      kind,
      metadata: { name: "x" },
      ...rest,
    })
    expect(computeStatus(o("v1", "Namespace", { status: { phase: "Active" } })).status).toBe("Current")
    expect(computeStatus(o("v1", "Namespace", { status: { phase: "Terminating" } })).status).toBe(
      "Terminating",
    )
    const crd = (conditions: unknown[]) =>
      o("apiextensions.k8s.io/v1", "CustomResourceDefinition", { status: { conditions } })
    expect(computeStatus(crd([{ type: "Established", status: "True" }])).status).toBe("Current")
    expect(computeStatus(crd([])).status).toBe("InProgress")
    expect(computeStatus(crd([{ type: "NamesAccepted", status: "False", reason: "Conflict" }])).status).toBe(
      "Failed",
    )
    expect(computeStatus(o("v1", "PersistentVolumeClaim", { status: { phase: "Pending" } })).status).toBe(
      "InProgress",
    )
    expect(computeStatus(o("v1", "PersistentVolumeClaim", { status: { phase: "Bound" } })).status).toBe(
      "Current",
    )
    expect(computeStatus(o("v1", "Pod", { status: { phase: "Pending" } })).status).toBe("InProgress")
    expect(
      computeStatus(
        o("v1", "Pod", { status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] } }),
      ).status,
    ).toBe("Current")
    expect(computeStatus(o("v1", "Pod", { status: { phase: "Failed" } })).status).toBe("Failed")
    expect(computeStatus(o("v1", "Service", { spec: { type: "ClusterIP" } })).status).toBe("Current")
    expect(computeStatus(o("v1", "Service", { spec: { type: "LoadBalancer" }, status: {} })).status).toBe(
      "InProgress",
    )
  })

  it("judges StatefulSets and DaemonSets by their counters", () => {
    const sts = (status: Record<string, unknown>): KubeObject => ({
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: { name: "db", namespace: "a", generation: 1 },
      spec: { replicas: 3 },
      status: { observedGeneration: 1, ...status },
    })
    expect(computeStatus(sts({ replicas: 3, readyReplicas: 2 })).message).toBe("Ready: 2/3")
    expect(
      computeStatus(
        sts({
          replicas: 3,
          readyReplicas: 3,
          currentReplicas: 3,
          updatedReplicas: 3,
          currentRevision: "r1",
          updateRevision: "r1",
        }),
      ).status,
    ).toBe("Current")
    const ds = (status: Record<string, unknown>): KubeObject => ({
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "agent", namespace: "a", generation: 1 },
      status: { observedGeneration: 1, ...status },
    })
    expect(
      computeStatus(ds({ desiredNumberScheduled: 2, currentNumberScheduled: 2, updatedNumberScheduled: 1 }))
        .status,
    ).toBe("InProgress")
    expect(
      computeStatus(
        ds({
          desiredNumberScheduled: 2,
          currentNumberScheduled: 2,
          updatedNumberScheduled: 2,
          numberAvailable: 2,
          numberReady: 2,
        }),
      ).status,
    ).toBe("Current")
  })

  it("judges custom resources by Ready, Stalled, Reconciling and observedGeneration", () => {
    const cr = (status: Record<string, unknown> | undefined, deleting = false): KubeObject => ({
      apiVersion: "example.com/v1",
      kind: "Widget",
      metadata: {
        name: "w",
        namespace: "a",
        generation: 2,
        ...(deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}),
      },
      ...(status ? { status } : {}),
    })
    expect(computeStatus(cr(undefined)).status).toBe("Current")
    expect(
      computeStatus(cr({ observedGeneration: 2, conditions: [{ type: "Ready", status: "True" }] })).status,
    ).toBe("Current")
    expect(
      computeStatus(cr({ observedGeneration: 1, conditions: [{ type: "Ready", status: "True" }] })).status,
    ).toBe("InProgress")
    expect(
      computeStatus(cr({ conditions: [{ type: "Ready", status: "False", message: "waiting" }] })).message,
    ).toBe("waiting")
    expect(
      computeStatus(cr({ conditions: [{ type: "Stalled", status: "True", message: "bad spec" }] })).status,
    ).toBe("Failed")
    expect(computeStatus(cr(undefined, true)).status).toBe("Terminating")
    expect(computeStatus(undefined).status).toBe("NotFound")
  })
})
