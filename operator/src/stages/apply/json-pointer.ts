/**
 * JSON pointers (RFC 6901) over JSON values, as `spec.ignore[].paths` uses them: parse (strictly: a pointer is
 * empty or starts with `/`, and `~` is only `~0` or `~1`), read, remove and set. Reads and writes never
 * mutate their input; they copy the containers along the path.
 *
 * A segment addresses an array element only when it is a decimal index within bounds (Flux's json-patch
 * accepts the same for `remove`); a path that does not resolve — a missing key, an index out of bounds, a
 * segment into a scalar — reads as absent and removes nothing, as Flux's `AllowMissingPathOnRemove` does.
 *
 * @module
 */

export type JsonPointer = ReadonlyArray<string>

/** The pointer's reference tokens, or the reason it is malformed. */
export const parsePointer = (
  text: string,
): { readonly ok: true; readonly pointer: JsonPointer } | { readonly ok: false; readonly reason: string } => {
  if (text === "") return { ok: true, pointer: [] }
  if (!text.startsWith("/")) return { ok: false, reason: "a JSON pointer must start with '/'" }
  const tokens = text.slice(1).split("/")
  for (const t of tokens)
    if (/~(?![01])/.test(t)) return { ok: false, reason: "'~' must be escaped as '~0' ('/' as '~1')" }
  // `~1` first, then `~0`: `~01` is the literal `~1` (RFC 6901 §4).
  return { ok: true, pointer: tokens.map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~")) }
}

/** The pointer written back in RFC 6901 form (for messages). */
export const formatPointer = (pointer: JsonPointer): string =>
  pointer.map((t) => `/${t.replaceAll("~", "~0").replaceAll("/", "~1")}`).join("")

type Json = Record<string, unknown>
const isRecord = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v)

/** The array index a token addresses in `list`, if any. */
const indexIn = (list: ReadonlyArray<unknown>, token: string): number | undefined => {
  if (!/^\d+$/.test(token)) return undefined
  const i = Number(token)
  return i < list.length ? i : undefined
}

/** The child a token addresses, if present. */
const child = (doc: unknown, token: string): { readonly found: boolean; readonly value?: unknown } => {
  if (Array.isArray(doc)) {
    const i = indexIn(doc, token)
    return i === undefined ? { found: false } : { found: true, value: doc[i] }
  }
  if (isRecord(doc) && Object.hasOwn(doc, token) && doc[token] !== undefined)
    return { found: true, value: doc[token] }
  return { found: false }
}

/** The value at `pointer`, and whether it is present. */
export const getAt = (
  doc: unknown,
  pointer: JsonPointer,
): { readonly found: boolean; readonly value?: unknown } => {
  let cur: unknown = doc
  for (const token of pointer) {
    const next = child(cur, token)
    if (!next.found) return { found: false }
    cur = next.value
  }
  return { found: true, value: cur }
}

/** `doc` without the value at `pointer`; `doc` itself when the path does not resolve. */
export const removeAt = <T>(doc: T, pointer: JsonPointer): T => {
  if (pointer.length === 0) return doc
  const [token, ...rest] = pointer as [string, ...Array<string>]
  if (Array.isArray(doc)) {
    const i = indexIn(doc, token)
    if (i === undefined) return doc
    if (rest.length === 0) return [...doc.slice(0, i), ...doc.slice(i + 1)] as T
    const inner = removeAt(doc[i], rest)
    return inner === doc[i] ? doc : (doc.map((v, j) => (j === i ? inner : v)) as T)
  }
  if (!isRecord(doc) || !Object.hasOwn(doc, token)) return doc
  if (rest.length === 0) {
    const { [token]: _gone, ...kept } = doc
    return kept as T
  }
  const inner = removeAt(doc[token], rest)
  return inner === doc[token] ? doc : ({ ...doc, [token]: inner } as T)
}

/**
 * `doc` with `value` at `pointer`: an existing key or element is replaced, a missing object key is added, and
 * missing objects on the way are created. `undefined` when the path runs through a scalar, a missing array
 * element or a missing parent that may be a list (nothing sensible can be created there).
 */
export const setAt = <T>(doc: T, pointer: JsonPointer, value: unknown): T | undefined => {
  if (pointer.length === 0) return value as T
  const [token, ...rest] = pointer as [string, ...Array<string>]
  if (Array.isArray(doc)) {
    const i = indexIn(doc, token)
    if (i === undefined) return undefined
    const inner = setAt(doc[i], rest, value)
    return inner === undefined ? undefined : (doc.map((v, j) => (j === i ? inner : v)) as T)
  }
  if (!isRecord(doc)) return undefined
  const present = Object.hasOwn(doc, token) && doc[token] !== undefined
  // A missing parent is created as an object, unless the next token could be an array index: whether the
  // value there is a list is not known.
  if (!present && rest.length > 0 && /^\d+$/.test(rest[0]!)) return undefined
  const next = present ? doc[token] : {}
  const inner = setAt(next, rest, value)
  return inner === undefined ? undefined : ({ ...doc, [token]: inner } as T)
}
