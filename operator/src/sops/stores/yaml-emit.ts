/**
 * Writing YAML like sops does through go-yaml v3's node encoder: block style, `best_indent` spaces per level
 * (default 4; sequences under a key indented too; a mapping in a sequence item two columns after the dash),
 * no line folding, go-yaml's scalar style choice (plain / single / double quotes / literal block) and its
 * comment placement (head comments above, inline comments after the value, trailing comments as a foot
 * comment of the last entry, followed by a blank line when the next line has the same indentation).
 *
 * This is a small re-creation of the emitter's state machine (column, indentation, whitespace flags), so the
 * byte layout follows from the same rules rather than from templates.
 *
 * @module
 */
import {
  type Branch,
  type Comment,
  type Documents,
  isBranch,
  isComment,
  isFloat,
  isList,
  isTimestamp,
  type Value,
} from "../tree.ts"
import { emitError } from "./errors.ts"
import { formatFloatG, timestampText } from "./gofmt.ts"
import { needsQuoting } from "./yaml-resolve.ts"

type Style = "plain" | "single" | "double" | "literal"

interface ScalarOut {
  readonly text: string
  readonly style: Style
  readonly tag?: string
}

const isBreakChar = (c: number): boolean =>
  c === 0x0a || c === 0x0d || c === 0x85 || c === 0x2028 || c === 0x2029
const isSpaceChar = (c: number): boolean => c === 0x20

/** go-yaml's `is_printable` on a code point (non-BMP characters are not printable for go-yaml). */
const isPrintable = (c: number): boolean =>
  c === 0x0a ||
  (c >= 0x20 && c <= 0x7e) ||
  (c >= 0xa0 && c <= 0xd7ff) ||
  (c >= 0xe000 && c <= 0xfffd && c !== 0xfeff)

interface Analysis {
  multiline: boolean
  blockPlainAllowed: boolean
  singleAllowed: boolean
  blockAllowed: boolean
}

/** go-yaml `yaml_emitter_analyze_scalar` (block context). */
const analyze = (value: string): Analysis => {
  if (value.length === 0)
    return { multiline: false, blockPlainAllowed: true, singleAllowed: true, blockAllowed: false }
  let blockIndicators = value.startsWith("---") || value.startsWith("...")
  let lineBreaks = false
  let special = false
  let tabs = false
  let leadingSpace = false
  let leadingBreak = false
  let trailingSpace = false
  let trailingBreak = false
  let breakSpace = false
  let spaceBreak = false
  let precededByWhitespace = true
  let previousSpace = false
  let previousBreak = false
  const cps = Array.from(value, (ch) => ch.codePointAt(0)!)
  cps.forEach((c, i) => {
    const next = cps[i + 1]
    const followedByWhitespace = next === undefined || next === 0x20 || next === 0x09 || isBreakChar(next)
    const ch = String.fromCodePoint(c)
    if (i === 0) {
      if ("#,[]{}&*!|>'\"%@`".includes(ch)) blockIndicators = true
      else if ((ch === "?" || ch === ":") && followedByWhitespace) blockIndicators = true
      else if (ch === "-" && followedByWhitespace) blockIndicators = true
    } else if (ch === ":" && followedByWhitespace) blockIndicators = true
    else if (ch === "#" && precededByWhitespace) blockIndicators = true
    if (c === 0x09) tabs = true
    else if (!isPrintable(c)) special = true
    if (isSpaceChar(c)) {
      if (i === 0) leadingSpace = true
      if (i === cps.length - 1) trailingSpace = true
      if (previousBreak) breakSpace = true
      previousSpace = true
      previousBreak = false
    } else if (isBreakChar(c)) {
      lineBreaks = true
      if (i === 0) leadingBreak = true
      if (i === cps.length - 1) trailingBreak = true
      if (previousSpace) spaceBreak = true
      previousSpace = false
      previousBreak = true
    } else {
      previousSpace = false
      previousBreak = false
    }
    precededByWhitespace = c === 0x20 || c === 0x09 || isBreakChar(c)
  })
  let blockPlainAllowed = true
  let singleAllowed = true
  let blockAllowed = true
  if (leadingSpace || leadingBreak || trailingSpace || trailingBreak) blockPlainAllowed = false
  if (trailingSpace) blockAllowed = false
  if (breakSpace) {
    blockPlainAllowed = false
    singleAllowed = false
  }
  if (spaceBreak || tabs || special) {
    blockPlainAllowed = false
    singleAllowed = false
  }
  if (spaceBreak || special) blockAllowed = false
  if (lineBreaks) blockPlainAllowed = false
  if (blockIndicators) blockPlainAllowed = false
  return { multiline: lineBreaks, blockPlainAllowed, singleAllowed, blockAllowed }
}

