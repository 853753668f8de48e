/**
 * How kustomize's Go code reads the keys of a kustomization or a plugin config: YAML becomes JSON and Go's
 * `encoding/json` matches a key to a struct field case-insensitively (`Resources`, `FILES` and `fileſ` all
 * land in the field), the last match winning. A resolver that looked up `files` exactly would miss `Files`;
 * we read every key that folds to the field's name. Keys kustomize reads through kyaml (`apiVersion`,
 * `kind`, `metadata`, `items`) are matched exactly, as kyaml does.
 *
 * The YAML is parsed with the failsafe schema (every scalar a string, so `path: 0o17` is checked as the
 * path Go may read, whatever type YAML 1.1 or 1.2 gives it), merge keys on (go-yaml resolves `<<`), aliases
 * capped, duplicate keys refused.
 *
 * @module
 */
import * as YAML from "yaml"

/**
 * Go's `encoding/json` key folding, restricted to what can match an ASCII field name: ASCII case, plus the
 * two non-ASCII runes Unicode folds onto ASCII letters (KELVIN SIGN → k, LATIN SMALL LETTER LONG S → s).
 */
export const foldKey = (k: string) =>
  k
    .replace(/\u212a/g, "k")
    .replace(/\u017f/g, "s")
    .replace(/[A-Z]/g, (c) => c.toLowerCase())

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

/** `[key, value]` of every entry of `obj` whose key Go would decode into the field `name`. */
export const fieldEntries = (obj: unknown, name: string): Array<[string, unknown]> => {
  if (!isRecord(obj)) return []
  const folded = foldKey(name)
  return Object.entries(obj).filter(([k]) => foldKey(k) === folded)
}

/** The strings of a `[]string` field (a lone string counts too: checking more is safe). */
export const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : typeof v === "string" ? [v] : []

/** The mappings of a `[]struct` field. */
export const records = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter(isRecord) : [])

/** True when a field holds nothing (absent, null, `~`, empty string, list or mapping). */
export const isEmptyValue = (v: unknown) =>
  v === undefined ||
  v === null ||
  v === "" ||
  v === "~" ||
  v === "null" ||
  (Array.isArray(v) && v.length === 0) ||
  (isRecord(v) && Object.keys(v).length === 0)

const options = { schema: "failsafe", merge: true, uniqueKeys: true } as const

/** Every document of `text` as plain data; throws on invalid YAML (callers turn that into a refusal). */
export const parseDocuments = (text: string): unknown[] =>
  YAML.parseAllDocuments(text, options).map((d) => {
    if (d.errors.length > 0) throw new Error("invalid YAML")
    return d.toJS({ maxAliasCount: 1000 }) as unknown
  })

/**
 * The single document of `text`, as `sigs.k8s.io/yaml` reads a kustomization. go-yaml decodes the first
 * document and ignores the rest; a later document that holds anything is refused here rather than ignored
 * (it is never what the author meant), an empty one (a trailing `---`) is fine.
 */
export const parseDocument = (text: string): unknown => {
  const docs = YAML.parseAllDocuments(text, options)
  const first = docs[0]
  if (first === undefined) return null
  if (first.errors.length > 0) throw new Error("invalid YAML")
  const empty = (d: (typeof docs)[number]) => {
    const v = d.errors.length > 0 ? "invalid" : (d.toJS({ maxAliasCount: 1000 }) as unknown)
    return v === null || v === ""
  }
  if (!docs.slice(1).every(empty)) throw new Error("more than one document")
  return first.toJS({ maxAliasCount: 1000 }) as unknown
}

/** A name from repository content as messages show it: one line, at most `max` characters. */
export const shownName = (s: string, max = 60) => {
  const control = [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)
  const one = control ? JSON.stringify(s).slice(1, -1) : s
  return one.length > max ? `${one.slice(0, max)}…` : one
}
