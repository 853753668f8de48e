/**
 * A unified diff of two texts, line by line, as `diff -u` prints it (3 lines of context, `@@ -a,b +c,d @@`
 * hunks). The longest common subsequence is found by dynamic programming over the lines that differ after the
 * common head and tail are taken off; past {@link maxCells} cells (two objects of thousands of changed lines)
 * the middle is shown as removed and added whole, so time and memory stay bounded.
 *
 * @module
 */

type Op = { readonly t: " " | "-" | "+"; readonly line: string }

/** Bound on the LCS table (lines × lines of the differing middle). */
export const maxCells = 4_000_000

const lines = (s: string): Array<string> => {
  if (s === "") return []
  const l = s.split("\n")
  if (l.at(-1) === "") l.pop()
  return l
}

const edits = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): Array<Op> => {
  let head = 0
  while (head < a.length && head < b.length && a[head] === b[head]) head++
  let tail = 0
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  )
    tail++
  const x = a.slice(head, a.length - tail)
  const y = b.slice(head, b.length - tail)
  const middle: Array<Op> = []
  if (x.length * y.length > maxCells) {
    for (const line of x) middle.push({ t: "-", line })
    for (const line of y) middle.push({ t: "+", line })
  } else {
    const w = y.length + 1
    const table = new Uint32Array((x.length + 1) * w)
    for (let i = x.length - 1; i >= 0; i--)
      for (let j = y.length - 1; j >= 0; j--)
        table[i * w + j] =
          x[i] === y[j]
            ? table[(i + 1) * w + j + 1]! + 1
            : Math.max(table[(i + 1) * w + j]!, table[i * w + j + 1]!)
    let i = 0
    let j = 0
    while (i < x.length || j < y.length) {
      if (i < x.length && j < y.length && x[i] === y[j]) {
        middle.push({ t: " ", line: x[i]! })
        i++
        j++
      } else if (i < x.length && (j === y.length || table[(i + 1) * w + j]! >= table[i * w + j + 1]!)) {
        // removals before additions, as diff prints them
        middle.push({ t: "-", line: x[i]! })
        i++
      } else {
        middle.push({ t: "+", line: y[j]! })
        j++
      }
    }
  }
  return [
    ...a.slice(0, head).map((line) => ({ t: " " as const, line })),
    ...middle,
    ...a.slice(a.length - tail).map((line) => ({ t: " " as const, line })),
  ]
}

/** `diff -u` of `before` and `after` with the given file labels; "" when they are equal. */
export const unifiedDiff = (
  before: string,
  after: string,
  labels: { readonly before: string; readonly after: string },
  context = 3,
): string => {
  const ops = edits(lines(before), lines(after))
  if (ops.every((o) => o.t === " ")) return ""
  const out = [`--- ${labels.before}`, `+++ ${labels.after}`]
  // positions (1-based) of each op in the old and new text
  let k = 0
  while (k < ops.length) {
    // find the next change
    while (k < ops.length && ops[k]!.t === " ") k++
    if (k >= ops.length) break
    const start = Math.max(0, k - context)
    let end = k
    // extend the hunk while changes are within 2*context lines of each other
    for (;;) {
      while (end < ops.length && ops[end]!.t !== " ") end++
      let gap = end
      while (gap < ops.length && ops[gap]!.t === " " && gap - end < 2 * context) gap++
      if (gap < ops.length && ops[gap]!.t !== " ") end = gap
      else break
    }
    const stop = Math.min(ops.length, end + context)
    let oldLine = 1
    let newLine = 1
    for (let i = 0; i < start; i++) {
      if (ops[i]!.t !== "+") oldLine++
      if (ops[i]!.t !== "-") newLine++
    }
    const hunk = ops.slice(start, stop)
    const oldCount = hunk.filter((o) => o.t !== "+").length
    const newCount = hunk.filter((o) => o.t !== "-").length
    const range = (line: number, count: number) =>
      count === 1 ? `${line}` : `${count === 0 ? line - 1 : line},${count}`
    out.push(`@@ -${range(oldLine, oldCount)} +${range(newLine, newCount)} @@`)
    for (const o of hunk) out.push(`${o.t}${o.line}`)
    k = stop
  }
  return `${out.join("\n")}\n`
}
