import { describe, expect, it } from "@effect/vitest"
import type { KubeObject } from "../../kube/object.ts"
import { compileIgnoreRules, IgnoreRuleError, ignoredPaths, ignoreLimits } from "./ignore-rules.ts"
import { formatPointer, getAt, parsePointer, removeAt, setAt } from "./json-pointer.ts"
import { parseLabelSelector } from "./label-selector.ts"

const deployment = (name: string, labels: Record<string, string> = {}, namespace = "apps"): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name, namespace, labels, annotations: { "team.example.com/owner": "a" } },
  spec: { replicas: 2 },
})

const pointer = (text: string) => {
  const p = parsePointer(text)
  if (!p.ok) throw new Error(p.reason)
  return p.pointer
}

describe("JSON pointers (RFC 6901)", () => {
  it("parses ~0 and ~1 escapes, in that order, and writes them back", () => {
    expect(pointer("/metadata/annotations/external-dns.alpha.kubernetes.io~1hostname")).toEqual([
      "metadata",
      "annotations",
      "external-dns.alpha.kubernetes.io/hostname",
    ])
    expect(pointer("/a~01")).toEqual(["a~1"])
    expect(pointer("/")).toEqual([""])
    expect(formatPointer(["a/b", "c~d"])).toBe("/a~1b/c~0d")
  })

  it("refuses pointers without a leading slash and bare tildes", () => {
    expect(parsePointer("spec/replicas")).toMatchObject({ ok: false })
    expect(parsePointer("/a~2b")).toMatchObject({ ok: false })
    expect(parsePointer("/a~")).toMatchObject({ ok: false })
  })

  it("reads, removes and sets through objects and list indices, missing paths left alone", () => {
    const doc = { spec: { containers: [{ name: "a", image: "x" }, { name: "b" }] } }
    expect(getAt(doc, pointer("/spec/containers/1/name"))).toEqual({ found: true, value: "b" })
    expect(getAt(doc, pointer("/spec/containers/2")).found).toBe(false)
    expect(getAt(doc, pointer("/spec/containers/-1")).found).toBe(false)
    expect(getAt(doc, pointer("/spec/containers/0/image/x")).found).toBe(false)
    expect(removeAt(doc, pointer("/spec/containers/0/image"))).toEqual({
      spec: { containers: [{ name: "a" }, { name: "b" }] },
    })
    expect(removeAt(doc, pointer("/spec/containers/0"))).toEqual({ spec: { containers: [{ name: "b" }] } })
    expect(removeAt(doc, pointer("/spec/missing/x"))).toBe(doc)
    expect(removeAt(doc, pointer("/spec/containers/5"))).toBe(doc)
    expect(doc.spec.containers).toHaveLength(2)
    expect(setAt(doc, pointer("/spec/containers/1/image"), "y")).toEqual({
      spec: {
        containers: [
          { name: "a", image: "x" },
          { name: "b", image: "y" },
        ],
      },
    })
    expect(setAt({}, pointer("/metadata/annotations/k"), "v")).toEqual({
      metadata: { annotations: { k: "v" } },
    })
    expect(setAt(doc, pointer("/spec/containers/3/image"), "y")).toBeUndefined()
    expect(setAt({}, pointer("/spec/list/0"), "y")).toBeUndefined()
  })
})

describe("label selectors", () => {
  const matches = (selector: string, labels: Record<string, string>) => {
    const s = parseLabelSelector(selector)
    if (!s.ok) throw new Error(s.reason)
    return s.match(labels)
  }
  it("matches equality, sets, existence and integer comparisons as Kubernetes does", () => {
    expect(matches("app=web", { app: "web" })).toBe(true)
    expect(matches("app==web,tier", { app: "web" })).toBe(false)
    expect(matches("app!=web", {})).toBe(true)
    expect(matches("env in (prod, staging)", { env: "staging" })).toBe(true)
    expect(matches("env notin (prod)", {})).toBe(true)
    expect(matches("env notin (prod)", { env: "prod" })).toBe(false)
    expect(matches("!canary", { canary: "" })).toBe(false)
    expect(matches("example.com/tier", { "example.com/tier": "x" })).toBe(true)
    expect(matches("replicas>2", { replicas: "3" })).toBe(true)
    expect(matches("replicas<2", { replicas: "x" })).toBe(false)
    expect(matches("", {})).toBe(true)
  })
  it("refuses malformed expressions", () => {
    for (const bad of ["app=", "app in ()", "a b", "env in (a", "Bad_Prefix/x=1", "x>a", "app=a b"])
      expect(parseLabelSelector(bad).ok, bad).toBe(bad === "app=")
  })
})

