import { describe, expect, it } from "@effect/vitest"
import { countByAction, hasChanges, summarize, toChanges } from "./change-set.ts"

const ref = (kind: string, name: string, namespace = "", group = "") => ({
  group,
  version: "v1",
  kind,
  name,
  namespace,
})

describe("change set", () => {
  it("summarizes only what changed, one Flux-style line per object in apply order", () => {
    const cs = [
      { ref: ref("Deployment", "web", "app", "apps"), action: "configured" as const },
      { ref: ref("ConfigMap", "cfg", "app"), action: "unchanged" as const },
      { ref: ref("Namespace", "app"), action: "created" as const },
      { ref: ref("Secret", "old", "app"), action: "deleted" as const },
      { ref: ref("Secret", "kept", "app"), action: "skipped" as const },
    ]
    expect(summarize(cs)).toBe("Namespace/app created\nSecret/app/old deleted\nDeployment/app/web configured")
    expect(hasChanges(cs)).toBe(true)
    expect(toChanges(cs)[0]).toEqual({ subject: "Deployment/app/web", action: "configured" })
    expect(countByAction(cs)).toEqual({ created: 1, configured: 1, unchanged: 1, skipped: 1, deleted: 1 })
  })

  it("reports no change for a set that was all unchanged or skipped", () => {
    const cs = [
      { ref: ref("ConfigMap", "cfg", "app"), action: "unchanged" as const },
      { ref: ref("Secret", "kept", "app"), action: "skipped" as const },
    ]
    expect(hasChanges(cs)).toBe(false)
    expect(summarize(cs)).toBe("")
  })
})
