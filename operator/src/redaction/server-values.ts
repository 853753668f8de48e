/**
 * The values the API server prints in its validation errors, found by the grammar of apimachinery's
 * `field.Error` and masked, whatever object they belong to. A field error reads
 * `<field path>: <type>[: <value>][: <detail>]`; several are joined as `[e1, e2]` after
 * `<Kind> "<name>" is invalid: `. Only these types carry a value (`ErrorBody`): `Invalid value`, `Unsupported
 * value`, `Duplicate value` and `Not found` (`Too many`/`Too few` print a count, `Required value`, `Forbidden`,
 * `Too long`, `Too short` and `Internal error` none). The value is printed as Go's `%q` for a string, `%v` for a
 * number or bool, JSON for anything else (a map, a list, a whole pod template when an immutable field changed),
 * or, for types JSON cannot render, `%#v` (`core.PodTemplateSpec{…}`) or a `String()`.
 *
 * structured-merge-diff, which server-side apply validates with, prints a mistyped value after its expected type:
 * `expected string, got &value.valueUnstructured{Value:8443}` (`%#v`), `expected boolean, got &{yes}` (`%v`);
 * that is masked too (`expected numeric (int or float), got string` prints a type name only and stays).
 *
 * The path, the type and the detail stay: they say which field and why. Linear in the message.
 *
 * @module
 */

/** What replaces a masked value (Flux's mask for Secret data in diffs). */
export const mask = "***"

const valueTypes = /(?:Invalid value|Unsupported value|Duplicate value|Not found): /g
const smdValue = /expected [a-z ]+, got (?=&)/g

/** The end (exclusive) of a Go or JSON double-quoted string starting at `start` (a `"`). */
const endOfQuoted = (text: string, start: number): number => {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 92 /* \ */) i++
    else if (c === 34 /* " */) return i + 1
  }
  return text.length
}

const openers = "{[("
const closers = "}])"

/**
 * The end (exclusive) of an unquoted value at `start`: a number, a bool, `null`, JSON, `%#v` output. Brackets
 * nest (quoted strings inside are skipped); at depth 0 the value ends before `: ` (the detail), `, ` (the next
 * error of a list), a `]` it did not open (the end of the list) or a line break.
 */
const endOfUnquoted = (text: string, start: number): number => {
  let depth = 0
  let i = start
  while (i < text.length) {
    const ch = text[i]!
    if (ch === '"') {
      i = endOfQuoted(text, i)
      continue
    }
    if (openers.includes(ch)) depth++
    else if (closers.includes(ch)) {
      if (depth === 0) return i
      depth--
    } else if (depth === 0) {
      if (ch === "\n") return i
      if ((ch === ":" || ch === ",") && text[i + 1] === " ") return i
    }
    i++
  }
  return text.length
}

/** The end (exclusive) of the value printed at `start`. */
const endOfValue = (text: string, start: number): number =>
  text[start] === '"' ? endOfQuoted(text, start) : endOfUnquoted(text, start)

/**
 * `message` with every value the API server printed in a field error replaced by `"***"` (strings) or `***`.
 * An empty string (`Invalid value: ""`) is left: it tells the reader the field was empty and holds nothing.
 */
export const maskServerValues = (message: string): string => {
  const cuts: Array<readonly [number, number, string]> = []
  for (const m of message.matchAll(valueTypes)) {
    const start = m.index + m[0].length
    const end = endOfValue(message, start)
    if (end <= start) continue
    const printed = message.slice(start, end)
    if (printed === '""') continue
    cuts.push([start, end, printed.startsWith('"') ? `"${mask}"` : mask])
  }
  for (const m of message.matchAll(smdValue)) {
    const start = m.index + m[0].length
    cuts.push([start, endOfUnquoted(message, start), mask])
  }
  if (cuts.length === 0) return message
  cuts.sort((a, b) => a[0] - b[0])
  let out = ""
  let at = 0
  for (const [start, end, replacement] of cuts) {
    if (start < at) continue
    out += message.slice(at, start) + replacement
    at = end
  }
  return out + message.slice(at)
}
