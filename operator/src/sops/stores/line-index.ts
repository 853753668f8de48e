/**
 * Line and column of offsets in one text, in O(log lines) each: the line starts are found once (one pass), then
 * every lookup is a binary search. Rescanning the text from its start for every node made parsing quadratic
 * (100 KB of YAML took seconds); positions are asked for every collection, comment and error.
 *
 * Same numbers as `lineColumn` in text.ts: 1-based, lines split at `\n` only, columns in UTF-16 code units.
 *
 * @module
 */

export interface LineIndex {
  /** 1-based line and column of `offset` (offsets past the end count from the last line's start). */
  readonly at: (offset: number) => { line: number; column: number }
  /** Offset of the first character of the line holding `offset`. */
  readonly lineStart: (offset: number) => number
}

export const lineIndex = (text: string): LineIndex => {
  const starts: Array<number> = [0]
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) starts.push(i + 1)
  /** Index of the last line start ≤ offset (a newline at offset-1 starts a new line at offset). */
  const lineOf = (offset: number): number => {
    // lineColumn counts newlines strictly before `offset` and never beyond the text.
    const o = Math.min(offset, text.length)
    let lo = 0
    let hi = starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (starts[mid]! <= o) lo = mid
      else hi = mid - 1
    }
    return lo
  }
  return {
    at: (offset) => {
      const i = lineOf(offset)
      return { line: i + 1, column: offset - starts[i]! + 1 }
    },
    lineStart: (offset) => starts[lineOf(offset)]!,
  }
}
