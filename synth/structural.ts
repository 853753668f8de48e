/**
 * Turns the JSON Schema Effect generates from a model schema into a Kubernetes structural schema (the dialect
 * of a CRD's `openAPIV3Schema`).
 *
 * Use `toStructural(Schema.toJsonSchemaDocument(s))`. Rewrites: `$ref`s inlined; `allOf` members merged into
 * their node (CEL rules concatenated); `anyOf`/`oneOf` with `null` → `nullable: true`; unions of string enums
 * merged; `additionalProperties` dropped beside `properties`; empty `required` dropped; untyped nodes →
 * `x-kubernetes-preserve-unknown-fields`; the ±2^53 bounds of `Schema.Int` dropped and `format: int64` added.
 * Anything else the API server would reject throws a `StructuralSchemaError` naming the path.
 */
import { Data } from "effect"

/** A JSON Schema / OpenAPI node. */
export type JsonSchemaNode = { readonly [key: string]: unknown }

/** The shape of `Schema.toJsonSchemaDocument`'s result that this pass reads. */
export interface JsonSchemaDocument {
  readonly schema: JsonSchemaNode
  readonly definitions?: { readonly [name: string]: JsonSchemaNode }
}

/** A construct with no structural equivalent, found at `path`. */
export class StructuralSchemaError extends Data.TaggedError("StructuralSchemaError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot express ${this.path === "" ? "<root>" : this.path} as a structural schema: ${this.reason}`
  }
}

const maxSafe = Number.MAX_SAFE_INTEGER

/** Keywords a structural schema may carry, in the order they are emitted. */
const keywordOrder = [
  "description",
  "type",
  "format",
  "default",
  "nullable",
  "enum",
  "pattern",
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
  "minItems",
  "maxItems",
  "uniqueItems",
  "minProperties",
  "maxProperties",
  "items",
  "properties",
  "additionalProperties",
  "required",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-int-or-string",
  "x-kubernetes-embedded-resource",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-map-type",
  "x-kubernetes-validations",
] as const
const allowed = new Set<string>(keywordOrder)
/** Keywords dropped silently: documentation only, or already handled. */
const ignored = new Set(["title", "examples", "$schema", "$id", "$comment", "readOnly", "writeOnly"])

const isObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const join = (path: string, key: string) => (path === "" ? key : `${path}.${key}`)

