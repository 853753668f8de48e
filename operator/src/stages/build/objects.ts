/**
 * Built Kubernetes objects: kustomize's YAML stream parsed into `KubeObject`s and printed back.
 *
 * @module
 */
import * as YAML from "yaml"
import type { KubeObject } from "../../kube/object.ts"
import { formatLimit, limitFlag } from "../../limits.ts"

/** The annotation value under `key`, compared case-insensitively by callers. */
export const annotation = (o: KubeObject, key: string): string | undefined => o.metadata.annotations?.[key]

/** What a parse may produce (`--max-build-objects`); absent means no cap (tests, the CLI). */
export interface ParseLimits {
  readonly maxObjects?: number | undefined
}

/** More documents than `--max-build-objects`; thrown before any YAML is parsed. */
export class TooManyObjects extends Error {
  readonly max: number
  constructor(max: number) {
    super(
      `the build produced more than ${formatLimit("maxBuildObjects", max)} objects ` +
        `(raise it with ${limitFlag("maxBuildObjects")}; kustomize bases included from several places multiply)`,
    )
    this.max = max
  }
}

/**
 * An upper bound of the documents in a YAML stream, without parsing: one plus the `---` markers at the
 * start of a line. YAML forbids a document marker at column 0 inside content (block scalars are indented,
 * and a plain scalar ends at one), so this never undercounts. Linear, allocation-free.
 */
export const countDocuments = (text: string): number => {
  let n = 1
  for (let i = text.indexOf("---"); i !== -1; i = text.indexOf("---", i + 3)) {
    const after = text.charCodeAt(i + 3)
    // At a line start and followed by whitespace or the end: a marker (`----` or `---x` is content).
    if ((i === 0 || text.charCodeAt(i - 1) === 10) && (Number.isNaN(after) || after <= 32)) n++
  }
  return n
}

/**
 * Parses kustomize's multi-document output; empty documents are dropped. Synchronous and CPU-bound: the
 * operator runs it off the event loop (`workers/pool.ts`); the document count is capped before parsing.
 */
export const parseObjects = (text: string, limits: ParseLimits = {}): KubeObject[] => {
  const max = limits.maxObjects
  if (max !== undefined && countDocuments(text) > max + 1) throw new TooManyObjects(max)
  const out: KubeObject[] = []
  for (const doc of YAML.parseAllDocuments(text)) {
    const err = doc.errors[0]
    // The parser's own message quotes the offending line, which may hold a secret: keep position only.
    if (err) throw new Error(`invalid YAML (${err.code}) at line ${err.linePos?.[0].line ?? "?"}`)
    const v = doc.toJS({ maxAliasCount: 100 }) as unknown
    if (v === null || v === undefined) continue
    if (typeof v !== "object" || Array.isArray(v)) throw new Error("a document is not a mapping")
    const o = v as Record<string, unknown>
    const meta = o.metadata as Record<string, unknown> | undefined
    if (typeof o.kind !== "string" || typeof o.apiVersion !== "string" || typeof meta?.name !== "string") {
      throw new Error("a document lacks apiVersion, kind or metadata.name")
    }
    out.push(o as unknown as KubeObject)
    if (max !== undefined && out.length > max) throw new TooManyObjects(max)
  }
  return out
}

/** Serialises objects back to one multi-document YAML stream (for hashing or display). */
export const printObjects = (objects: ReadonlyArray<KubeObject>) =>
  objects.map((o) => YAML.stringify(o, { lineWidth: 0 })).join("---\n")
