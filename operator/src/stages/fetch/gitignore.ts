/**
 * gitignore patterns (the syntax of `.sourceignore` and `spec.ignore`) compiled to RE2, so matching a path
 * costs time linear in the path and the pattern whatever a tenant writes: no backtracking regular expression
 * ever sees a user pattern (11 `**` segments used to take seconds with a JS-regex matcher).
 *
 * The semantics are git's (`dir.c` parsing, `wildmatch.c` with WM_PATHNAME), checked against the real git in
 * gitignore.test.ts: comments, blank lines, trailing-space trimming with `\ ` escapes, `!` negation, `/`
 * dir-only, anchoring when a slash is present, `**` in leading/middle/trailing position, classes with `!`/`^`
 * negation, ranges and POSIX names, backslash escapes. Characters are matched as code points (as go-git, which
 * Flux uses, does), so non-ASCII names behave as in Flux rather than byte by byte as in git.
 *
 * @module
 */
import { RE2JS } from "re2js"

/** One compiled pattern line. */
export interface IgnoreRule {
  /** `!pattern`: a match re-includes. */
  readonly negate: boolean
  /** `pattern/`: matches directories only. */
  readonly dirOnly: boolean
  /** No slash in the pattern: matched against the last path segment at any depth. */
  readonly basename: boolean
  /** 1-based line in its file, for messages. */
  readonly line: number
  /** Full match of a basename or base-relative path (no trailing slash). */
  readonly test: (subject: string) => boolean
}

/** A pattern line before compilation (comments and blank lines already dropped). */
export interface PatternLine {
  readonly text: string
  readonly line: number
}

const slash = 0x2f
const maxCodePoint = 0x10ffff

/** git's `trim_trailing_spaces`: drop trailing spaces unless the first of them is escaped by a backslash. */
const trimTrailingSpaces = (s: string): string => {
  let lastSpace = -1
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (c === " ") {
      if (lastSpace < 0) lastSpace = i
    } else if (c === "\\") {
      i++
      if (i >= s.length) return s
      lastSpace = -1
    } else lastSpace = -1
  }
  return lastSpace < 0 ? s : s.slice(0, lastSpace)
}

/** The pattern lines of a gitignore file: BOM, CRLF, comments, blank lines and trailing spaces handled as git. */
export const patternLines = (content: string): PatternLine[] => {
  const text = content.startsWith("\uFEFF") ? content.slice(1) : content
  const out: PatternLine[] = []
  const lines = text.split("\n")
  for (let n = 0; n < lines.length; n++) {
    let raw = lines[n] as string
    if (raw.endsWith("\r")) raw = raw.slice(0, -1)
    if (raw === "" || raw.startsWith("#")) continue
    const trimmed = trimTrailingSpaces(raw)
    if (trimmed === "") continue
    out.push({ text: trimmed, line: n + 1 })
  }
  return out
}

type Range = readonly [number, number]

