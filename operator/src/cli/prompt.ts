/**
 * A yes/no question on stdout answered by a line of stdin, read synchronously so it works the same for a
 * terminal and a pipe (`yes | kustodian updatekeys …`), as sops' `fmt.Scanln` does.
 *
 * @module
 */
import { readSync } from "node:fs"

/** Reads one line from fd 0 (without the newline); undefined at end of input. */
export const readLine = (): string | undefined => {
  const bytes: Array<number> = []
  const one = Buffer.alloc(1)
  for (;;) {
    let n: number
    try {
      n = readSync(0, one, 0, 1, null)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") continue
      if ((e as NodeJS.ErrnoException).code === "EOF")
        return bytes.length > 0 ? Buffer.from(bytes).toString() : undefined
      throw e
    }
    if (n === 0) return bytes.length > 0 ? Buffer.from(bytes).toString("utf8") : undefined
    if (one[0] === 0x0a) return Buffer.from(bytes).toString("utf8").replace(/\r$/, "")
    bytes.push(one[0]!)
    if (bytes.length > 4096) return Buffer.from(bytes).toString("utf8")
  }
}

/** Asks until the answer is `y` or `n` (sops' loop); undefined when stdin ends first. */
export const askYesNo = (question: string, print: (text: string) => void): boolean | undefined => {
  for (;;) {
    print(question)
    const answer = readLine()
    if (answer === undefined) return undefined
    if (answer.trim() === "y") return true
    if (answer.trim() === "n") return false
  }
}
