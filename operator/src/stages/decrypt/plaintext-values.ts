/**
 * The secret values of a decrypted file, kept in memory only so that tool output (a kustomize error that
 * quotes a patch, say) can be scrubbed of them before it becomes a condition message or an event.
 *
 * @module
 */
import * as YAML from "yaml"
import type { Format } from "../../sops/index.ts"
import { inlineLimit } from "../../workers/pool.ts"

/** Values shorter than this are too common to redact without mangling messages. */
const minLength = 4

const isEncrypted = (v: unknown) => typeof v === "string" && v.startsWith("ENC[")

const scalar = (v: unknown) =>
  typeof v === "string" ? v : typeof v === "number" || typeof v === "bigint" ? String(v) : ""

/** Plaintext leaves whose counterpart in the encrypted tree was an `ENC[…]` value (same shape, walked together). */
const encryptedLeaves = (enc: unknown, plain: unknown, out: Set<string>) => {
  if (isEncrypted(enc)) {
    const s = scalar(plain)
    if (s.length >= minLength) out.add(s)
  } else if (Array.isArray(enc) && Array.isArray(plain)) {
    for (const [i, e] of enc.entries()) encryptedLeaves(e, plain[i], out)
  } else if (enc !== null && typeof enc === "object" && plain !== null && typeof plain === "object") {
    for (const [k, e] of Object.entries(enc)) encryptedLeaves(e, (plain as Record<string, unknown>)[k], out)
  }
}

const docs = (text: string) => YAML.parseAllDocuments(text).map((d) => d.toJS() as unknown)

const keyValues = (text: string) => {
  const out = new Map<string, string>()
  for (const line of text.split(/\r?\n/)) {
    const eq = line.indexOf("=")
    if (eq > 0) out.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim())
  }
  return out
}

/**
 * The values in `plaintext` that were encrypted in `encrypted` (so that kinds, names and other plaintext
 * parts stay readable in messages); every line for the binary store.
 */
export const plaintextValues = (
  encrypted: Uint8Array,
  plaintext: Uint8Array,
  format: Format,
): ReadonlyArray<string> => {
  const text = new TextDecoder().decode(plaintext)
  const encText = new TextDecoder().decode(encrypted)
  const out = new Set<string>()
  try {
    // A second structured parse of a large file would hold the event loop for seconds (the decryption itself
    // parsed it on a worker): large files take the line-wise reading below, which masks more but never less.
    if ((format === "yaml" || format === "json") && plaintext.length <= inlineLimit) {
      const e = docs(encText)
      for (const [i, p] of docs(text).entries()) encryptedLeaves(e[i], p, out)
      return [...out]
    }
    if (format === "dotenv" || format === "ini") {
      const e = keyValues(encText)
      for (const [k, v] of keyValues(text)) if (isEncrypted(e.get(k)) && v.length >= minLength) out.add(v)
      return [...out]
    }
  } catch {
    // fall through to lines
  }
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim()
    if (trimmed.length >= minLength) out.add(trimmed)
    // `key: value` and `"key": value,`: the value alone too, as it would be quoted elsewhere. Found with
    // indexOf, not a regex: the line is the tenant's, and overlapping regex groups backtrack on a long one.
    const colon = trimmed.indexOf(": ")
    if (colon !== -1) {
      let value = trimmed.slice(colon + 2).trim()
      if (value.endsWith(",")) value = value.slice(0, -1)
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
      if (value.length >= minLength) out.add(value)
    }
  }
  return [...out]
}
