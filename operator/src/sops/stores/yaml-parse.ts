/**
 * Reading YAML like sops does: go-yaml v3 documents, scalars resolved with go-yaml's rules (yaml-resolve.ts),
 * aliases expanded, `<<` kept as an ordinary key, duplicate keys (first document) and non-string keys
 * rejected, invalid UTF-8 refused. The `yaml` package gives the syntax tree with scalar styles and tags; the
 * typing and the comment placement are ours.
 *
 * Comments land where go-yaml attaches them (which decides the AAD of encrypted comments), checked against
 * sops 3.13.3: head comments before their key/element (`#` alone is an empty comment); a scalar's end-of-line
 * comment as an inline comment before its item; `key: # c` above a block before the key; a block element's
 * leading comments before the element; trailing comments of a block that is followed by a less indented line
 * sink into the innermost block that just ended, while at the end of a document they are placed by indentation
 * (a sequence ending in a sequence hands them to the root); comments on their own lines inside flow brackets
 * are dropped.
 *
 * Hostile input (repository content) is bounded: aliases expand under go-yaml's alias budget (yaml-budget.ts),
 * anchors are resolved once per document instead of by a walk per alias (the `yaml` package's
 * `Alias.resolve` visits the whole document every time), offsets become line/column through a line index,
 * and everything read from the source for a node is memoized per node, so that an alias expanded many times
 * never rescans the text. Every step is linear in the source plus the (budgeted) expansion.
 *
 * @module
 */
import {
  type Alias,
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type Node,
  parseAllDocuments,
  visit,
  type Scalar as YScalar,
} from "yaml"
import {
  type Branch,
  branch,
  comment,
  type Documents,
  float,
  type Item,
  isBranch as isBranchValue,
  isComment as isCommentValue,
  isList as isListValue,
  list,
  type Value,
} from "../tree.ts"
import { parseError } from "./errors.ts"
import { type LineIndex, lineIndex } from "./line-index.ts"
import { type AliasBudget, aliasBudget } from "./yaml-budget.ts"
import { parseGoInt, parseYamlTimestamp, resolvePlain } from "./yaml-resolve.ts"

const TAG = "tag:yaml.org,2002:"

/** Index of the last non-comment entry (entries mapped to undefined are comments). */
const lastEntry = (entries: ReadonlyArray<unknown>): number | undefined => {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i] !== undefined) return i
  return undefined
}

interface Bubble {
  readonly text: string
  readonly column: number
  /** Offset just after the comment's line. */
  readonly end?: number
}
const MAX_DEPTH = 1000

const EMPTY: ReadonlyArray<string> = []
const splitComment = (text: string | null | undefined): ReadonlyArray<string> =>
  text == null || text === "" ? EMPTY : text.split("\n").filter((l) => l.length > 0)

/** What the documents of one file share: the source, its line index, the alias budget. */
interface Source {
  readonly text: string
  readonly lines: LineIndex
  readonly budget: AliasBudget
  /** Offsets of every `#` in the text, ascending (built on first use). */
  hashes?: Array<number>
}

/**
 * The parser and the tree walk recurse; a document nested deeper than the stack allows is refused as input,
 * never surfaced as a crash.
 */
const boundedStack = <A>(f: () => A): A => {
  try {
    return f()
  } catch (e) {
    if (e instanceof RangeError && /call stack/i.test(e.message)) throw parseError("yaml", "nesting too deep")
    throw e
  }
}

/** Parses YAML text into one Branch per document. */
export const parseYaml = (text: string): Documents => {
  const docs = boundedStack(() =>
    parseAllDocuments(text, {
      schema: "failsafe",
      keepSourceTokens: false,
      uniqueKeys: false,
      merge: false,
      strict: false,
      prettyErrors: false,
      stringKeys: false,
    }),
  )
  const list_ = Array.isArray(docs) ? docs : [docs]
  const source: Source = { text, lines: lineIndex(text), budget: aliasBudget(text.length) }
  const out: Array<Branch> = []
  list_.forEach((doc, index) => {
    for (const e of doc.errors) {
      const at = source.lines.at(e.pos[0])
      throw parseError("yaml", `invalid YAML (${e.code})`, at)
    }
    out.push(boundedStack(() => documentToBranch(doc, source, index === 0)))
  })
  return out
}

