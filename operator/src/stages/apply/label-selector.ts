/**
 * Kubernetes label-selector expressions (`labels.Parse` of apimachinery), parsed in process because a selector
 * of `spec.ignore[].target` is matched against objects here, not sent to the API server: comma-separated
 * requirements `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k>n`, `k<n`, with the same key
 * and value syntax. `!=` and `notin` also match objects without the key, as in Kubernetes.
 *
 * @module
 */

type Operator = "exists" | "absent" | "in" | "notin" | "gt" | "lt"

interface Requirement {
  readonly key: string
  readonly op: Operator
  readonly values: ReadonlyArray<string>
}

export type LabelSelectorMatcher = (labels: Readonly<Record<string, string>> | undefined) => boolean

const name63 = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

const keyProblem = (key: string): string | undefined => {
  const slash = key.indexOf("/")
  const prefix = slash === -1 ? undefined : key.slice(0, slash)
  const name = slash === -1 ? key : key.slice(slash + 1)
  if (prefix !== undefined && (prefix.length > 253 || !dnsSubdomain.test(prefix)))
    return `invalid key prefix "${prefix}"`
  if (name.length === 0 || name.length > 63 || !name63.test(name)) return `invalid key "${key}"`
  return undefined
}

const valueProblem = (value: string): string | undefined =>
  value === "" || (value.length <= 63 && name63.test(value)) ? undefined : `invalid value "${value}"`

/** Splits at top-level commas (commas inside `( … )` belong to a set). */
const splitRequirements = (text: string): ReadonlyArray<string> | undefined => {
  const parts: Array<string> = []
  let depth = 0
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === "(") depth++
    else if (c === ")") depth--
    if (depth < 0 || depth > 1) return undefined
    if (c === "," && depth === 0) {
      parts.push(text.slice(start, i))
      start = i + 1
    }
  }
  if (depth !== 0) return undefined
  parts.push(text.slice(start))
  return parts.map((p) => p.trim())
}

const parseRequirement = (text: string): Requirement | string => {
  if (text === "") return "empty requirement"
  if (text.startsWith("!")) {
    const key = text.slice(1).trim()
    return keyProblem(key) ?? { key, op: "absent", values: [] }
  }
  const set = /^(\S+?)\s+(in|notin)\s*\(([^()]*)\)$/.exec(text)
  if (set !== null) {
    const key = set[1]!
    const values = set[3]!.split(",").map((v) => v.trim())
    const problem = keyProblem(key) ?? values.map(valueProblem).find((p) => p !== undefined)
    if (problem !== undefined) return problem
    if (set[3]!.trim() === "") return `empty value set for "${key}"`
    return { key, op: set[2] as "in" | "notin", values }
  }
  const binary = /^([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(.*)$/.exec(text)
  if (binary !== null) {
    const [, key, op, raw] = binary as unknown as [string, string, string, string]
    const value = raw.trim()
    const problem = keyProblem(key)
    if (problem !== undefined) return problem
    if (op === ">" || op === "<") {
      if (!/^-?\d+$/.test(value)) return `"${key}${op}${value}": the value must be an integer`
      return { key, op: op === ">" ? "gt" : "lt", values: [value] }
    }
    return valueProblem(value) ?? { key, op: op === "!=" ? "notin" : "in", values: [value] }
  }
  return keyProblem(text) ?? { key: text, op: "exists", values: [] }
}

const matches = (r: Requirement, labels: Readonly<Record<string, string>>): boolean => {
  const has = Object.hasOwn(labels, r.key)
  const value = labels[r.key]
  switch (r.op) {
    case "exists":
      return has
    case "absent":
      return !has
    case "in":
      return has && r.values.includes(value!)
    case "notin":
      return !has || !r.values.includes(value!)
    case "gt":
    case "lt": {
      if (!has || !/^-?\d+$/.test(value!)) return false
      const a = BigInt(value!)
      const b = BigInt(r.values[0]!)
      return r.op === "gt" ? a > b : a < b
    }
  }
}

/** A matcher for `text`, or the reason it is not a valid selector. The empty selector matches everything. */
export const parseLabelSelector = (
  text: string,
):
  | { readonly ok: true; readonly match: LabelSelectorMatcher }
  | { readonly ok: false; readonly reason: string } => {
  if (text.trim() === "") return { ok: true, match: () => true }
  const parts = splitRequirements(text)
  if (parts === undefined) return { ok: false, reason: "unbalanced parentheses" }
  const requirements: Array<Requirement> = []
  for (const part of parts) {
    const r = parseRequirement(part)
    if (typeof r === "string") return { ok: false, reason: r }
    requirements.push(r)
  }
  return { ok: true, match: (labels) => requirements.every((r) => matches(r, labels ?? {})) }
}
