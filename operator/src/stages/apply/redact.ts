/**
 * Keeps Secret values out of messages. The API server echoes field values in validation errors; for a
 * Secret those could be the secret itself, so every value of the object is masked before a message
 * leaves the stage.
 */
import type { KubeObject } from "./object.ts"

const mask = "*****"

const secretValues = (obj: KubeObject): ReadonlyArray<string> => {
  const out: Array<string> = []
  const add = (v: unknown) => {
    if (typeof v !== "string" || v === "") return
    out.push(v)
    const decoded = Buffer.from(v, "base64").toString("utf8")
    // Only a round-tripping decode is the base64 of the value (otherwise it was not base64 at all).
    if (decoded !== "" && Buffer.from(decoded, "utf8").toString("base64") === v) out.push(decoded)
  }
  for (const field of ["data", "stringData"]) {
    const m = obj[field]
    if (typeof m === "object" && m !== null) for (const v of Object.values(m)) add(v)
  }
  // Longest first, so a value containing another is masked whole.
  return out.sort((a, b) => b.length - a.length)
}

/**
 * Masks the values of `obj` (when it is a Secret) in `message`. Short values are masked only where the
 * server quotes them, so a two-letter secret does not garble the rest of the text.
 */
export const redact = (obj: KubeObject | undefined, message: string): string => {
  if (obj === undefined || obj.kind !== "Secret") return message
  let out = message
  for (const v of secretValues(obj)) {
    out = v.length >= 3 ? out.replaceAll(v, mask) : out.replaceAll(`"${v}"`, `"${mask}"`)
    // Values also show up JSON-escaped inside quoted server messages.
    const escaped = JSON.stringify(v).slice(1, -1)
    if (escaped !== v && escaped.length >= 3) out = out.replaceAll(escaped, mask)
  }
  return out
}
