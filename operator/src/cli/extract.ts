/**
 * `--extract '["key"][0]'`: one value of a decrypted tree, as sops prints it (strings raw, mappings through the
 * output store).
 *
 * @module
 */

import type { Format } from "../sops/format.ts"
import { formatFloatF, formatTimeGo } from "../sops/goformat.ts"
import { formatFloatG, formatFloatJson } from "../sops/stores/gofmt.ts"
import {
  type Documents,
  type Item,
  isBranch,
  isComment,
  isFloat,
  isList,
  isTimestamp,
  type Value,
} from "../sops/tree.ts"
import { UsageError } from "./args.ts"

type Step = string | number

/** Parses sops' extract path syntax: a sequence of `["key"]` / `['key']` / `[index]`. */
export const parseExtractPath = (path: string): Array<Step> => {
  const steps: Array<Step> = []
  const re = /\[(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|(\d+))\]/y
  let i = 0
  while (i < path.length) {
    re.lastIndex = i
    const m = re.exec(path)
    if (m === null)
      throw new UsageError(`invalid --extract path ${JSON.stringify(path)} (expected e.g. ["key"][0])`)
    steps.push(m[3] !== undefined ? Number(m[3]) : m[1] !== undefined ? JSON.parse(`"${m[1]}"`) : m[2]!)
    i = re.lastIndex
  }
  return steps
}

/** The value at `path` in the first document; throws {@link UsageError} naming the missing step. */
export const extract = (docs: Documents, path: ReadonlyArray<Step>): Value => {
  let v: Value = docs[0] ?? null
  for (const step of path) {
    if (typeof step === "string" && isBranch(v)) {
      const item: Item | undefined = v.items.find((i) => !isComment(i.key) && i.key === step)
      if (item === undefined) throw new UsageError(`--extract: key ${JSON.stringify(step)} not found`)
      v = item.value
    } else if (typeof step === "number" && isList(v)) {
      const els = v.items.filter((e) => !isComment(e)) as Array<Value>
      if (step >= els.length) throw new UsageError(`--extract: index ${step} out of range`)
      v = els[step]!
    } else
      throw new UsageError(
        `--extract: cannot index ${isList(v) ? "a list" : "a scalar"} with ${JSON.stringify(step)}`,
      )
  }
  return v
}

/**
 * A scalar as sops prints an extracted value: strings and bytes raw; other scalars marshalled by the output
 * format (YAML adds a newline and uses Go's %g floats, JSON its number form).
 */
export const scalarText = (v: Value, format: Format): Uint8Array | undefined => {
  const enc = (s: string) => new TextEncoder().encode(format === "yaml" ? `${s}\n` : s)
  if (typeof v === "string") return new TextEncoder().encode(v)
  if (v instanceof Uint8Array) return v
  if (typeof v === "bigint" || typeof v === "boolean") return enc(String(v))
  if (isFloat(v))
    return enc(
      format === "yaml"
        ? formatFloatG(v.value)
        : format === "json"
          ? formatFloatJson(v.value)
          : formatFloatF(v.value),
    )
  if (isTimestamp(v)) return enc(format === "json" ? JSON.stringify(formatTimeGo(v)) : formatTimeGo(v))
  if (v === null) return enc("null")
  return undefined
}