describe("spec.ignore rules", () => {
  it("apply to every object without a target, and to matching objects with one (anchored regexes, selectors)", () => {
    const rules = compileIgnoreRules([
      { paths: ["/spec/replicas"] },
      { paths: ["/metadata/annotations/x"], target: { kind: "Deploy", name: "web-.*" } },
      { paths: ["/spec/a"], target: { kind: "Deployment", name: "web-.*", namespace: "apps" } },
      { paths: ["/spec/b"], target: { group: "apps", version: "v1", labelSelector: "tier in (front)" } },
      { paths: ["/spec/c"], target: { annotationSelector: "team.example.com/owner=a" } },
      { paths: ["/spec/d"], target: { group: "" } },
    ])
    if (rules instanceof IgnoreRuleError) throw rules
    const show = (o: KubeObject) => ignoredPaths(rules, o).map(formatPointer)
    expect(show(deployment("web-1", { tier: "front" }))).toEqual([
      "/spec/replicas",
      "/spec/a",
      "/spec/b",
      "/spec/c",
      "/spec/d",
    ])
    expect(show(deployment("api", { tier: "back" }, "other"))).toEqual([
      "/spec/replicas",
      "/spec/c",
      "/spec/d",
    ])
    expect(show(deployment("xweb-1"))).toEqual(["/spec/replicas", "/spec/c", "/spec/d"])
  })

  it("every untargeted rule counts (Flux keys compiled rules by selector, so its last untargeted rule wins)", () => {
    const rules = compileIgnoreRules([{ paths: ["/spec/a"] }, { paths: ["/spec/b"] }])
    if (rules instanceof IgnoreRuleError) throw rules
    expect(ignoredPaths(rules, deployment("web")).map(formatPointer)).toEqual(["/spec/a", "/spec/b"])
  })

  it("name the malformed field: pointer, regex, selector, empty pointer", () => {
    const cases = [
      [[{ paths: ["/spec/replicas", "spec/x"] }], "spec.ignore[0].paths[1]"],
      [[{ paths: ["/ok"] }, { paths: ["/a~2"] }], "spec.ignore[1].paths[0]"],
      [[{ paths: [""] }], "spec.ignore[0].paths[0]"],
      [[{ paths: [] }], "spec.ignore[0].paths"],
      [[{ paths: ["/a"], target: { name: "web-(" } }], "spec.ignore[0].target.name"],
      [[{ paths: ["/a"], target: { labelSelector: "a in (" } }], "spec.ignore[0].target.labelSelector"],
      [
        [{ paths: ["/a"], target: { annotationSelector: "==x" } }],
        "spec.ignore[0].target.annotationSelector",
      ],
    ] as const
    for (const [rules, field] of cases) {
      const r = compileIgnoreRules(rules)
      expect(r, field).toBeInstanceOf(IgnoreRuleError)
      expect((r as IgnoreRuleError).field).toBe(field)
    }
  })

  it("are bounded: rules, paths per rule, all paths, pointer length", () => {
    const many = (n: number, paths = 1) =>
      Array.from({ length: n }, () => ({ paths: Array(paths).fill("/a") }))
    expect(compileIgnoreRules(many(ignoreLimits.rules + 1))).toMatchObject({ field: "spec.ignore" })
    expect(compileIgnoreRules(many(1, ignoreLimits.pathsPerRule + 1))).toMatchObject({
      field: "spec.ignore[0].paths",
    })
    expect(compileIgnoreRules(many(8, 40))).toMatchObject({ field: "spec.ignore" })
    expect(compileIgnoreRules([{ paths: [`/${"a".repeat(ignoreLimits.pointerLength)}`] }])).toMatchObject({
      field: "spec.ignore[0].paths[0]",
    })
    expect(compileIgnoreRules(many(ignoreLimits.rules))).not.toBeInstanceOf(IgnoreRuleError)
  })
})
