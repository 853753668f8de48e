/**
 * Flux's post-build variable syntax (fluxcd/pkg/envsubst, a fork of drone/envsubst), as a single-pass parser
 * and an evaluator with a work budget, so any text a repository holds costs time linear in its size:
 *
 * - `${var}`; `${#var}` (length in UTF-8 bytes); `${var^}` `${var^^}` `${var,}` `${var,,}` (case);
 *   `${var:pos}` `${var:pos:len}` (substring, byte offsets, negative `pos` from the end);
 *   `${var/pat/rep}` `${var//pat/rep}` `${var/#pat/rep}` `${var/%pat/rep}` (literal patterns; `\/`, `\\` and
 *   `$$` escapes inside); `${var#glob}` `${var##glob}` `${var%glob}` `${var%%glob}` (trim a glob match).
 * - Defaults `${var:=d}` `${var=d}` `${var:-d}` (also `:?` and `:+`, which Flux parses as the same thing):
 *   the default applies when the variable is unset **or empty** (Flux's rule, unlike the shell's). Defaults
 *   may hold nested expressions, which are evaluated eagerly, as Flux does.
 * - `${var-d}` (no colon) is a syntax error, as in Flux ("missing closing brace").
 * - `$$` outside `${…}` is an escape for `$` (so `$${var}` leaves `${var}`); a bare `$var` is never
 *   substituted, so shell scripts in ConfigMaps survive.
 * - Malformed expressions fail (as in Flux) with its reason and the line, never the text.
 * - Strict mode (`--feature-gates=StrictPostBuildSubstitutions`): an unset variable referenced without a
 *   default operator fails, naming the variable.
 *
 * Nested replacements can grow exponentially (`${a//x/${a//x/${a}}}`), so every string the evaluation
 * produces, and every glob step, is charged to a budget (`--max-substituted-size`); nesting is capped at
 * {@link maxNesting} so the recursive parser stays far from the stack limit.
 *
 * @module
 */
import { Data, Effect } from "effect"
import { defaultLimits, formatLimit, limitFlag } from "../../limits.ts"

/** Flux's rule for variable names. */
export const variableName = /^[_a-zA-Z][_a-zA-Z0-9]*$/

/** Deepest nesting of `${…}` inside defaults or arguments (Flux manifests use two or three). */
export const maxNesting = 100

/** A reference to a variable that has no value and no default, in strict mode. Names the variable only. */
export class VariableNotSet extends Data.TaggedError("VariableNotSet")<{ readonly variable: string }> {
  override get message(): string {
    return `variable not set (strict mode): '${this.variable}'`
  }
}

/** Malformed `${…}`: Flux's reason, the line of the serialised object and the variable when one was read. */
export class SubstitutionSyntaxError extends Data.TaggedError("SubstitutionSyntaxError")<{
  readonly reason: string
  /** Line of the serialised object; undefined for errors found while evaluating. */
  readonly line: number | undefined
  readonly variable: string | undefined
}> {
  override get message(): string {
    const v = this.variable === undefined ? "" : ` in the expression of '${this.variable}'`
    return `${this.reason}${v}${this.line === undefined ? "" : ` at line ${this.line}`}`
  }
}

/** The evaluation produced more than `--max-substituted-size`. */
export class SubstitutionTooLarge extends Data.TaggedError("SubstitutionTooLarge")<{
  readonly limit: number
}> {
  override get message(): string {
    return `substitution produces more than ${formatLimit("maxSubstitutedSize", this.limit)} (raise it with ${limitFlag("maxSubstitutedSize")})`
  }
}

export type EnvsubstError = VariableNotSet | SubstitutionSyntaxError | SubstitutionTooLarge

type Node = string | Expr

/** One `${…}`: the variable, the operator as Flux names it ("" for plain, "#" for length, ":=", "//", …). */
interface Expr {
  readonly variable: string
  readonly op: string
  readonly args: ReadonlyArray<Node>
}

const isIdentChar = (c: string): boolean => {
  const code = c.charCodeAt(0)
  if (code < 0x80)
    return (
      (code >= 0x30 && code <= 0x39) ||
      (code >= 0x41 && code <= 0x5a) ||
      (code >= 0x61 && code <= 0x7a) ||
      c === "_"
    )
  // Go's unicode.IsLetter / IsDigit, as the upstream scanner uses.
  return /^[\p{L}\p{Nd}]$/u.test(c)
}

