/**
 * YAML as the Go tools print it (`flux create … --export`, `kubectl … -o yaml`): sigs.k8s.io/yaml marshals to
 * JSON first, so map keys come out sorted, then go-yaml v2 emits them — sequences not indented under their key,
 * strings that YAML 1.1 would read as another type (`y`, `yes`, `1.10`, `~`) double-quoted, strings a plain
 * scalar cannot carry (`>=1.0.0`, `: `, leading `-`) single-quoted, multi-line strings as `|-` blocks. Only what
 * our objects hold is supported: maps, arrays, strings, booleans and integers.
 *
 * @module
 */

export type GoYamlValue =
  | string
  | number
  | boolean
  | ReadonlyArray<GoYamlValue>
  | { readonly [key: string]: GoYamlValue | undefined }

/** YAML 1.1 scalars go-yaml resolves to a non-string (its resolve table and number forms). */
const nonString =
  /^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|~|null|Null|NULL|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0[0-7_]+|[-+]?0x[0-9a-fA-F_]+|[-+]?0b[01_]+|[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?|<<)$/

/** Whether libyaml's emitter may write `s` as a plain scalar in block context (its analyze_scalar rules). */
const plainAllowed = (s: string): boolean => {
  if (s === "") return false
  if (s.startsWith("---") || s.startsWith("...")) return false
  if (/^[\s]|[\s]$/.test(s)) return false
  const first = s[0]!
  if ("#,[]{}&*!|>'\"%@`".includes(first)) return false
  if ("-?:".includes(first) && (s.length === 1 || /\s/.test(s[1]!))) return false
  if (/: |:$| #|[\t]/.test(s)) return false
  // libyaml writes only printable ASCII plainly here; anything else is quoted (double quotes, below)
  return /^[\x20-\x7e]*$/.test(s)
}

const doubleQuoted = (s: string): string => JSON.stringify(s)

const scalar = (s: string): string => {
  if (nonString.test(s)) return doubleQuoted(s)
  if (plainAllowed(s)) return s
  if (/^[\x20-\x7e]*$/.test(s)) return `'${s.replaceAll("'", "''")}'`
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
