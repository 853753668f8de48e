import { describe, expect, it } from "@effect/vitest"
import { toChanges } from "./change-set.ts"

const ref = (kind: string, name: string, namespace = "", group = "") => ({
  group,
  version: "v1",
  kind,
  name,
  namespace,
})

describe("change set", () => {
  it("names each object as Flux's change-set Events do: Kind/namespace/name, or Kind/name when cluster-scoped", () => {
    const cs = [
      { ref: ref("Deployment", "web", "app", "apps"), action: "configured" as const },
      { ref: ref("Namespace", "app"), action: "created" as const },
      { ref: ref("Secret", "old", "app"), action: "deleted" as const },
    ]
    expect(toChanges(cs)).toEqual([
      { subject: "Deployment/app/web", action: "configured" },
      { subject: "Namespace/app", action: "created" },
      { subject: "Secret/app/old", action: "deleted" },
    ])
  })
})