/** go-yaml's encoder style for a Go string, then the emitter's fallbacks. */
const stringStyle = (s: string, simpleKey: boolean): Style => {
  let style: Style = s.includes("\n") ? "literal" : needsQuoting(s) ? "double" : "plain"
  const a = analyze(s)
  if (simpleKey && a.multiline) style = "double"
  if (style === "plain") {
    if (!a.blockPlainAllowed) style = "single"
    if (s.length === 0 && simpleKey) style = "single"
  }
  if (style === "single" && !a.singleAllowed) style = "double"
  if (style === "literal" && (!a.blockAllowed || simpleKey)) style = "double"
  return style
}

const hex = (n: number, w: number): string => n.toString(16).toUpperCase().padStart(w, "0")

const ESC: Record<number, string> = {
  0: "0",
  7: "a",
  8: "b",
  9: "t",
  10: "n",
  11: "v",
  12: "f",
  13: "r",
  27: "e",
  34: '"',
  92: "\\",
  133: "N",
  160: "_",
  8232: "L",
  8233: "P",
}

const doubleQuoted = (s: string): string => {
  let out = '"'
  for (const ch of s) {
    const c = ch.codePointAt(0)!
    if (!isPrintable(c) || c === 0xfeff || isBreakChar(c) || c === 0x22 || c === 0x5c) {
      const e = ESC[c]
      if (e !== undefined) out += `\\${e}`
      else if (c <= 0xff) out += `\\x${hex(c, 2)}`
      else if (c <= 0xffff) out += `\\u${hex(c, 4)}`
      else out += `\\U${hex(c, 8)}`
    } else out += ch
  }
  return `${out}"`
}

const base64Lines = (b: Uint8Array): string => {
  const enc = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64")
  if (enc.length < 70) return enc
  let out = ""
  for (let i = 0; i < enc.length; i += 70) out += `${enc.slice(i, i + 70)}\n`
  return out
}

const scalarOut = (v: Value, simpleKey: boolean, path: ReadonlyArray<string>): ScalarOut => {
  if (v === null) return { text: "null", style: "plain" }
  // go-yaml's Node.Encode re-parses its own output, and a plain `<<` comes back tagged !!merge, which the
  // emitter then writes explicitly.
  if (v === "<<") return { text: v, style: "plain", tag: "!!merge" }
  if (typeof v === "string") return { text: v, style: stringStyle(v, simpleKey) }
  if (typeof v === "boolean") return { text: v ? "true" : "false", style: "plain" }
  if (typeof v === "bigint") return { text: v.toString(), style: "plain" }
  if (isFloat(v)) {
    const t = formatFloatG(v.value)
    return { text: t === "+Inf" ? ".inf" : t === "-Inf" ? "-.inf" : t === "NaN" ? ".nan" : t, style: "plain" }
  }
  if (isTimestamp(v)) return { text: timestampText(v), style: "plain" }
  if (v instanceof Uint8Array) {
    const text = base64Lines(v)
    return { text, style: text.includes("\n") ? "literal" : "plain", tag: "!!binary" }
  }
  throw emitError("yaml", "unsupported scalar type", { path: [...path] })
}

interface Entry {
  readonly key?: string
  readonly value: Value
  readonly head: ReadonlyArray<string>
  readonly line: ReadonlyArray<string>
  readonly foot: ReadonlyArray<string>
}

interface Entries {
  readonly entries: Array<Entry>
  /** Non-inline comments before the first entry: the container's own head comment in sops' node tree. */
  readonly leading: Array<string>
  /** All comments of a container without entries (its head comment). */
  readonly empty: Array<string>
}

/** Groups comment items with the entry they attach to, as sops' tree → yaml.Node conversion does. */
const entriesOf = (items: ReadonlyArray<{ key?: string; value: Value } | Comment>): Entries => {
  const entries: Array<Entry> = []
  let leading: Array<string> = []
  let head: Array<string> = []
  let line: Array<string> = []
  for (const it of items) {
    if (isComment(it)) {
      if (it.inline) line.push(`#${it.value}`)
      else head.push(`#${it.value}`)
      continue
    }
    if (entries.length === 0) {
      leading = head
      head = []
    }
    entries.push({ ...(it.key === undefined ? {} : { key: it.key }), value: it.value, head, line, foot: [] })
    head = []
    line = []
  }
  const rest = [...head, ...line]
  if (entries.length === 0) return { entries, leading: [], empty: rest }
  if (rest.length > 0) entries.push({ ...entries.pop()!, foot: rest })
  return { entries, leading, empty: [] }
}

/** The head comment sops gives a container value (its leading comments, or all comments when it is empty). */
const containerHead = (v: Value): Array<string> => {
  if (isBranch(v)) {
    const e = entriesOf(
      v.items.map((it) => (isComment(it.key) ? it.key : { key: it.key, value: it.value as Value })),
    )
    return e.entries.length === 0 ? e.empty : e.leading
  }
  if (isList(v)) {
    const e = entriesOf(v.items.map((it) => (isComment(it) ? it : { value: it })))
    return e.entries.length === 0 ? e.empty : e.leading
  }
  return []
}

