/**
 * Test helpers: where the shared sops fixtures live (tests skip when `../shared` is absent) and a plain-JSON
 * view of decrypted trees for comparisons.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { formatFloatF, formatTimeGo } from "../goformat.ts"
import { type Branch, isBranch, isComment, isFloat, isList, isTimestamp, type Value } from "../tree.ts"

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..")

/** `../shared/fixtures/sops` relative to the repository root. */
export const fixturesDir = join(repoRoot, "..", "shared", "fixtures", "sops")
export const haveFixtures = existsSync(join(fixturesDir, "EXPECTED-decryptions.json"))

export const fixture = (rel: string): Uint8Array => new Uint8Array(readFileSync(join(fixturesDir, rel)))
export const fixtureText = (rel: string): string => readFileSync(join(fixturesDir, rel), "utf8")

/** JSON view: floats as `{"$float": text}`, comments of a mapping gathered under `#comments`. */
export const toPlain = (v: Value): unknown => {
  if (isBranch(v)) return branchToPlain(v)
  if (isList(v)) return v.items.filter((e) => !isComment(e)).map((e) => toPlain(e as Value))
  if (isFloat(v)) return { $float: formatFloatF(v.value) }
  if (isTimestamp(v)) return { $time: formatTimeGo(v) }
  if (typeof v === "bigint") return Number(v)
  if (v instanceof Uint8Array) return Buffer.from(v).toString("utf8")
  return v
}

const branchToPlain = (b: Branch): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  const comments: Array<string> = []
  for (const i of b.items) {
    if (isComment(i.key)) comments.push(i.key.value)
    else out[i.key] = toPlain(i.value)
  }
  if (comments.length > 0) out["#comments"] = comments
  return out
}

/** Drops `#comments` entries (and an empty INI `DEFAULT` section) from `actual` where `expected` has none, so both can be compared with toEqual. */
export const alignComments = (actual: unknown, expected: unknown): unknown => {
  if (Array.isArray(actual) && Array.isArray(expected))
    return actual.map((a, i) => alignComments(a, expected[i]))
  if (actual !== null && typeof actual === "object" && expected !== null && typeof expected === "object") {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(actual)) {
      if (k === "#comments" && !("#comments" in expected)) continue
      // the INI store always has the implicit DEFAULT section first
      if (k === "DEFAULT" && !("DEFAULT" in expected) && Object.keys(v as object).length === 0) continue
      out[k] = alignComments(v, (expected as Record<string, unknown>)[k])
    }
    return out
  }
  return actual
}
