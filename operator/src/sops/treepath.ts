/**
 * sops' index paths (`["key"][0]`) and the tree edits of `sops set` / `sops unset` (`TreeBranch.Set`/`Unset`),
 * with their quirks kept: list positions count comments, a missing path is created, a position past the end
 * appends, and an integer step on a mapping changes nothing.
 *
 * @module
 */
import { syncStoreFor } from "./stores/store.ts"
import {
  type Branch,
  branch,
  type Comment,
  float,
  type Item,
  isBranch,
  isComment,
  isFloat,
  isList,
  isTimestamp,
  type List,
  list,
  type Value,
} from "./tree.ts"

export type PathStep = string | number

/** A path that does not parse (sops: "Invalid set index format", exit code 7). */
export class TreePathError extends Error {
  override readonly name = "TreePathError"
}

/** sops' `parseTreePath`: split on `[`, each part ends with `]`, quoted parts are keys, the rest integers. */
export const parseTreePath = (arg: string): Array<PathStep> => {
  const path: Array<PathStep> = []
  for (const raw of arg.split("[")) {
    if (raw === "") continue
    if (!raw.endsWith("]")) throw new TreePathError(`component ${raw} doesn't end with ]`)
    const c = raw.slice(0, -1)
    if (c.startsWith('"') || c.startsWith("'")) {
      if (c.length < 2) throw new TreePathError(`component ${raw} is not a quoted key`)
      path.push(c.slice(1, -1))
    } else {
      if (!/^[+-]?\d+$/.test(c) || Number(c) < 0 || !Number.isSafeInteger(Number(c)))
        throw new TreePathError(`component ${raw} is neither a quoted key nor a list index`)
      path.push(Number(c))
    }
  }
  return path
}

/** A JSON value as `sops set` inserts it: a mapping through the JSON store, scalars as Go decodes them. */
export const valueFromJson = (text: string): Value => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new TreePathError("Value for --set is not valid JSON")
  }
  if (Array.isArray(parsed)) throw new TreePathError("Invalid --set value format")
  if (typeof parsed === "object" && parsed !== null) {
    try {
      return syncStoreFor("json").readPlain(new TextEncoder().encode(text))[0]!
    } catch {
      throw new TreePathError("Invalid --set value format")
    }
  }
  // Go's encoding/json decodes every number into a float64
  if (typeof parsed === "number") return float(parsed)
  return parsed as string | boolean | null
}

/** sops' `equals`: same shape, comments by text, scalars of the same Go type and value. */
export const equalValues = (a: Value | Comment, b: Value | Comment): boolean => {
  if (isBranch(a))
    return (
      isBranch(b) &&
      a.items.length === b.items.length &&
      a.items.every((item, i) => {
        const other = b.items[i]!
        return (
          equalValues(item.key as Value | Comment, other.key as Value | Comment) &&
          equalValues(item.value, other.value)
        )
      })
    )
  if (isList(a))
    return (
      isList(b) && a.items.length === b.items.length && a.items.every((e, i) => equalValues(e, b.items[i]!))
    )
  if (isComment(a)) return isComment(b) && a.value === b.value
  if (isFloat(a)) return isFloat(b) && a.value === b.value
  if (isTimestamp(a)) return isTimestamp(b) && a.date.getTime() === b.date.getTime() && a.text === b.text
  if (a instanceof Uint8Array) return b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b))
  return a === b
}

const fromPath = (path: ReadonlyArray<PathStep>, leaf: Value): Value => {
  const [step, ...rest] = path
  const inner = rest.length === 0 ? leaf : fromPath(rest, leaf)
  return typeof step === "number" ? list([inner]) : branch([{ key: step!, value: inner }])
}

const set = (node: Value, path: ReadonlyArray<PathStep>, value: Value): [Value, boolean] => {
  const [step, ...rest] = path
  if (isBranch(node)) {
    const items = [...node.items]
    const i = items.findIndex((it) => !isComment(it.key) && it.key === step)
    if (i >= 0) {
      const item = items[i]! as { key: string; value: Value }
      if (rest.length === 0) {
        items[i] = { key: item.key, value }
        return [branch(items), !equalValues(item.value, value)]
      }
      const [v, changed] = set(item.value, rest, value)
      items[i] = { key: item.key, value: v }
      return [branch(items), changed]
    }
    const added = fromPath(path, value)
    // an integer step on a mapping builds a list, which sops drops (and still reports a change)
    return isBranch(added) ? [branch([...items, added.items[0]!]), true] : [node, true]
  }
  if (isList(node)) {
    if (typeof step !== "number")
      throw new TreePathError(`cannot index a list with key ${JSON.stringify(step)}`)
    const items = [...node.items]
    if (rest.length === 0) {
      if (step >= items.length) return [list([...items, value]), true]
      const changed = !equalValues(items[step]!, value)
      items[step] = value
      return [list(items), changed]
    }
    if (step >= items.length) return [list([...items, fromPath(rest, value)]), true]
    const [v, changed] = set(items[step] as Value, rest, value)
    items[step] = v
    return [list(items), changed]
  }
  const replaced = fromPath(path, value)
  return [replaced, !equalValues(node, replaced)]
}

/** Sets `value` at `path` in the first document; returns the new document and whether anything changed. */
export const setPath = (doc: Branch, path: ReadonlyArray<PathStep>, value: Value): [Branch, boolean] => {
  if (path.length === 0) throw new TreePathError("the index names no key")
  const [out, changed] = set(doc, path, value)
  return [out as Branch, changed]
}

/** The path is not in the tree (`--idempotent` accepts this one). */
export class KeyNotFound extends Error {
  override readonly name = "KeyNotFound"
}

const goType = (v: Value): string =>
  typeof v === "string"
    ? "string"
    : typeof v === "bigint"
      ? "int"
      : typeof v === "boolean"
        ? "bool"
        : v === null
          ? "<nil>"
          : v instanceof Uint8Array
            ? "[]uint8"
            : isFloat(v)
              ? "float64"
              : isTimestamp(v)
                ? "time.Time"
                : "unknown"

const unset = (node: Value, path: ReadonlyArray<PathStep>): Value => {
  const [step, ...rest] = path
  if (isBranch(node)) {
    const i = node.items.findIndex((it) => !isComment(it.key) && it.key === step)
    if (i < 0) throw new KeyNotFound(`Key not found: ${typeof step === "number" ? `%!s(int=${step})` : step}`)
    const items: Array<Item> = [...node.items]
    if (rest.length === 0) items.splice(i, 1)
    else {
      const item = items[i]! as { key: string; value: Value }
      items[i] = { key: item.key, value: unset(item.value, rest) }
    }
    return branch(items)
  }
  if (isList(node)) {
    if (typeof step !== "number")
      throw new TreePathError(`cannot index a list with key ${JSON.stringify(step)}`)
    if (step >= node.items.length) throw new KeyNotFound(`Index ${step} out of bounds`)
    const items: Array<Value | Comment> = [...node.items]
    if (rest.length === 0) items.splice(step, 1)
    else items[step] = unset(items[step] as Value, rest)
    return list(items) satisfies List
  }
  throw new TreePathError(
    `Unsupported type: ${goType(node)} for item '${typeof step === "number" ? `%!s(int=${step})` : step}'`,
  )
}

/** Removes `path` from the first document; {@link KeyNotFound} when it is not there. */
export const unsetPath = (doc: Branch, path: ReadonlyArray<PathStep>): Branch => {
  if (path.length === 0) throw new TreePathError("the index names no key")
  return unset(doc, path) as Branch
}
