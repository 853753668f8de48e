/**
 * YAML as the Go tools print it (`flux create … --export`, `kubectl … -o yaml`): sigs.k8s.io/yaml marshals to
 * JSON first, so map keys come out sorted, then go-yaml v2 emits them — sequences not indented under their key,
 * strings that YAML 1.1 would read as another type (`y`, `yes`, `1.10`, `~`) double-quoted, strings a plain
 * scalar cannot carry (`>=1.0.0`, `: `, leading `-`) single-quoted, multi-line strings as `|-` blocks. Only what
 * JSON holds is supported: maps, arrays, strings, booleans, numbers and null.
 *
 * @module
 */

export type GoYamlValue =
  | null
  | string
  | number
  | boolean
  | ReadonlyArray<GoYamlValue>
  | { readonly [key: string]: GoYamlValue | undefined }

/** The words go-yaml's resolve table maps to booleans, null (also the empty string), infinities and NaN. */
const specialWord =
  /^(?:|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|~|null|Null|NULL|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/

/**
 * Numbers as go-yaml resolves them: underscores dropped, then Go's `ParseInt(s, 0, 64)` forms (decimal, `0x`,
 * `0o`, `0b`, leading-zero octal), its YAML float form, and YAML 1.1 sexagesimal (`1:20`).
 */
const isNumber = (s: string): boolean => {
  // only scalars starting like a number are tried (go-yaml's first-character hint)
  if (!/^[-+.0-9]/.test(s)) return false
  // a leading dot goes to Go's ParseFloat as written, underscores and all
  if (s.startsWith(".")) return /^\.[0-9]+(?:[eE][-+]?[0-9]+)?$/.test(s)
  const plain = s.replaceAll("_", "")
  return (
    /^[-+]?(?:[0-9]+|0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+)$/.test(plain) ||
    /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/.test(plain) ||
    /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/.test(s)
  )
}

/** Timestamps as go-yaml v2 resolves them (its four layouts), e.g. a `creationTimestamp`. */
const timestamp =
  /^\d{4}-\d{1,2}-\d{1,2}(?:(?:[Tt]| )\d{1,2}:\d{1,2}:\d{1,2}(?:\.\d{1,9})?(?:Z|[+-]\d{1,2}:\d{2})?)?$/

/** YAML 1.1 scalars go-yaml resolves to a non-string. */
const nonString = {
  test: (s: string): boolean => specialWord.test(s) || isNumber(s) || timestamp.test(s),
}

/** Whether libyaml's emitter may write `s` as a plain scalar in block context (its analyze_scalar rules). */
const plainAllowed = (s: string): boolean => {
  if (s === "") return false
  if (s.startsWith("---") || s.startsWith("...")) return false
  if (/^[\s]|[\s]$/.test(s)) return false
  const first = s[0]!
  if ("#,[]{}&*!|>'\"%@`".includes(first)) return false
  if ("-?:".includes(first) && (s.length === 1 || /\s/.test(s[1]!))) return false
  if (/: |:$| #|[\t]/.test(s)) return false
  return printable(s)
}

/** go-yaml emits in unicode mode: printable characters other than ASCII stay as they are. */
const printable = (s: string): boolean =>
  /^[\x20-\x7e\u00a0-\ud7ff\ue000-\ufefe\uff00-\ufffd\u{10000}-\u{10ffff}]*$/u.test(s)

const doubleQuoted = (s: string): string => JSON.stringify(s)

const scalar = (s: string): string => {
  if (nonString.test(s)) return doubleQuoted(s)
  if (plainAllowed(s)) return s
  if (printable(s)) return `'${s.replaceAll("'", "''")}'`
  return doubleQuoted(s)
}

const isMap = (v: GoYamlValue): v is { readonly [key: string]: GoYamlValue | undefined } =>
  typeof v === "object" && v !== null && !Array.isArray(v)

const entries = (m: { readonly [key: string]: GoYamlValue | undefined }) =>
  Object.keys(m)
    .filter((k) => m[k] !== undefined)
    .sort()
    .map((k) => [k, m[k]!] as const)

const isEmpty = (v: GoYamlValue) => (Array.isArray(v) ? v.length === 0 : isMap(v) && entries(v).length === 0)

/** The lines of `value` as the body of a key at `indent`. */
const block = (value: GoYamlValue, indent: string): string => {
  if (Array.isArray(value)) {
    return value
      .map((item: GoYamlValue) => {
        if (isMap(item) && !isEmpty(item)) {
          const body = block(item, `${indent}  `)
          return `${indent}- ${body.slice(indent.length + 2)}`
        }
        return `${indent}- ${inline(item, `${indent}  `)}`
      })
      .join("")
  }
  if (isMap(value)) {
    return entries(value)
      .map(([k, v]) => {
        const key = `${indent}${scalar(k)}:`
        if ((isMap(v) || Array.isArray(v)) && !isEmpty(v))
          return `${key}\n${block(v, Array.isArray(v) ? indent : `${indent}  `)}`
        return `${key} ${inline(v, `${indent}  `)}`
      })
      .join("")
  }
  return `${indent}${inline(value, indent)}`
}

/** A value written after `key: ` or `- `; ends with a newline. */
const inline = (v: GoYamlValue, indent: string): string => {
  if (v === null) return "null\n"
  if (typeof v === "boolean" || typeof v === "number") return `${v}\n`
  if (typeof v === "string") {
    if (v.includes("\n")) {
      const chomp = v.endsWith("\n") ? "" : "-"
      const lines = (v.endsWith("\n") ? v.slice(0, -1) : v).split("\n")
      return `|${chomp}\n${lines.map((l) => (l === "" ? "\n" : `${indent}${l}\n`)).join("")}`
    }
    return `${scalar(v)}\n`
  }
  return Array.isArray(v) ? "[]\n" : "{}\n"
}

/** `value` (a map) as one YAML document, without a `---` line. */
export const goYaml = (value: { readonly [key: string]: GoYamlValue | undefined }): string => block(value, "")