/**
 * The node each alias of the document points to: the last node with that anchor before the alias, in the
 * order the `yaml` package's `Alias.resolve` uses (its `visit` order) — found in one walk for all aliases.
 */
const aliasTargets = (doc: Document.Parsed): Map<Alias, Node | undefined> => {
  const targets = new Map<Alias, Node | undefined>()
  const latest = new Map<string, Node>()
  visit(doc, {
    Node: (_key, node) => {
      if (isAlias(node)) targets.set(node, latest.get(node.source))
      else if (node.anchor) latest.set(node.anchor, node)
    },
  })
  return targets
}

/** `f` memoized per node object (the node's source never changes while a file is read). */
const perNode = <A>(f: (node: object) => A): ((node: object) => A) => {
  const memo = new WeakMap<object, A>()
  return (node) => {
    if (memo.has(node)) return memo.get(node) as A
    const v = f(node)
    memo.set(node, v)
    return v
  }
}

const documentToBranch = (doc: Document.Parsed, source: Source, first: boolean): Branch => {
  const { text, lines, budget } = source
  const lineColumn = (_text: string, offset: number) => lines.at(offset)
  const commentCache = new Map<string, ReadonlyArray<string>>()
  /** A comment's lines; cached, since an alias copies its target's comments at every expansion. */
  const commentLines = (c: string | null | undefined): ReadonlyArray<string> => {
    if (c == null || c === "") return EMPTY
    const cached = commentCache.get(c)
    if (cached !== undefined) return cached
    const v = splitComment(c)
    commentCache.set(c, v)
    return v
  }
  const targets = aliasTargets(doc)
  const at = (node: { range?: readonly [number, number, number] | null | undefined } | null | undefined) =>
    node?.range ? lineColumn(text, node.range[0]) : {}
  const fail = (
    reason: string,
    node: { range?: readonly [number, number, number] | null } | null,
    path: ReadonlyArray<string>,
  ): never => {
    throw parseError("yaml", reason, { ...at(node), path: [...path] })
  }
  const anchors = new Set<Node>()
  /** Counts one node (or comment line) against the alias budget; fails where the budget runs out. */
  const tick = (
    chars: number,
    node: { range?: readonly [number, number, number] | null } | null,
    path: ReadonlyArray<string>,
  ) => {
    const exhausted = budget.count(chars)
    if (exhausted !== undefined) fail(exhausted, node, path)
  }

  const scalarValue = (n: YScalar, path: ReadonlyArray<string>): Value => {
    // The yaml package represents a `<<` key as a symbol.
    const raw = typeof n.value === "symbol" ? "<<" : String(n.value ?? "")
    const tag = n.tag
    const plain = n.type === "PLAIN" || n.type === undefined
    if (tag === undefined || tag === "!") {
      if (!plain || tag === "!") return raw
      const r = resolvePlain(raw)
      if (r.tag === "uint64") return fail("integer does not fit in a signed 64-bit integer", n, path)
      return r.value
    }
    if (!tag.startsWith(TAG)) return raw // custom tags are dropped, the text kept
    const kind = tag.slice(TAG.length)
    const r = plain ? resolvePlain(raw, true) : ({ tag: "str", value: raw } as const)
    switch (kind) {
      case "str":
        return raw
      case "binary": {
        if (n.value instanceof Uint8Array) return new TextDecoder().decode(n.value)
        const clean = raw.replace(/\s+/g, "")
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 !== 0)
          return fail("!!binary value is not valid base64", n, path)
        return new TextDecoder().decode(Buffer.from(clean, "base64"))
      }
      case "null":
        if (resolvePlain(raw).tag === "null") return null
        break
      case "bool":
        if (resolvePlain(raw).tag === "bool") return resolvePlain(raw).value
        break
      case "int": {
        const v = resolvePlain(raw, false)
        if (v.tag === "int") return v.value
        const g = parseGoInt(raw.replaceAll("_", ""))
        if (g !== undefined && v.tag === "uint64")
          return fail("integer does not fit in a signed 64-bit integer", n, path)
        break
      }
      case "float": {
        const v = resolvePlain(raw, false)
        if (v.tag === "float") return v.value
        if (v.tag === "int") return float(Number(v.value))
        break
      }
      case "timestamp": {
        const ts = parseYamlTimestamp(raw)
        if (ts !== undefined) return ts
        break
      }
      case "merge":
        // go-yaml tags a plain `<<` as !!merge; sops reads it back as the string "<<".
        return raw
      case "map":
      case "seq":
        break
      default:
        return raw
    }
    void r
    return fail(`cannot decode the scalar as !!${kind}`, n, path)
  }

  const keyOf = (k: unknown, path: ReadonlyArray<string>): string => {
    if (isScalar(k)) {
      const v = scalarValue(k, path)
      if (typeof v === "string") return v
      return fail("Tree contains a non-string key; only string keys are supported", k, path)
    }
    if (isAlias(k)) {
      const target = targets.get(k)
      if (isScalar(target)) return keyOf(target, path)
    }
    return fail(
      "Tree contains a non-string key; only string keys are supported",
      (k as Node | null) ?? null,
      path,
    )
  }

  const resolveAlias = (a: Alias, path: ReadonlyArray<string>): Node => {
    const target = targets.get(a)
    if (target === undefined) return fail(`unknown anchor`, a, path)
    if (anchors.has(target)) return fail("anchor refers to itself (recursive alias)", a, path)
    return target
  }

  /**
   * Trailing comments of a block collection, split like go-yaml: lines indented at least as far as the
   * collection's items stay in it (foot comments of its last entry); lines further left belong to an enclosing
   * collection and bubble up to it. The `yaml` package attaches them to the innermost collection instead.
   */
  type Trailing = {
    own: ReadonlyArray<string>
    ownFound: ReadonlyArray<Bubble> | undefined
    up: ReadonlyArray<Bubble>
    atEnd: boolean
  }
  const trailingMemo = new WeakMap<object, Trailing>()
  // `lastEnd` comes from the node's own last entry, so the answer is one per node: memoized.
  const trailingComments = (
    node: { comment?: string | null; range?: readonly [number, number, number] | null },
    lastEnd: number | undefined,
  ): Trailing => {
    const cached = trailingMemo.get(node)
    if (cached !== undefined) return cached
    const t = trailingCommentsOf(node, lastEnd)
    trailingMemo.set(node, t)
    return t
  }
  const trailingCommentsOf = (
    node: { comment?: string | null; range?: readonly [number, number, number] | null },
    lastEnd: number | undefined,
  ): Trailing => {
    const lines = commentLines(node.comment)
    if (node.range == null) return { own: lines, ownFound: undefined, up: [], atEnd: false }
    const found = scanComments(lines, lastEnd)
    if (found === undefined) return { own: lines, ownFound: undefined, up: [], atEnd: false }
    const atEnd = documentEndsAfter(found[found.length - 1]?.end)
    const ownColumn = lineColumn(text, node.range[0]).column
    const cut = found.findIndex((f) => f.column < ownColumn)
    if (cut < 0) return { own: lines, ownFound: found, up: [], atEnd }
    return { own: lines.slice(0, cut), ownFound: found.slice(0, cut), up: found.slice(cut), atEnd }
  }

  const endsAfter = new Map<number, boolean>()
  /** Whether only blank and comment lines follow `at` up to the end of the document (memoized per offset). */
  const documentEndsAfter = (at: number | undefined): boolean => {
    if (at === undefined) return false
    const cached = endsAfter.get(at)
    if (cached !== undefined) return cached
    const r = scanEndsAfter(at)
    endsAfter.set(at, r)
    return r
  }
  const scanEndsAfter = (at: number): boolean => {
    // Line by line from `at`, stopping at the first line that decides (no copy of the rest of the text).
    for (let start = at; start <= text.length; ) {
      const nl = text.indexOf("\n", start)
      const end = nl < 0 ? text.length : nl
      const t = text.slice(start, end).trim()
      if (t === "---" || t === "..." || t.startsWith("--- ")) return true
      if (t !== "" && !t.startsWith("#")) return false
      if (nl < 0) break
      start = nl + 1
    }
    return true
  }

  /** Columns of the block collections built, for go-yaml's end-of-document comment placement. */
  const columns = new WeakMap<object, number>()

  /**
   * At the end of a document go-yaml places a trailing comment by indentation: in the deepest collection on the
   * last-entry chain whose column is not right of the comment — except that a sequence whose last element is a
   * sequence hands it to the document root. Places all `comments` at once (appending a comment does not change
   * the last-entry chain, so one walk and one rebuild serve them all); those for the root go to `toRoot`.
   */
  const placeAtEnd = (
    v: Value,
    comments: ReadonlyArray<Bubble>,
    /** Where root comments go: to `v` itself (the document's root), or handed up. */
    toRoot: "top" | ((c: Bubble) => void),
  ): Value => {
    if (comments.length === 0) return v
    const chain: Array<Value> = [v]
    const cols: Array<number> = [Number.NEGATIVE_INFINITY]
    for (;;) {
      const last = lastChild(chain[chain.length - 1]!)
      if (last === undefined || !blocks.has(last as object)) break
      const col = columns.get(last as object)
      if (col === undefined) break
      chain.push(last)
      cols.push(col)
    }
    /** Per chain level, the comments it receives, in order. */
    const byLevel = new Map<number, Array<string>>()
    const levelOf = new Map<number, number | "root">()
    for (const c of comments) {
      let level = toRoot === "top" && c.column <= 1 ? 0 : levelOf.get(c.column)
      if (level === undefined) {
        let i = 0
        while (i + 1 < chain.length && cols[i + 1]! <= c.column) i++
        const target = chain[i]!
        const last = isListValue(target) ? lastChild(target) : undefined
        level = last !== undefined && isListValue(last) ? "root" : i
        levelOf.set(c.column, level)
      }
      if (level === "root" && toRoot !== "top") toRoot(c)
      else {
        if (level === "root") level = 0
        const texts = byLevel.get(level) ?? []
        texts.push(c.text)
        byLevel.set(level, texts)
      }
    }
    if (byLevel.size === 0) return v
    const deepest = Math.max(...byLevel.keys())
    const rebuild = (i: number): Value => {
      const cur = chain[i]!
      const withChild = i === deepest ? cur : replaceLast(cur, rebuild(i + 1))
      return appendComments(withChild, byLevel.get(i) ?? [])
    }
    return rebuild(0)
  }

  /** Finds the comment lines after offset `lastEnd` in the source, with their columns. */
  const scanComments = (
    lines: ReadonlyArray<string>,
    lastEnd: number | undefined,
  ): Array<Bubble> | undefined => {
    if (lines.length === 0 || lastEnd === undefined) return undefined
    const found: Array<Bubble> = []
    // Start on the line after the last entry (its range may already end at the next line's start).
    let at = lastEnd
    if (at > 0 && text[at - 1] !== "\n") {
      const nl = text.indexOf("\n", at)
      at = nl < 0 ? text.length : nl + 1
    }
    while (at < text.length && found.length < lines.length) {
      const end = text.indexOf("\n", at)
      const line = text.slice(at, end < 0 ? text.length : end)
      const trimmed = line.trimStart()
      if (trimmed.startsWith("#"))
        found.push({
          text: trimmed.slice(1),
          column: line.length - trimmed.length + 1,
          end: end < 0 ? text.length : end,
        })
      else if (trimmed.length > 0 && trimmed !== "---" && trimmed !== "...") break
      at = end < 0 ? text.length : end + 1
    }
    return found.length === lines.length && found.every((f, i) => f.text === lines[i]) ? found : undefined
  }

  /**
   * A container's own leading comments, as sops reads them: its head comment lines, then its line comment
   * (for a flow collection the `yaml` package reports the end-of-line comment as a trailing one).
   */
  const leadingComments = (
    node: { commentBefore?: string | null; comment?: string | null; flow?: boolean },
    handled: boolean | "keyLine",
  ): Array<string> => {
    if (handled === true) return []
    const head = headOf(node)
    const lead = handled === "keyLine" ? head.slice(1) : head
    if (!node.flow) return [...lead]
    // go-yaml drops comments on their own lines inside flow braces; one after the closing brace is kept.
    const range = (node as { range?: readonly [number, number, number] | null }).range
    return [...lead, ...commentLines(node.comment)].filter(
      (c) => range == null || !occursWithin(`#${c}`, range[0], range[1]),
    )
  }

  /**
   * `text.slice(from, to).includes(needle)` for a needle that starts with `#`, without copying the range:
   * only the `#` positions inside it are tried (found by binary search in the index of every `#`).
   */
  const occursWithin = (needle: string, from: number, to: number): boolean => {
    if (source.hashes === undefined) {
      const hashes: Array<number> = []
      for (let i = text.indexOf("#"); i >= 0; i = text.indexOf("#", i + 1)) hashes.push(i)
      source.hashes = hashes
    }
    const hashes = source.hashes
    let lo = 0
    let hi = hashes.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (hashes[mid]! < from) lo = mid + 1
      else hi = mid
    }
    for (let i = lo; i < hashes.length && hashes[i]! + needle.length <= to; i++)
      if (text.startsWith(needle, hashes[i]!)) return true
    return false
  }

  /** The comment on the same line as a key whose value is a block collection, when the `yaml` package put it inside. */
  const keyLineMemo = new WeakMap<object, string | undefined>()
  const keyLineComment = (k: unknown, v: unknown): string | undefined => {
    if (k === null || typeof k !== "object") return keyLineCommentOf(k, v)
    if (!keyLineMemo.has(k)) keyLineMemo.set(k, keyLineCommentOf(k, v))
    return keyLineMemo.get(k)
  }
  const keyLineCommentOf = (k: unknown, v: unknown): string | undefined => {
    const end = endOf(k)
    const first = commentLines((v as { commentBefore?: string | null } | null)?.commentBefore)[0]
    if (end === undefined || first === undefined) return undefined
    const eol = text.indexOf("\n", end)
    const rest = text.slice(end, eol < 0 ? text.length : eol)
    const hash = rest.indexOf("#")
    return hash >= 0 && rest.slice(hash + 1) === first ? first : undefined
  }

  /**
   * The full-line comments right above `at` (contiguous comment and blank lines), read from the source: the
   * `yaml` package reports a bare `#` line like a blank line, while go-yaml (and so sops) keeps it as an empty
   * comment.
   */
  const commentsAbove = (at: number): Array<string> => {
    const out: Array<string> = []
    let end = text.lastIndexOf("\n", at - 1)
    // A sequence entry starts after its dash(es): the comments sit above that line.
    if (!/^[\s-]*$/.test(text.slice(end + 1, at))) return out
    while (end > 0) {
      const start = text.lastIndexOf("\n", end - 1) + 1
      const line = text.slice(start, end).replace(/\r$/, "")
      const trimmed = line.trimStart()
      if (trimmed.startsWith("#")) out.unshift(trimmed.slice(1))
      else if (trimmed !== "") break
      end = start - 1
    }
    return out
  }

  /** A node's head comment lines, preferring the exact source lines when they agree with the `yaml` package. */
  const headMemo = perNode((n) => headOfNode(n))
  const headOf = (n: unknown): ReadonlyArray<string> =>
    n === null || typeof n !== "object" ? headOfNode(n) : headMemo(n)
  const headOfNode = (n: unknown): ReadonlyArray<string> => {
    const node = n as {
      commentBefore?: string | null
      range?: readonly [number, number, number] | null
    } | null
    const lib = commentLines(node?.commentBefore)
    if (node?.commentBefore == null || node.range == null) return lib
    const scanned = commentsAbove(node.range[0])
    // The yaml package reports `#` alone as " " and blank lines as "": compare trimmed texts.
    const a = scanned.map((c) => c.trim())
    const b = (node.commentBefore ?? "").split("\n").map((c) => c.trim())
    const same =
      scanned.length >= lib.length &&
      a.filter((c) => c !== "").join("\n") === b.filter((c) => c !== "").join("\n")
    return same ? scanned : lib
  }

  const lastChild = (v: Value): Value | undefined => {
    if (isBranchValue(v)) {
      const i = lastEntry(v.items.map((it) => (typeof it.key === "string" ? it.value : undefined)))
      return i === undefined ? undefined : (v.items[i]!.value as Value)
    }
    if (isListValue(v)) {
      const i = lastEntry(v.items.map((e) => (isCommentValue(e) ? undefined : e)))
      return i === undefined ? undefined : (v.items[i] as Value)
    }
    return undefined
  }
  const keep = <T extends Value>(from: Value, to: T): T => {
    if (blocks.has(from as object)) blocks.add(to as object)
    const col = columns.get(from as object)
    if (col !== undefined) columns.set(to as object, col)
    return to
  }
  /** `v` with comment lines appended (one copy of its items, however many lines). */
  const appendComments = (v: Value, cs: ReadonlyArray<string>): Value => {
    if (cs.length === 0) return v
    if (isBranchValue(v))
      return keep(v, branch([...v.items, ...cs.map((c): Item => ({ key: comment(c), value: null }))]))
    if (isListValue(v)) return keep(v, list([...v.items, ...cs.map((c) => comment(c))]))
    return v
  }
  const replaceLast = (v: Value, child: Value): Value => {
    if (isBranchValue(v)) {
      const i = lastEntry(v.items.map((it) => (typeof it.key === "string" ? it.value : undefined)))!
      const items = [...v.items]
      items[i] = { key: items[i]!.key as string, value: child }
      return keep(v, branch(items))
    }
    if (isListValue(v)) {
      const i = lastEntry(v.items.map((e) => (isCommentValue(e) ? undefined : e)))!
      const items = [...v.items]
      items[i] = child
      return keep(v, list(items))
    }
    return v
  }

  /** Block collections built from the document (flow collections never receive sunk comments). */
  const blocks = new WeakSet<object>()

  /**
   * go-yaml gives a comment that follows nested blocks to the innermost block that just ended (its last
   * entry's foot comment); the `yaml` package keeps it at an outer level. Moves `comments` there, or returns
   * undefined when the last entry is not a block collection.
   */
  const sink = (v: Value, comments: ReadonlyArray<string>): Value | undefined => {
    if (comments.length === 0 || v === null || typeof v !== "object" || !blocks.has(v)) return undefined
    if (isBranchValue(v)) {
      const last = lastEntry(v.items.map((i) => (typeof i.key === "string" ? i.value : undefined)))
      const deeper = last === undefined ? undefined : sink(v.items[last]!.value as Value, comments)
      const items = [...v.items]
      if (deeper !== undefined) items[last!] = { key: items[last!]!.key as string, value: deeper }
      else items.push(...comments.map((c): Item => ({ key: comment(c), value: null })))
      const b = branch(items)
      blocks.add(b)
      return b
    }
    if (isListValue(v)) {
      const last = lastEntry(v.items.map((e) => (isCommentValue(e) ? undefined : e)))
      const deeper = last === undefined ? undefined : sink(v.items[last] as Value, comments)
      const items = [...v.items]
      if (deeper !== undefined) items[last!] = deeper
      else items.push(...comments.map((c) => comment(c)))
      const l = list(items)
      blocks.add(l)
      return l
    }
    return undefined
  }

  const endOf = (n: unknown): number | undefined => {
    const r = (n as { range?: readonly [number, number, number] | null } | null)?.range
    return r == null ? undefined : r[1]
  }

  /** Adds a block collection's trailing comments where go-yaml would attach them, and records the block. */
  const finish = (
    node: { flow?: boolean; comment?: string | null; range?: readonly [number, number, number] | null },
    built: Value,
    lastEnd: number | undefined,
    up: Array<Bubble>,
  ): Value => {
    if (node.flow) return built
    blocks.add(built as object)
    if (node.range != null) columns.set(built as object, lineColumn(text, node.range[0]).column)
    const t = trailingComments(node, lastEnd)
    up.push(...t.up)
    if (t.own.length === 0) return built
    for (const c of t.own) tick(c.length, node, [])
    if (t.atEnd && t.ownFound !== undefined)
      return placeAtEnd(built, t.ownFound, (c) => up.push({ text: c.text, column: -1 }))
    const last = lastChild(built)
    const sunk = last === undefined ? undefined : sink(last, t.own)
    if (sunk !== undefined) return replaceLast(built, sunk)
    return appendComments(built, t.own)
  }

  /** The value of a node; comments that go-yaml would give to an enclosing collection are pushed to `up`. */
  const value = (
    node: unknown,
    path: ReadonlyArray<string>,
    depth: number,
    up: Array<Bubble> = [],
    /** The node's own leading comments were already placed by the enclosing sequence. */
    handled: boolean | "keyLine" = false,
  ): Value => {
    if (depth > MAX_DEPTH) return fail("nesting too deep", null, path)
    if (node === null || node === undefined) return null
    const n = node as Node
    tick(isScalar(n) && typeof n.value === "string" ? n.value.length : 0, n, path)
    if (isAlias(node)) {
      const target = resolveAlias(node, path)
      anchors.add(target)
      budget.alias(1)
      try {
        return value(target, path, depth + 1)
      } finally {
        anchors.delete(target)
        budget.alias(-1)
      }
    }
    if (isScalar(node)) return scalarValue(node, path)
    const column = node && (node as Node).range ? lineColumn(text, (node as Node).range![0]).column : 0
    /** Comments bubbled up from a child: keep those indented at least as far as this collection. */
    const adopt = (bubbles: Array<Bubble>, push: (c: string) => void) => {
      for (const b of bubbles) {
        if (b.column >= column) push(b.text)
        else up.push(b)
      }
    }
    if (isMap(node)) {
      if (node.tag?.startsWith(TAG) && node.tag !== `${TAG}map` && node.tag !== `${TAG}omap`)
        return fail(`cannot decode a mapping as ${node.tag.replace(TAG, "!!")}`, node, path)
      const items: Array<Item> = []
      const pushComment = (c: string) => {
        tick(c.length, node, path)
        items.push({ key: comment(c), value: null })
      }
      leadingComments(node, handled).forEach(pushComment)
      let lastEnd: number | undefined
      for (const pair of node.items) {
        if (!isPair(pair)) continue
        const k = pair.key as Node | null
        const key = keyOf(k, path)
        tick(key.length, k, path)
        const childPath = [...path, key]
        for (const c of headOf(k)) pushComment(c)
        const v = pair.value as Node | null
        for (const c of commentLines((k as { comment?: string | null } | null)?.comment)) pushComment(c)
        lastEnd = endOf(v) ?? endOf(k)
        if (v === null || isScalar(v) || isAlias(v)) {
          const vc = v as { commentBefore?: string | null; comment?: string | null } | null
          for (const c of headOf(vc)) pushComment(c)
          const trailing = commentLines(vc?.comment)
          if (trailing.length > 0) items.push({ key: comment(trailing[0]!, true), value: null })
          items.push({ key, value: value(v, childPath, depth + 1) })
          for (const c of trailing.slice(1)) pushComment(c)
        } else {
          // `key: # comment` above a block: go-yaml makes it the key's line comment, which sops puts before the key.
          const onKeyLine = keyLineComment(k, v)
          if (onKeyLine !== undefined) pushComment(onKeyLine)
          const bubbles: Array<Bubble> = []
          items.push({
            key,
            value: value(v, childPath, depth + 1, bubbles, onKeyLine === undefined ? false : "keyLine"),
          })
          adopt(bubbles, pushComment)
        }
      }
      const b = finish(node, branch(items), lastEnd, up)
      return b
    }
    if (isSeq(node)) {
      if (node.tag?.startsWith(TAG) && node.tag !== `${TAG}seq`)
        return fail(`cannot decode a sequence as ${node.tag.replace(TAG, "!!")}`, node, path)
      const items: Array<Value | ReturnType<typeof comment>> = []
      const pushComment = (c: string) => {
        tick(c.length, node, path)
        items.push(comment(c))
      }
      leadingComments(node, handled).forEach(pushComment)
      let lastEnd: number | undefined
      for (const e of node.items) {
        const en = e as { commentBefore?: string | null; comment?: string | null } | null
        for (const c of headOf(en)) pushComment(c)
        lastEnd = endOf(e)
        if (e === null || isScalar(e) || isAlias(e)) {
          const trailing = commentLines(en?.comment)
          if (trailing.length > 0) items.push(comment(trailing[0]!, true))
          items.push(value(e, path, depth + 1))
          for (const c of trailing.slice(1)) pushComment(c)
        } else {
          // A flow collection item's end-of-line comment is the item's line comment: inline, before it.
          const flowTrail = (e as { flow?: boolean }).flow ? commentLines(en?.comment) : []
          if (flowTrail.length > 0) items.push(comment(flowTrail[0]!, true))
          const bubbles: Array<Bubble> = []
          items.push(value(e, path, depth + 1, bubbles, true))
          for (const c of flowTrail.slice(1)) pushComment(c)
          adopt(bubbles, pushComment)
        }
      }
      return finish(node, list(items), lastEnd, up)
    }
    return fail("unsupported YAML node", null, path)
  }

  const head = commentLines(doc.commentBefore).map((c): Item => ({ key: comment(c), value: null }))
  const foot = commentLines(doc.comment).map((c): Item => ({ key: comment(c), value: null }))
  const root = doc.contents as Node | null
  if (
    root === null ||
    (isScalar(root) &&
      root.type === "PLAIN" &&
      root.tag === undefined &&
      resolvePlain(String(root.value ?? "")).tag === "null")
  ) {
    return branch([...head, ...foot])
  }
  if (isSeq(root)) return fail("YAML documents that are sequences are not supported", root, [])
  if (!isMap(root) && !isAlias(root))
    return fail("YAML documents that are values are not supported", root, [])
  if (first) rejectDuplicates(root, targets, fail)
  const bubbles: Array<Bubble> = []
  const b = value(root, [], 0, bubbles)
  if (!("_tag" in (b as object)) || (b as Branch)._tag !== "Branch")
    return fail("YAML documents that are values are not supported", null, [])
  const rest = bubbles.map((x): Item => ({ key: comment(x.text), value: null }))
  let items = [...head, ...(b as Branch).items, ...rest]
  // Comments after the last entry of the document: placed by indentation, as go-yaml does at a document's end.
  const footLines = commentLines(doc.comment)
  const found = scanComments(footLines, (root as Node).range?.[1])
  if (found !== undefined) {
    const top: Value = keep(b, branch(items))
    columns.set(top as object, 1)
    blocks.add(top as object)
    // Comments at column 1, and those a sequence hands to the root, are appended to the root in order.
    return placeAtEnd(top, found, "top") as Branch
  }
  items = [...items, ...foot]
  return branch(items)
}