class Parser {
  private pos = 0
  private depth = 0
  private readonly src: string
  constructor(src: string) {
    this.src = src
  }

  private fail(reason: string, variable?: string): never {
    let line = 1
    for (let i = this.src.indexOf("\n"); i >= 0 && i < this.pos; i = this.src.indexOf("\n", i + 1)) line++
    throw new SubstitutionSyntaxError({ reason, line, variable })
  }

  private opens(at: number): boolean {
    return this.src.charCodeAt(at) === 0x24 && this.src.charCodeAt(at + 1) === 0x7b // "${"
  }

  /** The whole text: literal runs, `$$` escapes and expressions. */
  all(): Node[] {
    const { src } = this
    const nodes: Node[] = []
    let text: string[] = []
    const flush = () => {
      if (text.length > 0) nodes.push(text.join(""))
      text = []
    }
    while (this.pos < src.length) {
      const at = src.indexOf("$", this.pos)
      if (at < 0) {
        text.push(src.slice(this.pos))
        break
      }
      if (at > this.pos) text.push(src.slice(this.pos, at))
      if (this.opens(at)) {
        flush()
        this.pos = at + 2
        nodes.push(this.expr())
      } else if (src[at + 1] === "$") {
        text.push("$")
        this.pos = at + 2
      } else {
        text.push("$")
        this.pos = at + 1
      }
    }
    flush()
    return nodes
  }

  /** A name of identifier characters (possibly empty). */
  private ident(): string {
    const start = this.pos
    while (this.pos < this.src.length) {
      const cp = this.src.codePointAt(this.pos) as number
      const c = String.fromCodePoint(cp)
      if (!isIdentChar(c)) break
      this.pos += c.length
    }
    return this.src.slice(start, this.pos)
  }

  /** Up to `max` characters of `chars` (operator spellings such as `##`, `^,`). */
  private run(chars: string, max: number): string {
    const start = this.pos
    while (this.pos - start < max && chars.includes(this.src[this.pos] ?? "\u0000")) this.pos++
    return this.src.slice(start, this.pos)
  }

  private close(variable: string, reason = "bad substitution"): void {
    if (this.src[this.pos] !== "}") this.fail(reason, variable)
    this.pos++
  }

  /** After `${`. */
  private expr(): Expr {
    if (++this.depth > maxNesting) this.fail(`expressions nested deeper than ${maxNesting}`)
    try {
      return this.exprBody()
    } finally {
      this.depth--
    }
  }

  private exprBody(): Expr {
    const { src } = this
    if (src[this.pos] === "#") {
      this.pos++
      const variable = this.ident()
      if (variable === "") this.fail("bad substitution")
      this.close(variable)
      return { variable, op: "#", args: [] }
    }
    const variable = this.ident()
    if (variable === "") this.fail("unable to parse variable name")
    const c = src[this.pos]
    const param = (accept: (c: string) => boolean, escapes: boolean) =>
      this.param(accept, escapes) ?? this.fail("unable to parse substitution within function", variable)
    const notClose = (c: string) => c !== "}"
    if (c === ":") {
      const next = src[this.pos + 1]
      if (next === "=" || next === "-" || next === "?" || next === "+") {
        this.pos += 2
        return this.defaults(variable, `:${next}`)
      }
      this.pos++
      const args = [param((c) => c !== ":" && c !== "}", false)]
      if (src[this.pos] === "}") {
        this.pos++
        return { variable, op: ":", args }
      }
      if (this.run(":", Number.POSITIVE_INFINITY) === "") this.fail("bad substitution", variable)
      args.push(param(notClose, false))
      this.close(variable)
      return { variable, op: ":", args }
    }
    // `${var-d}` is not Flux's syntax: it falls through to "missing closing brace", as in Flux.
    if (c === "=") {
      this.pos++
      return this.defaults(variable, c)
    }
    if (c === "," || c === "^") {
      const op = this.run(",^", 2)
      this.close(variable)
      return { variable, op, args: [] }
    }
    if (c === "/") {
      this.pos++
      let op = "/"
      const second = src[this.pos]
      if (second === "/" || second === "#" || second === "%") {
        op += second
        this.pos++
      }
      const args = [param((c) => c !== "/", true)]
      if (this.run("/", Number.POSITIVE_INFINITY) === "") this.fail("bad substitution", variable)
      if (src[this.pos] === "}") {
        this.pos++
        return { variable, op, args }
      }
      args.push(param(notClose, true))
      this.close(variable)
      return { variable, op, args }
    }
    if (c === "#" || c === "%") {
      const op = this.run(c, 2)
      const args = [param(notClose, false)]
      this.close(variable)
      return { variable, op, args }
    }
    this.close(variable, "missing closing brace")
    return { variable, op: "", args: [] }
  }