/** A mapping or sequence with at least one entry (written in block style; empty ones are flow `{}`/`[]`). */
const isBlock = (v: Value): boolean =>
  (isBranch(v) && v.items.some((i) => !isComment(i.key))) || (isList(v) && v.items.some((e) => !isComment(e)))

/** A go-yaml-like emitter for sops trees. */
class Emitter {
  out = ""
  column = 0
  indent = -1
  indents: Array<number> = []
  whitespace = true
  indention = true
  footIndent = -1
  openEnded = false
  readonly best: number
  constructor(best: number) {
    this.best = best
  }
  put(s: string): void {
    this.out += s
    this.column += s.length
  }
  putBreak(): void {
    this.out += "\n"
    this.column = 0
    this.indention = true
  }
  writeIndent(): void {
    const indent = Math.max(this.indent, 0)
    if (!this.indention || this.column > indent || (this.column === indent && !this.whitespace))
      this.putBreak()
    if (this.footIndent === indent) this.putBreak()
    while (this.column < indent) this.put(" ")
    this.whitespace = true
    this.footIndent = -1
  }
  indicator(s: string, needWhitespace: boolean, isWhitespace: boolean, isIndention: boolean): void {
    if (needWhitespace && !this.whitespace) this.put(" ")
    this.put(s)
    this.whitespace = isWhitespace
    this.indention = this.indention && isIndention
    this.openEnded = false
  }
  writeComment(lines: ReadonlyArray<string>): void {
    lines.forEach((l, i) => {
      if (i > 0) this.writeIndent()
      this.put(l.startsWith("#") ? l : `# ${l}`)
      this.indention = false
      this.putBreak()
    })
    this.whitespace = true
  }
  headComment(lines: ReadonlyArray<string>): void {
    if (lines.length === 0) return
    this.writeIndent()
    this.writeComment(lines)
  }
  lineComment(lines: ReadonlyArray<string>): void {
    if (lines.length === 0) return
    if (!this.whitespace) this.put(" ")
    this.writeComment(lines)
  }
  footComment(lines: ReadonlyArray<string>): void {
    if (lines.length === 0) return
    this.writeIndent()
    this.writeComment(lines)
    this.footIndent = Math.max(this.indent, 0)
  }
  increaseIndent(inSequenceItem: boolean, flow = false): void {
    this.indents.push(this.indent)
    if (this.indent < 0) this.indent = flow ? this.best : 0
    else if (inSequenceItem) this.indent += 2
    else this.indent = this.best * Math.floor((this.indent + this.best) / this.best)
  }
  popIndent(): void {
    this.indent = this.indents.pop() ?? -1
  }

  /** A line comment go-yaml writes right after a literal block's header (`| #c`); consumed there. */
  literalLine: ReadonlyArray<string> = []

  scalar(s: ScalarOut, inSequenceItem: boolean): void {
    if (s.tag !== undefined) this.indicator(s.tag, true, false, false)
    this.increaseIndent(inSequenceItem)
    switch (s.style) {
      case "plain":
        if (!this.whitespace && s.text.length > 0) this.put(" ")
        this.put(s.text)
        if (s.text.length > 0) this.whitespace = false
        this.indention = false
        break
      case "single":
        this.indicator("'", true, false, false)
        this.put(s.text.replaceAll("'", "''"))
        this.indicator("'", false, false, false)
        break
      case "double":
        this.indicator(doubleQuoted(s.text).slice(0, -1), true, false, false)
        this.indicator('"', false, false, false)
        break
      case "literal":
        this.literal(s.text)
        break
    }
    this.popIndent()
  }
  literal(value: string): void {
    this.indicator("|", true, false, false)
    const first = value.codePointAt(0)
    if (first !== undefined && (isSpaceChar(first) || isBreakChar(first)))
      this.indicator(String(this.best), false, false, false)
    this.openEnded = false
    let chomp = ""
    const cps = Array.from(value, (c) => c.codePointAt(0)!)
    if (cps.length === 0) chomp = "-"
    else if (!isBreakChar(cps[cps.length - 1]!)) chomp = "-"
    else if (cps.length === 1 || isBreakChar(cps[cps.length - 2]!)) {
      chomp = "+"
      this.openEnded = true
    }
    if (chomp !== "") {
      const keep = this.openEnded
      this.indicator(chomp, false, false, false)
      this.openEnded = keep
    }
    if (this.literalLine.length > 0) {
      this.lineComment(this.literalLine)
      this.literalLine = []
    } else this.putBreak()
    this.whitespace = true
    let breaks = true
    for (const ch of value) {
      if (ch === "\n") {
        this.putBreak()
        breaks = true
      } else {
        if (breaks) this.writeIndent()
        this.put(ch)
        this.indention = false
        breaks = false
      }
    }
  }

