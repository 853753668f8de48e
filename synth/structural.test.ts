import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { celRule } from "../model/cel.ts"
import { withDefault } from "../model/defaults.ts"
import { StructuralSchemaError, toStructural } from "./structural.ts"

const structural = (schema: Schema.Top) => toStructural(Schema.toJsonSchemaDocument(schema))

describe("toStructural", () => {
  it("inlines named schemas instead of $ref", () => {
    const Ref = Schema.Struct({ name: Schema.String }).annotate({ identifier: "Ref" })
    const out = structural(Schema.Struct({ a: Ref, b: Schema.optionalKey(Ref) }))
    expect(JSON.stringify(out)).not.toContain("$ref")
    expect(out.properties).toMatchObject({
      a: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
      b: { type: "object", properties: { name: { type: "string" } } },
    })
  })

  it("drops additionalProperties beside properties, keeps typed maps", () => {
    const out = structural(
      Schema.Struct({ labels: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)) }),
    )
    expect(out).not.toHaveProperty("additionalProperties")
    expect(out.properties).toEqual({ labels: { type: "object", additionalProperties: { type: "string" } } })
  })

  it("turns a nullable union into nullable: true", () => {
    const out = structural(Schema.Struct({ a: Schema.NullOr(Schema.String) }))
    expect(out.properties).toEqual({ a: { type: "string", nullable: true } })
  })

  it("emits patterns, bounds, enums and defaults", () => {
    const out = structural(
      Schema.Struct({
        d: Schema.String.pipe(Schema.check(Schema.isPattern(/^[0-9]+s$/u), Schema.isMaxLength(10))),
        e: Schema.Literals(["a", "b"]).pipe(withDefault<Schema.Literals<readonly ["a", "b"]>>("a")),
      }),
    )
    expect(out.properties).toEqual({
      d: { type: "string", pattern: "^[0-9]+s$", maxLength: 10 },
      e: { type: "string", default: "a", enum: ["a", "b"] },
    })
    expect(out.required).toEqual(["d"])
  })

  it("drops the safe-integer bounds of Schema.Int and marks it int64", () => {
    const out = structural(
      Schema.Struct({ n: Schema.Int, m: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)) }),
    )
    expect(out.properties).toEqual({
      n: { type: "integer", format: "int64" },
      m: { type: "integer", format: "int64", minimum: 0 },
    })
  })

  it("drops an empty required list", () => {
    const out = structural(Schema.Struct({ a: Schema.optionalKey(Schema.String) }))
    expect(out).not.toHaveProperty("required")
  })

  it("marks untyped values as preserving unknown fields", () => {
    const out = structural(Schema.Struct({ value: Schema.Unknown }))
    expect(out.properties).toEqual({ value: { "x-kubernetes-preserve-unknown-fields": true } })
  })

  it("collects CEL rules from checks into x-kubernetes-validations", () => {
    type AB = { readonly a?: string; readonly b?: string }
    const S = Schema.Struct({
      a: Schema.optionalKey(Schema.String),
      b: Schema.optionalKey(Schema.String),
    }).pipe(
      Schema.check(
        celRule<AB>({ rule: "has(self.a) || has(self.b)", message: "one of a, b", test: () => true }),
        celRule<AB>({ rule: "!has(self.a) || !has(self.b)", message: "not both", test: () => true }),
      ),
    )
    expect(structural(S)["x-kubernetes-validations"]).toEqual([
      { rule: "has(self.a) || has(self.b)", message: "one of a, b" },
      { rule: "!has(self.a) || !has(self.b)", message: "not both" },
    ])
  })

  it("refuses unions the API server cannot express, naming the path", () => {
    const S = Schema.Struct({ spec: Schema.Struct({ x: Schema.Union([Schema.String, Schema.Number]) }) })
    expect(() => structural(S)).toThrow(StructuralSchemaError)
    expect(() => structural(S)).toThrow(/spec\.x/)
  })
})
