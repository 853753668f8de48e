/**
 * Flux's post-build variable syntax, applied to text: `${var}`, `${var:=default}`, `${var:-default}`
 * (default when unset or empty), `${var=default}`, `${var-default}` (default when unset); defaults may
 * themselves hold references. `$${var}` is an escape that leaves `${var}`. The bare `$var` form is never
 * substituted (so shell scripts in ConfigMaps survive), and neither is anything else inside `${…}`.
 *
 * @module
 */
import { Data, Effect } from "effect"

/** Flux's rule for variable names. */
export const variableName = /^[_a-zA-Z][_a-zA-Z0-9]*$/

/** A reference to a variable that has no value and no default, in strict mode. Names the variable only. */
export class VariableNotSet extends Data.TaggedError("VariableNotSet")<{ readonly variable: string }> {
  override get message(): string {
    return `variable not set (strict mode): '${this.variable}'`
  }
}

/** Index of the `}` closing the `${` whose body starts at `from`, honouring nested `${…}`; -1 if none. */
const closing = (text: string, from: number) => {
  let depth = 0
  for (let i = from; i < text.length; i++) {
    const c = text[i]
    if (c === "$" && text[i + 1] === "{") {
      depth++
      i++
    } else if (c === "}") {
      if (depth === 0) return i
      depth--
    }
  }
  return -1
}

const expression = /^([_a-zA-Z][_a-zA-Z0-9]*)(?:(:=|:-|=|-)([\s\S]*))?$/

const expand = (text: string, vars: ReadonlyMap<string, string>, strict: boolean): string => {
  let out = ""
  let i = 0
  while (i < text.length) {
    const at = text.indexOf("$", i)
    if (at < 0) {
      out += text.slice(i)
      break
    }
    out += text.slice(i, at)
    if (text.startsWith("$${", at)) {
      out += "${"
      i = at + 3
      continue
    }
    if (text[at + 1] !== "{") {
      out += "$"
      i = at + 1
      continue
    }
    const end = closing(text, at + 2)
    const m = end < 0 ? null : expression.exec(text.slice(at + 2, end))
    if (m === null) {
      out += "${"
      i = at + 2
      continue
    }
    const [, name, op, fallback] = m as unknown as [string, string, string | undefined, string | undefined]
    const value = vars.get(name)
    if (op === undefined) {
      if (value === undefined && strict) throw new VariableNotSet({ variable: name })
      out += value ?? ""
    } else {
      const useDefault = op.startsWith(":") ? value === undefined || value === "" : value === undefined
      out += useDefault ? expand(fallback ?? "", vars, strict) : value
    }
    i = end + 1
  }
  return out
}

/** Substitutes `vars` into `text`; in strict mode a reference without value or default fails. */
export const envsubst = (text: string, vars: ReadonlyMap<string, string>, strict: boolean) =>
  Effect.try({
    try: () => expand(text, vars, strict),
    catch: (e) => (e instanceof VariableNotSet ? e : new VariableNotSet({ variable: "?" })),
  })
