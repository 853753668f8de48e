/**
 * Scrubbing of text that leaves the fetch stage (git stderr, error messages) so that no credential reaches
 * status, events or logs: userinfo in URLs, Authorization headers, and every known secret value.
 */

const userinfo = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi
const authorization = /(authorization:\s*)(basic|bearer)\s+\S+/gi

/** Remove the userinfo part of any URL in `text` (`https://user:pass@host` → `https://host`). */
export const stripUserinfo = (text: string): string => text.replace(userinfo, "$1")

/**
 * Redact `text` for display. `secrets` are the raw values of the auth Secret; values shorter than 4 characters
 * are skipped, since replacing e.g. "a" would garble the message without protecting anything.
 */
export const redact = (text: string, secrets: Iterable<string> = []): string => {
  let out = stripUserinfo(text).replace(authorization, "$1$2 ***")
  const values = [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)
  for (const value of values) {
    out = out.split(value).join("***")
    // Secrets also travel base64-encoded (Basic auth headers); catch echoes of those too.
    const b64 = Buffer.from(value).toString("base64")
    if (b64.length >= 4) out = out.split(b64).join("***")
  }
  return out
}
