/**
 * Kustodian's CRDs (crds/, generated from model/) against the CRDs of Flux's v1.9.5 controllers (from the module
 * zips scripts/tools.sh builds them from): the same served versions, names, printer columns and schema — every
 * property path with its type, format and enum. That is what makes step 4 of README "Migrating from Flux"
 * (Kustodian's CRDs applied over Flux's) safe: the API server prunes a stored field its new schema lacks.
 */
import { readFileSync } from "node:fs"
import { basename, join } from "node:path"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"
import { fluxCrdFiles } from "./support/flux-controllers.ts"
import { repoRoot } from "./support/tools.ts"

interface Schema {
  readonly type?: string
  readonly format?: string
  readonly enum?: ReadonlyArray<unknown>
  readonly properties?: Readonly<Record<string, Schema>>
  readonly items?: Schema
  readonly additionalProperties?: Schema | boolean
  readonly "x-kubernetes-preserve-unknown-fields"?: boolean
}

interface Crd {
  readonly spec: {
    readonly names: Readonly<Record<string, unknown>>
    readonly scope: string
    readonly versions: ReadonlyArray<{
      readonly name: string
      readonly served: boolean
      readonly storage: boolean
      readonly subresources?: unknown
      readonly additionalPrinterColumns?: ReadonlyArray<Readonly<Record<string, unknown>>>
      readonly schema: { readonly openAPIV3Schema: Schema }
    }>
  }
}

/** Every property path of a schema (`.spec.ref.branch`, `.status.conditions[].type`) with what constrains it. */
const shape = (schema: Schema, at = "", out = new Map<string, string>()): Map<string, string> => {
  const { type, format, enum: values } = schema
  const preserve = schema["x-kubernetes-preserve-unknown-fields"] === true
  out.set(at || ".", JSON.stringify({ type, format, enum: values, preserve }))
  for (const [name, child] of Object.entries(schema.properties ?? {})) shape(child, `${at}.${name}`, out)
  if (schema.items !== undefined) shape(schema.items, `${at}[]`, out)
  if (typeof schema.additionalProperties === "object") shape(schema.additionalProperties, `${at}{}`, out)
  return out
}

const served = [
  "source.toolkit.fluxcd.io_gitrepositories.yaml",
  "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
]

describe("Kustodian's CRDs and Flux v1.9.5's", () => {
  for (const file of served) {
    it(`${file}: the same versions, names, printer columns and schema`, () => {
      const flux = fluxCrdFiles().find((f) => basename(f) === file)
      expect(flux, `${file} among Flux's CRDs`).toBeDefined()
      const theirs = parse(readFileSync(flux as string, "utf8")) as Crd
      const ours = parse(readFileSync(join(repoRoot, "crds", file), "utf8")) as Crd
      expect(ours.spec.scope).toBe(theirs.spec.scope)
      expect(ours.spec.names).toEqual(theirs.spec.names)
      expect(ours.spec.versions.map((v) => [v.name, v.served, v.storage])).toEqual(
        theirs.spec.versions.map((v) => [v.name, v.served, v.storage]),
      )
      for (const [i, version] of theirs.spec.versions.entries()) {
        const mine = ours.spec.versions[i]!
        expect(mine.subresources).toEqual(version.subresources)
        const columns = (v: typeof version) =>
          (v.additionalPrinterColumns ?? []).map((c) => [c.name, c.type, c.jsonPath])
        expect(columns(mine)).toEqual(columns(version))
        const [a, b] = [shape(mine.schema.openAPIV3Schema), shape(version.schema.openAPIV3Schema)]
        expect(a.size).toBeGreaterThan(50)
        expect(Object.fromEntries(a)).toEqual(Object.fromEntries(b))
      }
    })
  }
})
