/**
 * Flattening of the metadata mapping for the flat formats (INI `[sops]` section, dotenv `sops_` keys):
 * a map step is `__map_<key>`, a list step `__list_<index>`, the top-level key has no marker.
 *
 * @module
 */
import { type Branch, branch, type Item, isBranch, isComment, isList, list, type Value } from "../tree.ts"
import { type Format, metadataError } from "./errors.ts"
import { valToString } from "./gofmt.ts"

/** Scalar metadata leaves as text (sops' ValToString): strings as is, integers decimal, booleans `true`/`false`. */
const leafText = (v: Value): string => valToString(v)

/**
 * The flattened `key → text` pairs in tree order (sops flattens the metadata mapping as given; 3.13 passes it in
 * alphabetical order at every level, so list indices stay numeric: `…__list_2` before `…__list_10`).
 */
export const flattenMetadata = (metadata: Branch, format: Format): Array<readonly [string, string]> => {
  const out: Array<readonly [string, string]> = []
  const seen = new Set<string>()
  const push = (k: string, v: string) => {
    if (seen.has(k)) throw metadataError(format, "key collision while flattening metadata", { path: [k] })
    seen.add(k)
    out.push([k, v])
  }
  const walk = (prefix: string, v: Value): void => {
    if (isBranch(v)) {
      for (const item of v.items) {
        if (isComment(item.key)) continue
        walk(`${prefix}__map_${item.key}`, item.value as Value)
      }
    } else if (isList(v)) {
      let i = 0
      for (const e of v.items) if (!isComment(e)) walk(`${prefix}__list_${i++}`, e)
    } else push(prefix, leafText(v))
  }
  for (const item of metadata.items) {
    if (isComment(item.key)) continue
    const v = item.value as Value
    // Empty lists and maps have no leaves; sops omits them too.
    if (isBranch(v)) walk(item.key, v)
    else if (isList(v)) walk(item.key, v)
    else push(item.key, leafText(v))
  }
  return out
}

interface Node {
  value?: string
  subkeys?: Map<string, Node>
  indices?: Map<number, Node>
}

/** sops' tokenizer: the text before the first marker, then one step per `__map_`/`__list_` marker. */
const tokenize = (path: string): Array<{ map: string } | { list: number }> => {
  const tokens: Array<{ map: string } | { list: number }> = []
  let state: "normal" | "map" | "list" = "normal"
  let last = 0
  let i = 0
  const finish = () => {
    if (state === "normal") tokens.push({ map: path.slice(last, i) })
    else if (state === "map") tokens.push({ map: path.slice(last + 6, i) })
    else {
      // Go's strconv.Atoi; an invalid index counts as 0, as in sops.
      const t = path.slice(last + 7, i)
      tokens.push({ list: /^[+-]?\d{1,18}$/.test(t) ? Number(t) : 0 })
    }
    last = i
  }
  while (i < path.length) {
    if (path.startsWith("__map_", i)) {
      finish()
      state = "map"
      i += 6
    } else if (path.startsWith("__list_", i)) {
      finish()
      state = "list"
      i += 7
    } else i++
  }
  finish()
  return tokens
}

/** Rebuilds the nested metadata mapping from flattened `key → text` pairs (keys sorted, as sops does). */
export const unflattenMetadata = (
  pairs: ReadonlyArray<readonly [string, string]>,
  format: Format,
): Branch => {
  const root: Node = {}
  for (const [flatKey, value] of pairs) {
    let node = root
    for (const t of tokenize(flatKey)) {
      let next: Node | undefined
      if ("map" in t) {
        node.subkeys ??= new Map()
        next = node.subkeys.get(t.map)
        if (next === undefined) {
          next = {}
          node.subkeys.set(t.map, next)
        }
      } else {
        node.indices ??= new Map()
        next = node.indices.get(t.list)
        if (next === undefined) {
          next = {}
          node.indices.set(t.list, next)
        }
      }
      node = next
    }
    if (node.value !== undefined)
      throw metadataError(format, "duplicate value while unflattening metadata", { path: [flatKey] })
    node.value = value
  }
  const convert = (n: Node, path: ReadonlyArray<string>): Value => {
    const kinds =
      Number(n.value !== undefined) + Number((n.subkeys?.size ?? 0) > 0) + Number((n.indices?.size ?? 0) > 0)
    if (kinds > 1)
      throw metadataError(format, "type mismatch while unflattening metadata", { path: [...path] })
    if (n.value !== undefined) return n.value
    if (n.indices !== undefined && n.indices.size > 0) {
      const items: Array<Value> = []
      for (let i = 0; i < n.indices.size; i++) {
        const c = n.indices.get(i)
        if (c === undefined)
          throw metadataError(format, "incomplete list while unflattening metadata", { path: [...path] })
        items.push(convert(c, path))
      }
      return list(items)
    }
    const keys = [...(n.subkeys?.keys() ?? [])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    return branch(keys.map((k): Item => ({ key: k, value: convert(n.subkeys!.get(k)!, [...path, k]) })))
  }
  return convert(root, []) as Branch
}
