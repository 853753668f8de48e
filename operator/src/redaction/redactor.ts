/**
 * Redaction: the one place that decides what of a message may leave the operator. Every API error text and
 * object status message that becomes a condition, an Event or a log line goes through a `Redactor` first (the
 * apply, prune and health stages, given the reconcile's redactor; the runtime's `toFailure` as a last net for
 * the server's quotes). It masks
 *
 * - (a) the content of the objects the message is about: every string and number value of the object except its
 *   identity (`object-values.ts`), because the API server and admission webhooks echo any field — a ConfigMap
 *   value, an env var, a whole pod template — not only Secret data;
 * - (b) whatever the API server printed as the value of a field error (`server-values.ts`), for any object;
 * - (c) every sensitive value of the reconcile — the decrypted SOPS values and the values read from
 *   `postBuild.substituteFrom` ConfigMaps and Secrets — wherever it appears, also JSON-escaped, base64-encoded or
 *   line by line.
 *
 * The structure of a message stays: the object's kind, namespace and name, the field path, the error type and
 * the reason (`Invalid value: "***": field is immutable`). A value that occurs only inside the object's identity
 * or inside the server's fixed wording (`Invalid value`, `field is immutable`) is left there: it is public text,
 * and masking it would garble the message without hiding anything. The keys of list items in a server-side
 * apply path (`containers[name="app"].env[name="PORT"]`) are part of the field path too: the object's own
 * values are not masked there (a container's or an env var's name), sensitive values are.
 *
 * Values shorter than four characters are too common to mask anywhere in a sentence (they would cut words
 * apart): object values that short are masked only where they stand quoted (`"ab"`), sensitive ones not at all
 * (as `plaintext-values.ts` decides for decrypted values). The values live in memory only, for one reconcile.
 *
 * @module
 */
import { type ObjectRef, refKey } from "../kube/object.ts"
import { contentValues, identityOf } from "./object-values.ts"
import { mask, maskServerValues } from "./server-values.ts"

export { mask, maskServerValues }

/** Shorter values are masked only where quoted (object content) or not at all (sensitive values). */
export const minLength = 4

/** How stages name an object they hold no copy of (its `ObjectRef`; the version does not matter). */
type NamedRef = Pick<ObjectRef, "group" | "kind" | "namespace" | "name">

export interface RedactorInput {
  /**
   * Values that must appear nowhere: decrypted SOPS values, `substituteFrom` values. Kept in memory for the
   * reconcile only.
   */
  readonly sensitive?: Iterable<string> | undefined
  /** The built objects, so a stage that names an object by reference gets its content masked too. */
  readonly objects?: ReadonlyArray<object> | undefined
  /** More public names (the Kustomization's own name and namespace): never masked. */
  readonly identities?: Iterable<string> | undefined
}

export interface Redactor {
  /**
   * `message` with (a) the content of the objects it is about, (b) the values the API server quoted and (c)
   * every sensitive value masked. `about`: the objects involved, as objects (desired and live) or references
   * to objects of the build.
   */
  readonly redact: (message: string, about?: ReadonlyArray<object | NamedRef>) => string
}

/** The vocabulary of `field.Error` and status messages: public wording, never masked. */
const wording: ReadonlyArray<string> = [
  "Invalid value",
  "Unsupported value",
  "Duplicate value",
  "Required value",
  "Not found",
  "Forbidden",
  "Too long",
  "Too many",
  "Too few",
  "Too short",
  "Internal error",
  "field is immutable",
  "is invalid",
  "is forbidden",
  "supported values",
  "denied the request",
]

const groupOf = (apiVersion: unknown) =>
  typeof apiVersion === "string" && apiVersion.includes("/")
    ? apiVersion.slice(0, apiVersion.indexOf("/"))
    : ""

const objectKey = (obj: object) => {
  const o = obj as {
    apiVersion?: unknown
    kind?: unknown
    metadata?: { name?: unknown; namespace?: unknown }
  }
  return refKey({
    group: groupOf(o.apiVersion),
    kind: String(o.kind ?? ""),
    namespace: String(o.metadata?.namespace ?? ""),
    name: String(o.metadata?.name ?? ""),
  })
}

const isRef = (x: object | NamedRef): x is NamedRef =>
  !("metadata" in x) && typeof (x as NamedRef).kind === "string" && typeof (x as NamedRef).name === "string"

/** Go's `encoding/json` escapes `<`, `>` and `&` inside strings; JSON-rendered server values carry that form. */
const goJsonEscaped = (s: string) =>
  s.replaceAll("<", "\\u003c").replaceAll(">", "\\u003e").replaceAll("&", "\\u0026")

/** The forms a value takes in a message: as is, escaped inside a quoted string, and each line of it. */
const forms = (v: string, out: Set<string>) => {
  out.add(v)
  const escaped = JSON.stringify(v).slice(1, -1)
  out.add(escaped)
  out.add(goJsonEscaped(escaped))
  if (v.includes("\n"))
    for (const line of v.split(/\r?\n/)) if (line.trim().length >= minLength) out.add(line.trim())
}

