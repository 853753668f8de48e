/**
 * Drift detection: does the server-side dry-run result differ from the live object in anything the
 * user declared? Server-maintained bookkeeping (resourceVersion, managedFields, generation, status…) is
 * not drift, so an object that would not change is never written and keeps its resourceVersion. Fields of
 * `spec.ignore` rules are removed from both sides before they are compared, as Flux does.
 */

import type { KubeObject } from "../../kube/object.ts"
import { type JsonPointer, removeAt } from "./json-pointer.ts"

const comparable = (obj: KubeObject): Record<string, unknown> => {
  const { metadata, status: _status, ...rest } = obj
  return { ...rest, metadata: { labels: metadata.labels ?? {}, annotations: metadata.annotations ?? {} } }
}

/** Structural equality of JSON values; object key order does not matter, array order does. */
export const jsonEqual = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]))
  const ka = Object.keys(a as object).filter((k) => (a as Record<string, unknown>)[k] !== undefined)
  const kb = Object.keys(b as object).filter((k) => (b as Record<string, unknown>)[k] !== undefined)
  return (
    ka.length === kb.length &&
    ka.every((k) => jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  )
}

/** `obj` without the ignored fields, removed one after another (as a JSON patch of removals would). */
export const withoutPaths = (obj: KubeObject, ignored: ReadonlyArray<JsonPointer>): KubeObject =>
  ignored.reduce((o, p) => removeAt(o, p), obj)

/**
 * True when applying would change the live object (the dry-run result is what the server would store) in a
 * field that is not ignored.
 */
export const hasDrifted = (
  live: KubeObject,
  dryRun: KubeObject,
  ignored: ReadonlyArray<JsonPointer> = [],
): boolean => !jsonEqual(comparable(withoutPaths(live, ignored)), comparable(withoutPaths(dryRun, ignored)))

/**
 * The top-level paths that differ, for messages. Values are never included, so the output is safe
 * for Secrets.
 */
export const driftedPaths = (live: KubeObject, dryRun: KubeObject): ReadonlyArray<string> => {
  const out: Array<string> = []
  const walk = (a: unknown, b: unknown, path: string, depth: number) => {
    if (jsonEqual(a, b)) return
    const objA = typeof a === "object" && a !== null && !Array.isArray(a)
    const objB = typeof b === "object" && b !== null && !Array.isArray(b)
    if (depth >= 3 || !objA || !objB) {
      out.push(path)
      return
    }
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)])
    for (const k of [...keys].sort())
      walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`, depth + 1)
  }
  walk(comparable(live), comparable(dryRun), "", 0)
  return out
}