/** Rewrites a JSON Schema document into a structural schema. Throws `StructuralSchemaError`. */
export const toStructural = (document: JsonSchemaDocument): JsonSchemaNode => {
  const definitions = document.definitions ?? {}

  const resolve = (
    node: JsonSchemaNode,
    path: string,
    seen: ReadonlyArray<string>,
  ): Record<string, unknown> => {
    const ref = node.$ref
    if (typeof ref !== "string") return { ...node }
    const name = decodeURIComponent(ref.replace(/^#\/(\$defs|definitions)\//u, "")).replaceAll("~1", "/")
    const target = definitions[name]
    if (target === undefined) throw new StructuralSchemaError({ path, reason: `unresolved $ref ${ref}` })
    if (seen.includes(name)) throw new StructuralSchemaError({ path, reason: `recursive $ref ${ref}` })
    const { $ref: _, ...rest } = node
    return { ...resolve(target, path, [...seen, name]), ...rest }
  }

  const mergeAllOf = (node: Record<string, unknown>, path: string): Record<string, unknown> => {
    const members = node.allOf
    if (members === undefined) return node
    if (!Array.isArray(members)) throw new StructuralSchemaError({ path, reason: "allOf is not an array" })
    const { allOf: _, ...merged } = node
    for (const member of members) {
      if (!isObject(member))
        throw new StructuralSchemaError({ path, reason: "allOf member is not an object" })
      for (const [key, value] of Object.entries(mergeAllOf({ ...member }, path))) {
        if (key === "x-kubernetes-validations") {
          merged[key] = [...((merged[key] as Array<unknown> | undefined) ?? []), ...(value as Array<unknown>)]
        } else if (merged[key] === undefined) {
          merged[key] = value
        } else if (JSON.stringify(merged[key]) !== JSON.stringify(value)) {
          // Two bounds of the same kind: keep the stricter one.
          if (key === "minimum" || key === "minLength" || key === "minItems") {
            merged[key] = Math.max(merged[key] as number, value as number)
          } else if (key === "maximum" || key === "maxLength" || key === "maxItems") {
            merged[key] = Math.min(merged[key] as number, value as number)
          } else {
            throw new StructuralSchemaError({ path, reason: `conflicting ${key} in allOf` })
          }
        }
      }
    }
    return merged
  }

  const collapseUnion = (node: Record<string, unknown>, path: string, seen: ReadonlyArray<string>) => {
    const key = node.anyOf !== undefined ? "anyOf" : node.oneOf !== undefined ? "oneOf" : undefined
    if (key === undefined) return node
    const { [key]: membersRaw, ...rest } = node
    const members = (membersRaw as Array<JsonSchemaNode>).map((m) => mergeAllOf(resolve(m, path, seen), path))
    const nonNull = members.filter((m) => m.type !== "null")
    const nullable = nonNull.length < members.length
    let collapsed: Record<string, unknown>
    if (nonNull.length === 1) {
      collapsed = { ...nonNull[0] }
    } else if (nonNull.every((m) => m.type === "string" && Array.isArray(m.enum))) {
      collapsed = { type: "string", enum: nonNull.flatMap((m) => m.enum as Array<unknown>) }
    } else {
      throw new StructuralSchemaError({ path, reason: `${key} of ${nonNull.length} different schemas` })
    }
    return { ...collapsed, ...rest, ...(nullable ? { nullable: true } : {}) }
  }

  const visit = (input: JsonSchemaNode, path: string, seen: ReadonlyArray<string>): JsonSchemaNode => {
    const node = collapseUnion(mergeAllOf(resolve(input, path, seen), path), path, seen)
    if (node.const !== undefined) {
      node.enum = [node.const]
      delete node.const
    }
    if (Array.isArray(node.type)) throw new StructuralSchemaError({ path, reason: "type is a list" })

    const out: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(node)) {
      if (ignored.has(key)) continue
      if (!allowed.has(key)) throw new StructuralSchemaError({ path, reason: `unsupported keyword ${key}` })
      out[key] = value
    }

    if (out.type === "integer") {
      if (out.minimum === -maxSafe) delete out.minimum
      if (out.maximum === maxSafe) delete out.maximum
      if (out.format === undefined) out.format = "int64"
    }
    if (isObject(out.properties)) {
      out.properties = Object.fromEntries(
        Object.keys(out.properties)
          .sort()
          .map((k) => [
            k,
            visit((out.properties as Record<string, JsonSchemaNode>)[k]!, join(path, k), seen),
          ]),
      )
      delete out.additionalProperties
      if (out.type === undefined) out.type = "object"
    } else if (out.type === "object") {
      const additional = out.additionalProperties
      if (isObject(additional)) {
        out.additionalProperties = visit(additional, join(path, "*"), seen)
      } else {
        delete out.additionalProperties
        out["x-kubernetes-preserve-unknown-fields"] = true
      }
    }
    if (Array.isArray(out.required)) {
      if (out.required.length === 0) delete out.required
      else out.required = [...out.required].sort()
    }
    if (isObject(out.items)) out.items = visit(out.items, `${path}[*]`, seen)
    else if (out.type === "array") throw new StructuralSchemaError({ path, reason: "array without items" })
    if (out.type === undefined && out["x-kubernetes-int-or-string"] !== true) {
      out["x-kubernetes-preserve-unknown-fields"] = true
    }

    return Object.fromEntries(keywordOrder.filter((k) => out[k] !== undefined).map((k) => [k, out[k]]))
  }

  return visit(document.schema, "", [])
}
