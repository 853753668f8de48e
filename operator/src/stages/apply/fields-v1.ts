/**
 * Field paths of `metadata.managedFields[].fieldsV1` (structured-merge-diff's field sets) for JSON pointers:
 * `/spec/replicas` is `f:spec` → `f:replicas`; an element of a list is the set's key for that element —
 * `k:{"name":"app"}` for a map-list, `v:"x"` for a set of scalars — found among the keys the managers
 * recorded at that level, as Flux's ssa package does. Used to ask who owns an ignored field and to leave
 * ignored fields out of an applied object's signature.
 *
 * @module
 */
import { jsonEqual } from "./drift.ts"
import type { JsonPointer } from "./json-pointer.ts"

type Fields = Record<string, unknown>
const isFields = (v: unknown): v is Fields => typeof v === "object" && v !== null && !Array.isArray(v)

export type FieldPath = ReadonlyArray<string>

const childAt = (fields: unknown, path: FieldPath): Fields | undefined => {
  let cur: unknown = fields
  for (const seg of path) {
    if (!isFields(cur)) return undefined
    cur = cur[seg]
  }
  return isFields(cur) ? cur : undefined
}

/** Does the list element `item` carry the set key `key`? */
const keyMatches = (key: string, item: unknown): boolean => {
  try {
    if (key.startsWith("k:")) {
      const kv = JSON.parse(key.slice(2)) as unknown
      return isFields(kv) && isFields(item) && Object.entries(kv).every(([k, v]) => jsonEqual(item[k], v))
    }
    if (key.startsWith("v:")) return jsonEqual(JSON.parse(key.slice(2)), item)
  } catch {
    // A key that is not JSON names no element.
  }
  return false
}

/**
 * The field path of `pointer` in `obj`, resolving list elements through the keys of `sets` (fieldsV1 trees);
 * `undefined` when an element cannot be resolved (out of bounds, or no recorded key matches it).
 */
export const fieldPathOf = (
  obj: unknown,
  pointer: JsonPointer,
  sets: ReadonlyArray<unknown>,
): FieldPath | undefined => {
  const path: Array<string> = []
  let cur: unknown = obj
  for (const token of pointer) {
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(token) || Number(token) >= cur.length) return undefined
      const item = cur[Number(token)]
      const keys = new Set(sets.flatMap((s) => Object.keys(childAt(s, path) ?? {})))
      const key = [...keys].find((k) => keyMatches(k, item))
      if (key === undefined) return undefined
      path.push(key)
      cur = item
      continue
    }
    path.push(`f:${token}`)
    cur = isFields(cur) ? cur[token] : undefined
  }
  return path
}

/** Is there a node at `path` in the field set (a leaf or a subtree)? */
export const containsPath = (fields: unknown, path: FieldPath): boolean => {
  if (path.length === 0) return false
  let cur: unknown = fields
  for (const seg of path) {
    if (!isFields(cur) || !Object.hasOwn(cur, seg)) return false
    cur = cur[seg]
  }
  return true
}

/** Every leaf of a field set (an empty node, `.` included), as paths. */
export const leafPaths = (fields: unknown): ReadonlyArray<FieldPath> => {
  const out: Array<FieldPath> = []
  const walk = (node: unknown, path: Array<string>) => {
    if (!isFields(node) || Object.keys(node).length === 0) {
      if (path.length > 0) out.push([...path])
      return
    }
    for (const [k, v] of Object.entries(node)) {
      path.push(k)
      walk(v, path)
      path.pop()
    }
  }
  walk(fields, [])
  return out
}

/** Is `path` `prefix` or below it? */
export const isUnder = (path: FieldPath, prefix: FieldPath): boolean =>
  prefix.length <= path.length && prefix.every((seg, i) => path[i] === seg)