const rejectDuplicates = (
  root: Node,
  targets: ReadonlyMap<Alias, Node | undefined>,
  fail: (
    reason: string,
    node: { range?: readonly [number, number, number] | null } | null,
    path: ReadonlyArray<string>,
  ) => never,
): void => {
  const seen = new Set<Node>()
  // A node checked once is checked for good (the check does not depend on the path): aliases never make this
  // walk revisit a subtree, so it is linear in the source even for an alias bomb.
  const done = new Set<Node>()
  const walk = (n: unknown, path: ReadonlyArray<string>): void => {
    const node = isAlias(n) ? targets.get(n) : n
    if (node === undefined || node === null || seen.has(node as Node) || done.has(node as Node)) return
    seen.add(node as Node)
    if (isMap(node)) {
      const keys = new Set<string>()
      for (const pair of node.items) {
        if (!isPair(pair)) continue
        const k = isAlias(pair.key) ? targets.get(pair.key) : pair.key
        const name = isScalar(k) ? String(k.value ?? "") : undefined
        if (name !== undefined) {
          if (keys.has(name)) fail("mapping key already defined", k as Node, [...path, name])
          keys.add(name)
        }
        walk(pair.value, name === undefined ? path : [...path, name])
      }
    } else if (isSeq(node)) for (const e of node.items) walk(e, path)
    seen.delete(node as Node)
    done.add(node as Node)
  }
  walk(root, [])
}
