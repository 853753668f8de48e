import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { parseAllDocuments } from "yaml"
import { renderAll } from "./app.ts"
import { defaultInstallOptions, names } from "./install.ts"

const root = join(import.meta.dirname, "..")
const files = renderAll(defaultInstallOptions)
const docs = (path: string) =>
  parseAllDocuments(files.get(path) ?? "").map((d) => d.toJS() as Record<string, unknown> & { kind: string })

/** Every node of a JSON tree with its path. */
const walk = function* (node: unknown, path = ""): Generator<[string, Record<string, unknown>]> {
  if (Array.isArray(node)) for (const [i, n] of node.entries()) yield* walk(n, `${path}[${i}]`)
  else if (typeof node === "object" && node !== null) {
    yield [path, node as Record<string, unknown>]
    for (const [k, v] of Object.entries(node)) yield* walk(v, `${path}.${k}`)
  }
}

describe("generated files", () => {
  it("are committed and up to date (run `npm run synth` when this fails)", () => {
    expect([...files.keys()].sort()).toEqual([
      "crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml",
      "crds/source.toolkit.fluxcd.io_gitrepositories.yaml",
      "dist/install.yaml",
    ])
    for (const [path, content] of files) {
      expect(readFileSync(join(root, path), "utf8"), `${path} is stale: run npm run synth`).toBe(content)
    }
  })

  it("CRD schemas are structural: no $ref, anyOf/oneOf/allOf, or additionalProperties beside properties", () => {
    for (const path of [...files.keys()].filter((p) => p.startsWith("crds/"))) {
      const [crd] = docs(path)
      for (const [at, node] of walk(crd)) {
        if (!at.includes("openAPIV3Schema")) continue
        for (const forbidden of ["$ref", "anyOf", "oneOf", "allOf", "$defs"]) {
          expect(node, `${path}${at}`).not.toHaveProperty(forbidden)
        }
        if (
          "properties" in node &&
          typeof node.properties === "object" &&
          at.endsWith("properties") === false
        ) {
          expect(node, `${path}${at}`).not.toHaveProperty("additionalProperties")
        }
      }
    }
  })

  it("install.yaml holds the CRDs and the controller's objects in apply order", () => {
    const kinds = docs("dist/install.yaml").map((d) => d.kind)
    expect(kinds.slice(0, 3)).toEqual(["CustomResourceDefinition", "CustomResourceDefinition", "Namespace"])
    expect(new Set(kinds)).toEqual(
      new Set([
        "CustomResourceDefinition",
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
      ]),
    )
  })

  it("takes image and namespace as parameters", () => {
    const custom = renderAll({ namespace: "gitops", image: "registry.local/kustodian:test" }).get(
      "dist/install.yaml",
    )
    expect(custom).toContain("image: registry.local/kustodian:test")
    expect(custom).toContain("namespace: gitops")
    expect(custom).not.toContain("kustodian-system")
  })

  it("the controller's ClusterRole grants no wildcards and no writes to Secrets or ConfigMaps", () => {
    type Rule = { apiGroups: Array<string>; resources: Array<string>; verbs: Array<string> }
    const role = docs("dist/install.yaml").find(
      (d) => d.kind === "ClusterRole" && (d.metadata as { name: string }).name === names.controllerRole,
    ) as unknown as { rules: Array<Rule> }
    expect(role).toBeDefined()
    for (const rule of role.rules) {
      expect([...rule.apiGroups, ...rule.resources, ...rule.verbs]).not.toContain("*")
      if (rule.resources.some((r) => r === "secrets" || r === "configmaps")) {
        expect(rule.verbs.sort()).toEqual(["get", "list", "watch"])
      }
      expect(rule.verbs).not.toContain("delete")
    }
  })

  it("aggregates view and edit rights on both kinds into the built-in user roles", () => {
    const roles = docs("dist/install.yaml").filter((d) => d.kind === "ClusterRole") as unknown as Array<{
      metadata: { name: string; labels: Record<string, string> }
      rules: Array<{ verbs: Array<string>; resources: Array<string> }>
    }>
    const view = roles.find((r) => r.metadata.name === names.viewRole)
    const edit = roles.find((r) => r.metadata.name === names.editRole)
    expect(view?.metadata.labels["rbac.authorization.k8s.io/aggregate-to-view"]).toBe("true")
    expect(edit?.metadata.labels["rbac.authorization.k8s.io/aggregate-to-edit"]).toBe("true")
    expect(edit?.metadata.labels).not.toHaveProperty("rbac.authorization.k8s.io/aggregate-to-view")
    expect(view?.rules.flatMap((r) => r.verbs)).not.toContain("delete")
    expect(view?.rules.flatMap((r) => r.resources)).toEqual(["gitrepositories", "kustomizations"])
  })
})
