/**
 * Scrubbing of text that leaves the fetch stage (git stderr, error messages) so that no credential reaches
 * status, events or logs: userinfo in URLs, Authorization headers, and every known secret value.
 *
 * A tenant's git server writes this text, so each pass is a hand-written scan, linear in the text: the regular
 * expression this replaces (`\b[a-z][a-z0-9+.-]*:\/\/…`) retried from every position of a long `a.a.a.` run.
 */

const isLetter = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
const isDigit = (c: number) => c >= 0x30 && c <= 0x39
const isWord = (c: number) => isLetter(c) || isDigit(c) || c === 0x5f
/** RFC 3986 scheme characters. */
const isScheme = (c: number) => isLetter(c) || isDigit(c) || c === 0x2b || c === 0x2e || c === 0x2d
const isSpace = (ch: string | undefined) => ch !== undefined && /\s/.test(ch)

/**
 * Remove the userinfo part of any URL in `text` (`https://user:pass@host` → `https://host`): a scheme
 * (starting with a letter at a word boundary) then `://`, then a run without `/`, `@` or whitespace ending in
 * `@`. Each `://` is looked at once, and the scheme and userinfo runs of different `://` never overlap.
 */
export const stripUserinfo = (text: string): string => {
  const out: string[] = []
  let from = 0
  for (let k = text.indexOf("://"); k >= 0; k = text.indexOf("://", k + 3)) {
    if (k < from) continue
    let p = k
    while (p > from && isScheme(text.charCodeAt(p - 1))) p--
    let start = -1
    for (let q = p; q < k; q++) {
      if (isLetter(text.charCodeAt(q)) && (q === 0 || !isWord(text.charCodeAt(q - 1)))) {
        start = q
        break
      }
    }
    if (start < 0) continue
    let u = k + 3
    while (u < text.length && text[u] !== "/" && text[u] !== "@" && !isSpace(text[u])) u++
    if (text[u] !== "@") continue
    out.push(text.slice(from, k + 3))
    from = u + 1
  }
  out.push(text.slice(from))
  return out.join("")
}

/** `Authorization: Basic|Bearer <token>` (any case) → `Authorization: Basic ***`. */
const maskAuthorization = (text: string): string => {
  const header = /authorization:/gi // a literal: no backtracking
  const out: string[] = []
  let from = 0
  for (let m = header.exec(text); m !== null; m = header.exec(text)) {
    let i = m.index + m[0].length
    while (isSpace(text[i])) i++
    const word = text.slice(i, i + 6).toLowerCase()
    const scheme = word.startsWith("basic") ? 5 : word === "bearer" ? 6 : 0
    if (scheme === 0) continue
    let j = i + scheme
    if (!isSpace(text[j])) continue
    while (isSpace(text[j])) j++
    let end = j
    while (end < text.length && !isSpace(text[end])) end++
    if (end === j) continue
    out.push(text.slice(from, i + scheme), " ***")
    from = end
    header.lastIndex = end
  }
  out.push(text.slice(from))
  return out.join("")
}

/**
 * Redact `text` for display. `secrets` are the raw values of the auth Secret; values shorter than 4 characters
 * are skipped, since replacing e.g. "a" would garble the message without protecting anything. The lines of a
 * multi-line value (a private key) are masked one by one too, so a partial echo does not leak either.
 */
export const redact = (text: string, secrets: Iterable<string> = []): string => {
  let out = maskAuthorization(stripUserinfo(text))
  const values = new Set<string>()
  for (const s of secrets) {
    if (s.length >= 4) values.add(s)
    if (s.includes("\n"))
      for (const line of s.split("\n")) if (line.trim().length >= 8) values.add(line.trim())
  }
  for (const value of [...values].sort((a, b) => b.length - a.length)) {
    out = out.split(value).join("***")
    // Secrets also travel base64-encoded (Basic auth headers); catch echoes of those too.
    const b64 = Buffer.from(value).toString("base64")
    if (b64.length >= 4) out = out.split(b64).join("***")
  }
  return out
}