  /** The parts of a default, up to the closing brace. */
  private defaults(variable: string, op: string): Expr {
    const args: Node[] = []
    while (this.src[this.pos] !== "}") {
      const p = this.param((c) => c !== "}", false)
      if (p === undefined) this.fail("unable to parse substitution within function", variable)
      args.push(p)
    }
    this.pos++
    return { variable, op, args }
  }

  /** One argument: a nested expression, or a run of accepted characters stopping before `${`. */
  private param(accept: (c: string) => boolean, escapes: boolean): Node | undefined {
    const { src } = this
    if (this.opens(this.pos)) {
      this.pos += 2
      return this.expr()
    }
    const parts: string[] = []
    let start = this.pos
    while (this.pos < src.length) {
      const c = src[this.pos] as string
      if (c === "$" && src[this.pos + 1] === "{") break
      if (escapes) {
        const n = src[this.pos + 1]
        if ((c === "$" && n === "$") || (c === "\\" && (n === "/" || n === "\\"))) {
          parts.push(src.slice(start, this.pos), n)
          this.pos += 2
          start = this.pos
          continue
        }
      }
      if (!accept(c)) break
      this.pos++
    }
    parts.push(src.slice(start, this.pos))
    const text = parts.join("")
    return text === "" && parts.length === 1 ? undefined : text
  }
}

/** Go's strconv.Atoi: optional sign and decimal digits, int64 range; undefined when Go would fail. */
const atoi = (s: string): number | undefined => {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined
  const n = BigInt(s)
  if (n > 9223372036854775807n || n < -9223372036854775808n) return undefined
  return Number(n)
}

const isAscii = (s: string) => Buffer.byteLength(s, "utf8") === s.length

/** `${var:pos:len}` on UTF-8 bytes, as Go slices strings. */
const substring = (s: string, args: ReadonlyArray<string>, variable: string): string => {
  let pos = atoi(args[0] ?? "")
  if (pos === undefined) return s
  const bytes = isAscii(s) ? undefined : Buffer.from(s, "utf8")
  const len = bytes === undefined ? s.length : bytes.length
  const cut = (from: number, to: number) =>
    bytes === undefined ? s.slice(from, to) : bytes.subarray(from, to).toString("utf8")
  if (pos < 0) pos = Math.max(0, len + pos)
  if (args.length === 1) return pos < len ? cut(pos, len) : ""
  const length = atoi(args[1] as string)
  if (length === undefined) return s
  if (pos + length >= len) return pos < len ? cut(pos, len) : ""
  // Go panics on a negative length (slice bounds); refuse instead.
  if (length < 0)
    throw new SubstitutionSyntaxError({ reason: "negative substring length", line: undefined, variable })
  return cut(pos, pos + length)
}

/** Go's unicode.ToUpper/ToLower map one code point to one; String#toUpperCase may expand ("ß" → "SS"). */
const mapCase = (s: string, upper: boolean): string => {
  const direct = upper ? s.toUpperCase() : s.toLowerCase()
  if (direct.length === s.length && isAscii(s)) return direct
  let out = ""
  for (const c of s) {
    const m = upper ? c.toUpperCase() : c.toLowerCase()
    out += Array.from(m).length === 1 ? m : c
  }
  return out
}

const firstCase = (s: string, upper: boolean): string => {
  const first = String.fromCodePoint(s.codePointAt(0) ?? 0)
  return s === "" ? s : mapCase(first, upper) + s.slice(first.length)
}

