/**
 * Secret values hidden from what `kustodian build` and `kustodian diff` print.
 *
 * - {@link maskForBuild}: Flux's masking of `flux build kustomization` (fluxcd/flux2 `internal/build`,
 *   `maskSopsData`): every `data` value becomes the base64 of `**SOPS**`, every `stringData` value `**SOPS**`;
 *   a `kubernetes.io/dockerconfigjson` Secret gets `{"mask":"**SOPS**"}` instead, so the value stays JSON. Flux
 *   masks only values that are still SOPS ciphertext (it cannot decrypt); ours are decrypted, so every value of
 *   every Secret is masked. The `sops` metadata is removed.
 * - {@link maskPair}: the masking of a drifted Secret in `diff`, as `kubectl diff` does it: a value equal on both
 *   sides is `***` on both, a changed one `*** (before)` / `*** (after)`, so the diff says which keys changed and
 *   never what they hold. `flux diff` can only compare keys (its values are ciphertext); ours compares values.
 *
 * - {@link maskDecrypted}: outside Secrets (a SOPS-encrypted ConfigMap, a decrypted value copied elsewhere),
 *   every string that is a decrypted value, or holds one of four characters or more, has it replaced by
 *   `**SOPS**` (the build keeps only values of four characters or more, and only those that were `ENC[…]`);
 *   `apiVersion`, `kind` and the object's name, namespace and labels stay: they name it, and sops encrypts
 *   them too when no `encrypted_regex` says otherwise.
 *
 * Both also blank `kubectl.kubernetes.io/last-applied-configuration` of a Secret: a client-side `kubectl apply`
 * leaves the plaintext there.
 *
 * @module
 */

/** Flux's mask. */
export const sopsMask = "**SOPS**"
const base64Mask = Buffer.from(sopsMask).toString("base64")
const dockerMask = JSON.stringify({ mask: sopsMask })
const dockerConfigJson = "kubernetes.io/dockerconfigjson"
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

type Json = Record<string, unknown>
const isRecord = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v)

/** Is `o` a core/v1 Secret? */
export const isSecretObject = (o: unknown): boolean =>
  isRecord(o) && o.kind === "Secret" && (o.apiVersion === "v1" || o.apiVersion === undefined)

const mapValues = (m: unknown, f: (key: string, v: unknown) => unknown): unknown =>
  isRecord(m) ? Object.fromEntries(Object.entries(m).map(([k, v]) => [k, f(k, v)])) : m

const withoutLastApplied = (metadata: unknown): unknown => {
  if (!isRecord(metadata) || !isRecord(metadata.annotations) || !(lastApplied in metadata.annotations))
    return metadata
  return { ...metadata, annotations: { ...metadata.annotations, [lastApplied]: "***" } }
}

/** `o` with Flux's masks in place of its Secret values; other kinds unchanged. */
export const maskForBuild = <T>(o: T): T => {
  if (!isSecretObject(o)) return o
  const s = o as Json
  const docker = s.type === dockerConfigJson
  const { sops: _sops, ...rest } = s
  const out: Json = { ...rest, metadata: withoutLastApplied(s.metadata) }
  if ("data" in s)
    out.data = mapValues(s.data, () => (docker ? Buffer.from(dockerMask).toString("base64") : base64Mask))
  if ("stringData" in s) out.stringData = mapValues(s.stringData, () => (docker ? dockerMask : sopsMask))
  return out as T
}

/** Both sides of a Secret's diff with `***`, `*** (before)`, `*** (after)` for its values. */
export const maskPair = <T>(before: T, after: T): { readonly before: T; readonly after: T } => {
  if (!isSecretObject(before) && !isSecretObject(after)) return { before, after }
  const b = (isRecord(before) ? before : {}) as Json
  const a = (isRecord(after) ? after : {}) as Json
  const side = (self: Json, other: Json, label: string): Json => {
    const out: Json = { ...self, metadata: withoutLastApplied(self.metadata) }
    for (const field of ["data", "stringData"]) {
      if (!(field in self)) continue
      const theirs = isRecord(other[field]) ? (other[field] as Json) : {}
      out[field] = mapValues(self[field], (k, v) =>
        k in theirs && theirs[k] !== v ? `*** (${label})` : "***",
      )
    }
    return out
  }
  return { before: side(b, a, "before") as T, after: side(a, b, "after") as T }
}

/** Shorter decrypted values are masked only where they are a whole string (see the redactor's `minLength`). */
const minInside = 4

/** `o` (not a Secret) with the decrypted `values` masked in its strings; Secrets unchanged. */
export const maskDecrypted = <T>(o: T, values: ReadonlyArray<string>): T => {
  if (isSecretObject(o) || values.length === 0 || !isRecord(o)) return o
  const whole = new Set(values)
  const inside = [...whole].filter((v) => v.length >= minInside).sort((a, b) => b.length - a.length)
  const str = (s: string): string => {
    if (whole.has(s)) return sopsMask
    let out = s
    for (const v of inside) if (out.includes(v)) out = out.split(v).join(sopsMask)
    return out
  }
  const walk = (v: unknown): unknown =>
    typeof v === "string"
      ? str(v)
      : Array.isArray(v)
        ? v.map(walk)
        : isRecord(v)
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]))
          : v
  const { apiVersion, kind, metadata, ...rest } = o as Json
  const meta = isRecord(metadata) ? (walk(metadata) as Json) : metadata
  if (isRecord(meta) && isRecord(metadata))
    for (const k of ["name", "namespace", "labels"]) if (k in metadata) meta[k] = metadata[k]
  return {
    apiVersion,
    kind,
    ...(metadata === undefined ? {} : { metadata: meta }),
    ...(walk(rest) as Json),
  } as T
}
