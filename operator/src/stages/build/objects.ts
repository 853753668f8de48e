/**
 * Built Kubernetes objects as plain JSON-like records, and how errors name them.
 *
 * @module
 */
import * as YAML from "yaml"

/** A Kubernetes object as kustomize emitted it. */
export interface KubeObject {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: {
    readonly name: string
    readonly namespace?: string
    readonly labels?: Readonly<Record<string, string>>
    readonly annotations?: Readonly<Record<string, string>>
    readonly [key: string]: unknown
  }
  readonly [key: string]: unknown
}

/** `Kind/namespace/name` (or `Kind/name` when cluster-scoped), as Flux writes object references. */
export const objectRef = (o: KubeObject) =>
  o.metadata.namespace
    ? `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`
    : `${o.kind}/${o.metadata.name}`

/** The annotation value under `key`, compared case-insensitively by callers. */
export const annotation = (o: KubeObject, key: string): string | undefined => o.metadata.annotations?.[key]

/** Parses kustomize's multi-document output; empty documents are dropped. */
export const parseObjects = (text: string): KubeObject[] => {
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
  }
  return out
}

/** Serialises objects back to one multi-document YAML stream (for hashing or display). */
export const printObjects = (objects: ReadonlyArray<KubeObject>) =>
  objects.map((o) => YAML.stringify(o, { lineWidth: 0 })).join("---\n")
