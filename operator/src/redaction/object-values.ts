/**
 * What of an object is content (masked in messages) and what is its identity (kept readable).
 *
 * Identity is what names the object in every message, inventory entry and Event anyway: `apiVersion`, `kind`,
 * `metadata.name` and `metadata.namespace`. Without them a message could not say which object failed, and they
 * are public to anyone who can read the Kustomization's status. Everything else written in Git — labels,
 * annotations, `data`, `spec`, env values, images, ports — is content: any of it may be a password pasted into a
 * ConfigMap or an env var. What the API server adds to a live object (uid, resourceVersion, timestamps,
 * managedFields, ownerReferences, `status`) is neither: it is not from Git, and `status` is what health messages
 * are made of, so masking it would hide the reason an object is not ready.
 *
 * @module
 */

/** The identity strings of an object: apiVersion, its group and version, kind, name, namespace. */
export const identityOf = (obj: object): ReadonlyArray<string> => {
  const o = obj as {
    apiVersion?: unknown
    kind?: unknown
    metadata?: { name?: unknown; namespace?: unknown }
  }
  const out: Array<string> = []
  const add = (v: unknown) => {
    if (typeof v === "string" && v !== "") out.push(v)
  }
  add(o.apiVersion)
  if (typeof o.apiVersion === "string" && o.apiVersion.includes("/")) {
    const [group, version] = o.apiVersion.split("/", 2)
    add(group)
    add(version)
  }
  add(o.kind)
  add(o.metadata?.name)
  add(o.metadata?.namespace)
  return out
}

/** Top-level fields that are identity or written by the cluster, not content from Git. */
const notContent = new Set(["apiVersion", "kind", "status"])

/** Metadata fields that are identity or set by the API server. */
const notContentMetadata = new Set([
  "name",
  "namespace",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "selfLink",
  "managedFields",
  "ownerReferences",
])

/** Secret `data`/`binaryData` and ConfigMap `binaryData` hold base64: their decoded text is content too. */
const base64Fields = (o: { kind?: unknown; apiVersion?: unknown }): ReadonlySet<string> =>
  o.apiVersion === "v1" && o.kind === "Secret"
    ? new Set(["data", "binaryData"])
    : o.apiVersion === "v1" && o.kind === "ConfigMap"
      ? new Set(["binaryData"])
      : new Set()

/** The text `v` is the base64 of, when it is base64 of UTF-8 text (a round trip gives `v` back). */
export const decodedBase64 = (v: string): string | undefined => {
  const compact = v.replace(/\s/g, "")
  if (compact === "" || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return undefined
  const bytes = Buffer.from(compact, "base64")
  if (bytes.toString("base64") !== compact) return undefined
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes)
  return text === "" || text.includes("\uFFFD") ? undefined : text
}

const leaves = (v: unknown, out: Array<string>, decode: boolean) => {
  if (typeof v === "string") {
    out.push(v)
    if (decode) {
      const d = decodedBase64(v)
      if (d !== undefined) out.push(d)
    }
  } else if (typeof v === "number" || typeof v === "bigint") out.push(String(v))
  else if (Array.isArray(v)) for (const x of v) leaves(x, out, decode)
  else if (v !== null && typeof v === "object") for (const x of Object.values(v)) leaves(x, out, decode)
  // Booleans and null are not masked as text: `true` is in too many sentences. The server's own quotes of
  // them (`Invalid value: true`) are masked by the field-error grammar.
}

/**
 * Every string and number value of the object's content (see the module comment), with the decoded text of
 * base64 data. Map keys are not values: they are the field path (`data[password]`) and stay readable.
 */
export const contentValues = (obj: object): ReadonlyArray<string> => {
  const o = obj as Record<string, unknown>
  const decodeIn = base64Fields(o)
  const out: Array<string> = []
  for (const [k, v] of Object.entries(o)) {
    if (notContent.has(k)) continue
    if (k === "metadata" && v !== null && typeof v === "object") {
      for (const [mk, mv] of Object.entries(v)) if (!notContentMetadata.has(mk)) leaves(mv, out, false)
      continue
    }
    leaves(v, out, decodeIn.has(k))
  }
  return out
}