type GlobToken =
  | { readonly kind: "star" }
  | { readonly kind: "any" }
  | { readonly kind: "char"; readonly c: string }
  | {
      readonly kind: "class"
      readonly negated: boolean
      readonly ranges: ReadonlyArray<readonly [number, number]>
    }

/**
 * The glob of `${var#glob}` in Flux's dialect (its path.Match fork): `*` any run (slashes too), `?` one
 * character, `[…]`/`[^…]` classes with ranges and `\` escapes. Undefined when malformed: Flux then leaves
 * the value unchanged, which is also what a malformed pattern can only ever give.
 */
const parseGlob = (pattern: ReadonlyArray<string>): GlobToken[] | undefined => {
  const out: GlobToken[] = []
  let i = 0
  const escaped = (): string | undefined => {
    let c = pattern[i]
    if (c === undefined || c === "-" || c === "]") return undefined
    if (c === "\\") {
      c = pattern[++i]
      if (c === undefined) return undefined
    }
    i++
    return pattern[i] === undefined ? undefined : c
  }
  while (i < pattern.length) {
    const c = pattern[i] as string
    if (c === "*") {
      if (out[out.length - 1]?.kind !== "star") out.push({ kind: "star" })
      i++
    } else if (c === "?") {
      out.push({ kind: "any" })
      i++
    } else if (c === "\\") {
      const e = pattern[i + 1]
      if (e === undefined) return undefined
      out.push({ kind: "char", c: e })
      i += 2
    } else if (c === "[") {
      i++
      const negated = pattern[i] === "^"
      if (negated) i++
      const ranges: Array<readonly [number, number]> = []
      for (;;) {
        if (pattern[i] === "]" && ranges.length > 0) {
          i++
          break
        }
        const lo = escaped()
        if (lo === undefined) return undefined
        let hi = lo
        if (pattern[i] === "-") {
          i++
          const h = escaped()
          if (h === undefined) return undefined
          hi = h
        }
        ranges.push([lo.codePointAt(0) as number, hi.codePointAt(0) as number])
      }
      out.push({ kind: "class", negated, ranges })
    } else {
      out.push({ kind: "char", c })
      i++
    }
  }
  return out
}

const tokenMatches = (t: GlobToken, c: string): boolean => {
  if (t.kind === "any" || t.kind === "star") return true
  if (t.kind === "char") return t.c === c
  const cp = c.codePointAt(0) as number
  return t.ranges.some(([lo, hi]) => lo <= cp && cp <= hi) !== t.negated
}

class Evaluator {
  private spent = 0
  private readonly vars: ReadonlyMap<string, string>
  private readonly strict: boolean
  private readonly budget: number
  constructor(vars: ReadonlyMap<string, string>, strict: boolean, budget: number) {
    this.vars = vars
    this.strict = strict
    this.budget = budget
  }

  private charge(units: number): void {
    this.spent += units
    if (this.spent > this.budget) throw new SubstitutionTooLarge({ limit: this.budget })
  }

  nodes(nodes: ReadonlyArray<Node>): string {
    const out = nodes.map((n) => this.node(n))
    return out.join("")
  }

  private node(n: Node): string {
    if (typeof n === "string") {
      this.charge(n.length)
      return n
    }
    const result = this.expr(n)
    this.charge(result.length)
    return result
  }

  private expr(e: Expr): string {
    const args = e.args.map((a) => this.node(a))
    const value = this.vars.get(e.variable)
    const isDefault = e.op === "=" || (e.op.startsWith(":") && e.op.length === 2)
    if (value === undefined && this.strict && !isDefault) throw new VariableNotSet({ variable: e.variable })
    const v = value ?? ""
    const joined = () => {
      const total = args.reduce((n, a) => n + a.length, 0)
      this.charge(total)
      return args.join("")
    }
    switch (e.op) {
      case "#":
        // `${#var}` has no argument; `${var#glob}` has one.
        if (args.length === 0) return String(Buffer.byteLength(v, "utf8"))
        return this.trim(v, args[0] as string, false)
      case "^^":
        return mapCase(v, true)
      case ",,":
        return mapCase(v, false)
      case "^":
        return firstCase(v, true)
      case ",":
        return firstCase(v, false)
      case ":":
        return substring(v, args, e.variable)
      case "/":
        return this.replace(v, args[0] ?? "", args.length > 1 ? (args[1] as string) : "", false)
      case "//":
        return this.replace(v, args[0] ?? "", args.length > 1 ? (args[1] as string) : "", true)
      case "/#":
        if (args.length !== 2) return v
        return v.startsWith(args[0] as string)
          ? this.concat(args[1] as string, v.slice((args[0] as string).length))
          : v
      case "/%":
        if (args.length !== 2) return v
        return v.endsWith(args[0] as string)
          ? this.concat(v.slice(0, v.length - (args[0] as string).length), args[1] as string)
          : v
      case "##":
        return this.trim(v, args[0] ?? "", true)
      case "%":
      case "%%": {
        const reverse = (s: string) => Array.from(s).reverse().join("")
        return reverse(this.trim(reverse(v), reverse(args[0] ?? ""), e.op === "%%"))
      }
      default:
        // Defaults (`=`, `:=`, `:-`, `:?`, `:+`), plain references and unknown case spellings (Flux's toDefault).
        return v === "" && args.length > 0 ? joined() : v
    }
  }