  /**
   * A value in a block context; `inSequenceItem` when it is directly a sequence element (then its container
   * head comment has already been written before the dash, as go-yaml does).
   */
  node(v: Value, inSequenceItem: boolean, path: Array<string>): void {
    if (isBranch(v)) this.mapping(v, inSequenceItem, path)
    else if (isList(v)) this.sequence(v.items, inSequenceItem, path)
    else this.scalar(scalarOut(v, false, path), inSequenceItem)
  }

  /** Comments waiting for the next head-comment slot (an empty flow sequence's head comment, as go-yaml does). */
  pending: ReadonlyArray<string> = []

  head(lines: ReadonlyArray<string>): void {
    // go-yaml keeps one pending head comment; a new non-empty one replaces it.
    const use = lines.length > 0 ? lines : this.pending
    this.pending = []
    this.headComment(use)
  }

  mapping(b: Branch, inSequenceItem: boolean, path: Array<string>): void {
    const { entries, leading, empty } = entriesOf(
      b.items.map((it) => (isComment(it.key) ? it.key : { key: it.key, value: it.value as Value })),
    )
    if (entries.length === 0) {
      this.indicator("{", true, true, false)
      this.increaseIndent(inSequenceItem, true)
      if (!inSequenceItem && empty.length > 0) {
        this.head(empty)
      }
      this.popIndent()
      this.indicator("}", false, false, false)
      return
    }
    this.increaseIndent(inSequenceItem)
    entries.forEach((e, i) => {
      const key = e.key!
      this.head(i === 0 && !inSequenceItem ? [...leading, ...e.head] : e.head)
      this.writeIndent()
      const k = scalarOut(key, true, path)
      const simple = Buffer.byteLength(key) <= 128 && !k.text.includes("\n")
      path.push(key)
      if (simple) {
        this.scalar(k, false)
        this.indicator(":", false, false, false)
      } else {
        this.indicator("?", true, false, true)
        this.scalar(scalarOut(key, false, path), false)
        this.writeIndent()
        this.indicator(":", true, false, true)
      }
      // go-yaml writes a block collection's line comment right after the key; an empty (flow) one gets it
      // after its brackets so that the output stays valid YAML.
      const before = isBlock(e.value)
      if (before) this.lineComment(e.line)
      if (!before) this.literalLine = e.line
      this.node(e.value, false, path)
      const consumed = this.literalLine.length === 0
      this.literalLine = []
      path.pop()
      if (!before && !consumed) this.lineComment(e.line)
      this.footComment(e.foot)
    })
    // The mapping's end is a head-comment slot in go-yaml: a pending comment is written here.
    this.head([])
    this.popIndent()
  }

  sequence(items: ReadonlyArray<Value | Comment>, inSequenceItem: boolean, path: Array<string>): void {
    const { entries, leading, empty } = entriesOf(items.map((it) => (isComment(it) ? it : { value: it })))
    if (entries.length === 0) {
      this.indicator("[", true, true, false)
      this.indicator("]", false, false, false)
      if (!inSequenceItem && empty.length > 0) this.pending = empty
      return
    }
    this.increaseIndent(inSequenceItem)
    entries.forEach((e, i) => {
      // A container element's own head comment goes before its dash, after the comments that precede it.
      const own = containerHead(e.value)
      this.head([...(i === 0 && !inSequenceItem ? leading : []), ...e.head, ...own])
      this.writeIndent()
      this.indicator("-", true, false, true)
      const before = isBlock(e.value)
      if (before) this.lineComment(e.line)
      if (!before) this.literalLine = e.line
      this.node(e.value, true, path)
      const consumed = this.literalLine.length === 0
      this.literalLine = []
      if (!before && !consumed) this.lineComment(e.line)
      this.footComment(e.foot)
    })
    this.popIndent()
  }

  document(b: Branch, first: boolean): void {
    if (!first) {
      this.writeIndent()
      this.indicator("---", true, false, false)
      this.writeIndent()
    }
    this.indent = -1
    this.mapping(b, false, [])
    this.footIndent = -1
    this.writeIndent()
  }
}

/** The YAML text sops writes for these documents (`best` = indentation, go-yaml clamps it to 2..9). */
export const emitYaml = (docs: Documents, indent: number): string => {
  const best = indent < 2 || indent > 9 ? 2 : indent
  const e = new Emitter(best)
  docs.forEach((d, i) => {
    e.document(d, i === 0)
  })
  // go-yaml's Encoder.Close clears open_ended before the stream end: no `...` after a trailing `|+` block.
  return e.out
}