/** Half-open ranges; `inside` asks whether [start, end) lies within one of them. */
const occurrences = (text: string, needle: string): Array<readonly [number, number]> => {
  const out: Array<readonly [number, number]> = []
  if (needle === "" || needle.length > text.length) return out
  for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + 1))
    out.push([i, i + needle.length])
  return out
}

/** The key values of list items in a structured-merge-diff path: `[name="PORT"]`, `[containerPort=8080,…]`. */
const pathKeys = /\[(?:[A-Za-z][\w-]*=(?:"(?:[^"\\]|\\.)*"|[^,\]"]*),?)+\]/g

const pathKeySpans = (text: string): Array<readonly [number, number]> =>
  [...text.matchAll(pathKeys)].map((m) => [m.index, m.index + m[0].length] as const)

const inside = (ranges: ReadonlyArray<readonly [number, number]>, start: number, end: number) =>
  ranges.some(([s, e]) => s <= start && end <= e)

/** Replaces the union of `cuts` with the mask (overlapping and adjacent values become one mask). */
const cut = (text: string, cuts: Array<readonly [number, number]>) => {
  if (cuts.length === 0) return text
  cuts.sort((a, b) => a[0] - b[0] || b[1] - a[1])
  let out = ""
  let at = 0
  let open: [number, number] | undefined
  for (const [s, e] of cuts) {
    if (open !== undefined && s <= open[1]) open[1] = Math.max(open[1], e)
    else {
      if (open !== undefined) {
        out += text.slice(at, open[0]) + mask
        at = open[1]
      }
      open = [s, e]
    }
  }
  if (open !== undefined) {
    out += text.slice(at, open[0]) + mask
    at = open[1]
  }
  return out + text.slice(at)
}

/** Builds the redactor of one reconcile (or of a stage run on its own: then with what that stage knows). */
export const makeRedactor = (input: RedactorInput = {}): Redactor => {
  // Built on the first message only: most reconciles succeed and never redact anything (indexing 2,000 objects
  // and 1,000 sensitive values takes ~50 ms).
  let index:
    | {
        readonly objects: ReadonlyMap<string, object>
        readonly publicNames: ReadonlySet<string>
        readonly sensitive: ReadonlySet<string>
      }
    | undefined
  const indexed = () => {
    if (index !== undefined) return index
    const objects = new Map<string, object>()
    const publicNames = new Set<string>(input.identities ?? [])
    for (const o of input.objects ?? []) {
      objects.set(objectKey(o), o)
      for (const id of identityOf(o)) publicNames.add(id)
    }
    const sensitive = new Set<string>()
    for (const v of input.sensitive ?? []) {
      if (v.length < minLength) continue
      forms(v, sensitive)
      forms(Buffer.from(v, "utf8").toString("base64"), sensitive)
    }
    index = { objects, publicNames, sensitive }
    return index
  }
  const contentCache = new WeakMap<object, ReadonlyArray<string>>()
  const contentOf = (o: object) => {
    let c = contentCache.get(o)
    if (c === undefined) {
      c = contentValues(o)
      contentCache.set(o, c)
    }
    return c
  }

  const redact = (message: string, about: ReadonlyArray<object | NamedRef> = []): string => {
    const { objects, publicNames, sensitive } = indexed()
    const text = maskServerValues(message)
    const concerned: Array<object> = []
    const protect: Array<string> = [...wording]
    for (const a of about) {
      if (isRef(a)) {
        protect.push(a.kind, a.name, a.namespace)
        const o = objects.get(refKey(a))
        if (o !== undefined) concerned.push(o)
      } else concerned.push(a)
    }
    const content = new Set<string>()
    const quoted = new Set<string>()
    for (const o of concerned) {
      protect.push(...identityOf(o))
      for (const v of contentOf(o)) {
        if (v === "" || publicNames.has(v) || sensitive.has(v)) continue
        if (v.length >= minLength) forms(v, content)
        else quoted.add(`"${JSON.stringify(v).slice(1, -1)}"`)
      }
    }
    const own = new Set(protect.flatMap((p) => (p === "" ? [] : [p])))
    const shielded = [...own].flatMap((p) => occurrences(text, p))
    const shieldedPath = [...shielded, ...pathKeySpans(text)]
    const cuts: Array<readonly [number, number]> = []
    const mark = (values: Iterable<string>, shields: ReadonlyArray<readonly [number, number]>) => {
      for (const v of values) {
        if (v.length < minLength || publicNames.has(v) || own.has(v)) continue
        for (const [s, e] of occurrences(text, v)) if (!inside(shields, s, e)) cuts.push([s, e])
      }
    }
    mark(sensitive, shielded)
    mark(content, shieldedPath)
    // A short value: only the text between its quotes, so the quotes show a value was there.
    for (const q of quoted)
      for (const [s, e] of occurrences(text, q)) if (!inside(shieldedPath, s, e)) cuts.push([s + 1, e - 1])
    return cut(text, cuts)
  }

  return { redact }
}

/** A redactor that knows no objects and no sensitive values: what the server quotes is still masked. */
export const serverValuesOnly: Redactor = makeRedactor()