  private concat(a: string, b: string): string {
    this.charge(a.length + b.length)
    return a + b
  }

  /** Go's strings.Replace with a literal pattern; the result's size is charged before it is built. */
  private replace(s: string, pat: string, rep: string, all: boolean): string {
    if (pat === "") {
      if (!all) return this.concat(rep, s)
      const chars = Array.from(s)
      this.charge(s.length + (chars.length + 1) * rep.length)
      return rep + chars.map((c) => c + rep).join("")
    }
    const parts: string[] = []
    let from = 0
    for (let at = s.indexOf(pat); at >= 0; at = all ? s.indexOf(pat, from) : -1) {
      this.charge(at - from + rep.length)
      parts.push(s.slice(from, at), rep)
      from = at + pat.length
    }
    this.charge(s.length - from)
    parts.push(s.slice(from))
    return parts.join("")
  }

  /**
   * Remove the shortest (or longest) non-empty prefix of `s` that `glob` matches, by one NFA pass over `s`
   * (the upstream tries every prefix, which is quadratic); each step is charged to the budget.
   */
  private trim(s: string, glob: string, longest: boolean): string {
    const tokens = parseGlob(Array.from(glob))
    if (tokens === undefined) return s
    const n = tokens.length
    let active = new Uint8Array(n + 1)
    const close = (set: Uint8Array) => {
      for (let i = 0; i < n; i++) if (set[i] === 1 && tokens[i]?.kind === "star") set[i + 1] = 1
    }
    active[0] = 1
    close(active)
    let match = -1
    let offset = 0
    for (const c of s) {
      this.charge(n + 1)
      const next = new Uint8Array(n + 1)
      let any = false
      for (let i = 0; i < n; i++) {
        if (active[i] !== 1) continue
        const t = tokens[i] as GlobToken
        if (!tokenMatches(t, c)) continue
        if (t.kind === "star") next[i] = 1
        next[i + 1] = 1
        any = true
      }
      offset += c.length
      if (!any) break
      close(next)
      active = next
      if (active[n] === 1) {
        match = offset
        if (!longest) break
      }
    }
    return match < 0 ? s : s.slice(match)
  }
}

/** Substitute into `text` without Effect (for callers already inside a try). Throws an {@link EnvsubstError}. */
export const envsubstSync = (
  text: string,
  vars: ReadonlyMap<string, string>,
  strict: boolean,
  maxOutput: number = defaultLimits.maxSubstitutedSize,
): string => new Evaluator(vars, strict, maxOutput).nodes(new Parser(text).all())

/** Substitutes `vars` into `text`; in strict mode a reference without value or default fails. */
export const envsubst = (
  text: string,
  vars: ReadonlyMap<string, string>,
  strict: boolean,
  maxOutput: number = defaultLimits.maxSubstitutedSize,
): Effect.Effect<string, EnvsubstError> =>
  Effect.try({
    try: () => envsubstSync(text, vars, strict, maxOutput),
    catch: (e) => {
      if (
        e instanceof VariableNotSet ||
        e instanceof SubstitutionSyntaxError ||
        e instanceof SubstitutionTooLarge
      )
        return e
      // A RangeError here would be ours (the parser's depth is capped); keep it a defect.
      throw e
    },
  })