// ASCII classes as git's sane_ctype defines them (wildmatch.c); git never consults the locale.
const posixClasses: Record<string, ReadonlyArray<Range>> = {
  alnum: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  alpha: [
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  blank: [
    [0x09, 0x09],
    [0x20, 0x20],
  ],
  cntrl: [
    [0x00, 0x1f],
    [0x7f, 0x7f],
  ],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [
    [0x21, 0x2f],
    [0x3a, 0x40],
    [0x5b, 0x60],
    [0x7b, 0x7e],
  ],
  space: [
    [0x09, 0x0a],
    [0x0d, 0x0d],
    [0x20, 0x20],
  ],
  upper: [[0x41, 0x5a]],
  xdigit: [
    [0x30, 0x39],
    [0x41, 0x46],
    [0x61, 0x66],
  ],
}

const hex = (cp: number) => `\\x{${cp.toString(16)}}`
const isWordChar = (cp: number) =>
  (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a) || cp === 0x5f
const literal = (cp: number) => (isWordChar(cp) ? String.fromCodePoint(cp) : hex(cp))

/** Sorted, merged ranges with `/` removed (WM_PATHNAME: a class never matches a slash); complemented if negated. */
const classRanges = (ranges: ReadonlyArray<Range>, negated: boolean): Range[] => {
  const sorted = ranges.filter(([lo, hi]) => lo <= hi).sort((a, b) => a[0] - b[0])
  const merged: Array<[number, number]> = []
  for (const [lo, hi] of sorted) {
    const last = merged[merged.length - 1]
    if (last !== undefined && lo <= last[1] + 1) last[1] = Math.max(last[1], hi)
    else merged.push([lo, hi])
  }
  let set: Range[] = merged
  if (negated) {
    const comp: Range[] = []
    let next = 0
    for (const [lo, hi] of merged) {
      if (lo > next) comp.push([next, lo - 1])
      next = hi + 1
    }
    if (next <= maxCodePoint) comp.push([next, maxCodePoint])
    set = comp
  }
  const out: Range[] = []
  for (const [lo, hi] of set) {
    if (lo <= slash && slash <= hi) {
      if (lo < slash) out.push([lo, slash - 1])
      if (hi > slash) out.push([slash + 1, hi])
    } else out.push([lo, hi])
  }
  return out
}

/** Thrown by the translator where wildmatch returns WM_ABORT_ALL: the pattern can never match. */
class Never extends Error {}

/**
 * Parse the class starting at `p[i] === "["` as wildmatch.c does; returns the RE2 class and the index after
 * its closing `]`.
 */
const translateClass = (p: ReadonlyArray<string>, start: number): [string, number] => {
  let i = start + 1
  let c: string | undefined = p[i]
  if (c === "!") c = "^"
  const negated = c === "^"
  if (negated) c = p[++i]
  const ranges: Range[] = []
  // `prev` is the previous class character, or undefined right after a range or a [:name:] (as git's prev_ch=0).
  let prev: string | undefined
  do {
    if (c === undefined) throw new Never()
    const cp = (s: string) => s.codePointAt(0) as number
    if (c === "\\") {
      c = p[++i]
      if (c === undefined) throw new Never()
      ranges.push([cp(c), cp(c)])
    } else if (c === "-" && prev !== undefined && p[i + 1] !== undefined && p[i + 1] !== "]") {
      c = p[++i] as string
      if (c === "\\") {
        c = p[++i]
        if (c === undefined) throw new Never()
      }
      ranges.push([cp(prev), cp(c)])
      c = undefined
    } else if (c === "[" && p[i + 1] === ":") {
      let j = i + 2
      while (p[j] !== undefined && p[j] !== "]") j++
      if (p[j] === undefined) throw new Never()
      if (j - (i + 2) - 1 < 0 || p[j - 1] !== ":") {
        // No ":]": the "[" is an ordinary class character.
        ranges.push([cp("["), cp("[")])
      } else {
        const name = p.slice(i + 2, j - 1).join("")
        const cls = posixClasses[name]
        if (cls === undefined) throw new Never()
        ranges.push(...cls)
        i = j
        c = undefined
      }
    } else ranges.push([cp(c), cp(c)])
    prev = c
    c = p[++i]
  } while (c !== "]")
  const set = classRanges(ranges, negated)
  const body = set.map(([lo, hi]) => (lo === hi ? hex(lo) : `${hex(lo)}-${hex(hi)}`)).join("")
  return [set.length === 0 ? "[^\\x{0}-\\x{10ffff}]" : `[${body}]`, i + 1]
}

/**
 * A translated pattern: the RE2 source, and the literal runs every match must contain (with whether the
 * pattern starts or ends with one), which reject most paths with a string comparison before the regex runs.
 */
export interface Translated {
  readonly source: string
  readonly literals: ReadonlyArray<string>
  readonly literalStart: boolean
  readonly literalEnd: boolean
}

/** wildmatch (WM_PATHNAME) → RE2 for a full match; undefined if the pattern can never match. */
export const wildmatchToRe2 = (pattern: string): Translated | undefined => {
  const p = Array.from(pattern)
  let re = ""
  const literals: string[] = []
  let run = ""
  let literalStart = false
  let lastWasLiteral = false
  const wild = (source: string) => {
    if (run !== "") literals.push(run)
    run = ""
    re += source
    lastWasLiteral = false
  }
  const lit = (c: string) => {
    if (re === "") literalStart = true
    run += c
    re += literal(c.codePointAt(0) as number)
    lastWasLiteral = true
  }
  try {
    let i = 0
    while (i < p.length) {
      const c = p[i] as string
      if (c === "*") {
        let j = i
        while (p[j] === "*") j++
        const atSegmentStart = i === 0 || p[i - 1] === "/"
        const next = p[j]
        const escapedSlashNext = next === "\\" && p[j + 1] === "/"
        if (j - i >= 2 && atSegmentStart && (next === undefined || next === "/" || escapedSlashNext)) {
          if (next === "/") {
            // `**/` matches zero or more whole directories.
            wild("(?:.*/)?")
            i = j + 1
          } else {
            // At the end, or before `\/` (which must then match a real slash): anything, slashes included.
            wild(".*")
            i = j
          }
        } else {
          wild("[^/]*")
          i = j
        }
      } else if (c === "?") {
        wild("[^/]")
        i++
      } else if (c === "[") {
        const [cls, after] = translateClass(p, i)
        wild(cls)
        i = after
      } else if (c === "\\") {
        const e = p[i + 1]
        if (e === undefined) throw new Never()
        lit(e)
        i += 2
      } else {
        lit(c)
        i++
      }
    }
  } catch (e) {
    if (e instanceof Never) return undefined
    throw e
  }
  if (run !== "") literals.push(run)
  return { source: re, literals, literalStart, literalEnd: lastWasLiteral }
}

const isGlobSpecial = (c: string) => c === "*" || c === "?" || c === "[" || c === "\\"

/** Compile one pattern line (as returned by {@link patternLines}). */
export const compileRule = ({ text, line }: PatternLine): IgnoreRule => {
  let body = text
  const negate = body.startsWith("!")
  if (negate) body = body.slice(1)
  const dirOnly = body.endsWith("/")
  if (dirOnly) body = body.slice(0, -1)
  const basename = !body.includes("/")
  if (!basename && body.startsWith("/")) body = body.slice(1)
  let test: (s: string) => boolean
  if (!Array.from(body).some(isGlobSpecial)) {
    // Literal patterns (most of them) skip the regex engine, as git does.
    test = (s) => s === body
  } else {
    const t = wildmatchToRe2(body)
    if (t === undefined) test = () => false
    else {
      const compiled = RE2JS.compile(t.source)
      const first = t.literalStart ? t.literals[0] : undefined
      const last = t.literalEnd ? t.literals[t.literals.length - 1] : undefined
      const longest = t.literals.reduce((a, b) => (b.length > a.length ? b : a), "")
      test = (s) =>
        (first === undefined || s.startsWith(first)) &&
        (last === undefined || s.endsWith(last)) &&
        (longest === "" || s.includes(longest)) &&
        compiled.matches(s)
    }
  }
  return { negate, dirOnly, basename, line, test }
}

/**
 * The verdict of `rules` (in file order) for `rel`, a path relative to the rules' directory without trailing
 * slash: true (excluded), false (re-included by a negation) or undefined (no rule matches). The last matching
 * rule wins, as in git.
 */
export const matchRules = (
  rules: ReadonlyArray<IgnoreRule>,
  rel: string,
  isDir: boolean,
): boolean | undefined => {
  const base = rel.slice(rel.lastIndexOf("/") + 1)
  for (let i = rules.length - 1; i >= 0; i--) {
    const r = rules[i] as IgnoreRule
    if (r.dirOnly && !isDir) continue
    if (r.test(r.basename ? base : rel)) return !r.negate
  }
  return undefined
}
