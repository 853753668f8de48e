/**
 * Output of commands that work through many files (`updatekeys`, `rotate -i`): on a terminal a progress bar on
 * stderr, redrawn in place and cleared before any other line; otherwise sops' plain log lines. Colours (sops'
 * green `+++`, red `---`, underlined group titles) only when the stream is a terminal and `NO_COLOR` is unset.
 *
 * @module
 */

/** A writable terminal-or-not stream (process.stdout / process.stderr, or a test double). */
export interface OutStream {
  readonly isTTY?: boolean
  readonly columns?: number
  write(text: string): unknown
}

const wantsColour = (stream: OutStream, env: NodeJS.ProcessEnv) =>
  stream.isTTY === true && env.NO_COLOR === undefined && env.TERM !== "dumb"

/** ANSI styles for one stream: identity functions when it is not a colour terminal. */
export const styles = (stream: OutStream, env: NodeJS.ProcessEnv = process.env) => {
  const on = wantsColour(stream, env)
  const sgr = (code: string) => (s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s)
  return { underline: sgr("4"), green: sgr("32"), red: sgr("31") }
}

export interface Progress {
  /** One file is being worked on (the bar advances; plain mode prints nothing). */
  readonly step: (label: string) => void
  /** A log line (sops prints these on stderr): shown in plain mode, and in bar mode above the bar. */
  readonly log: (line: string) => void
  /** Text for stdout (summaries, prompts): the bar is cleared first so the two never mix on one line. */
  readonly print: (text: string) => void
  readonly done: () => void
}

/**
 * A progress reporter for `total` files. The bar is used when `err` is a terminal and there is more than one
 * file; log lines are then kept only for failures (`alwaysLog`).
 */
export const progress = (
  total: number,
  out: OutStream = process.stdout,
  err: OutStream = process.stderr,
): Progress & { readonly bar: boolean; readonly warn: (line: string) => void } => {
  const bar = err.isTTY === true && total > 1
  let current = 0
  let label = ""
  let drawn = false
  const clear = () => {
    if (drawn) err.write("\r\u001b[K")
    drawn = false
  }
  const draw = () => {
    if (!bar) return
    const width = 30
    const filled = Math.round((current / total) * width)
    const room = Math.max(10, (err.columns ?? 80) - width - 20)
    const name = label.length > room ? `…${label.slice(label.length - room + 1)}` : label
    err.write(`\r\u001b[K[${"#".repeat(filled)}${".".repeat(width - filled)}] ${current}/${total} ${name}`)
    drawn = true
  }
  return {
    bar,
    step: (l) => {
      current++
      label = l
      draw()
    },
    log: (line) => {
      if (bar) return
      err.write(`${line}\n`)
    },
    warn: (line) => {
      clear()
      err.write(`${line}\n`)
      draw()
    },
    print: (text) => {
      clear()
      out.write(text)
      draw()
    },
    done: () => {
      clear()
    },
  }
}
