import { describe, expect, it } from "@effect/vitest"
import { normalize } from "./normalize.ts"

const dig = (v: unknown, ...path: Array<string | number>): unknown =>
  path.reduce<unknown>((o, k) => (o as Record<string | number, unknown> | undefined)?.[k], v)

describe("normalize", () => {
  it("folds stringData into data and drops status and creationTimestamp", () => {
    const out = normalize({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s", namespace: "a", creationTimestamp: null },
      data: { a: "YQ==" },
      stringData: { b: "bee" },
      status: {},
    })
    expect(out).toEqual({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s", namespace: "a" },
      data: { a: "YQ==", b: "YmVl" },
    })
  })

  it("defaults port protocols in pod templates, CronJobs and Services", () => {
    const container = {
      name: "c",
      image: "i",
      ports: [{ containerPort: 80 }, { containerPort: 53, protocol: "UDP" }],
    }
    const dep = normalize({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "d", namespace: "a" },
      spec: { template: { spec: { containers: [container] } } },
    })
    expect(dig(dep.spec, "template", "spec", "containers", 0, "ports")).toEqual([
      { containerPort: 80, protocol: "TCP" },
      { containerPort: 53, protocol: "UDP" },
    ])
    const cron = normalize({
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { name: "c", namespace: "a" },
      spec: { jobTemplate: { spec: { template: { spec: { initContainers: [container] } } } } },
    })
    expect(
      dig(cron.spec, "jobTemplate", "spec", "template", "spec", "initContainers", 0, "ports", 0, "protocol"),
    ).toBe("TCP")
    const svc = normalize({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "s", namespace: "a" },
      spec: { ports: [{ port: 80 }] },
    })
    expect(dig(svc.spec, "ports")).toEqual([{ port: 80, protocol: "TCP" }])
  })
})
