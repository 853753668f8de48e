/**
 * Post-build decryption of what is still encrypted after kustomize ran:
 * - any document with top-level `sops` metadata (from a remote base, which pre-build decryption cannot
 *   reach), decrypted whole through the JSON store. kustomize has transformed such a document (namespace,
 *   prefix, labels), so its MAC cannot be verified; this step skips the MAC check, as Flux does;
 * - SOPS files stored inside `Secret.data` values (e.g. generated from a file kustomize copied verbatim),
 *   re-emitted in the format of the data key's extension. These values are untouched files, so their MAC
 *   is verified under the configured policy.
 * Objects annotated `kustomize.toolkit.fluxcd.io/decrypt: disabled` are left alone.
 *
 * @module
 */
import { Effect } from "effect"
import { formatRef, type KubeObject, refOf } from "../../kube/object.ts"
import { defaultLimits } from "../../limits.ts"
import { detectSops, type Format, formatForPath } from "../../sops/index.ts"
import { BuildFailed } from "../build/errors.ts"
import { type DecryptionKeys, Decryptor, type MacWarning, tooLarge } from "./decryptor.ts"
import { plaintextValues } from "./plaintext-values.ts"

export const decryptOptOut = "kustomize.toolkit.fluxcd.io/decrypt"

/** True when the object opted out of decryption (value compared case-insensitively, as Flux). */
export const decryptionDisabled = (o: KubeObject) =>
  o.metadata.annotations?.[decryptOptOut]?.toLowerCase() === "disabled"

/** True when the object carries top-level `sops` metadata with a MAC (Flux's test for an encrypted document). */
export const hasSopsField = (o: KubeObject) => {
  const sops = o.sops as Record<string, unknown> | null | undefined
  return typeof sops === "object" && sops !== null && typeof sops.mac === "string" && sops.mac !== ""
}

/** The format a Secret data key's value is emitted in, from its extension (Flux's rule). */
export const formatForDataKey = (key: string): Format =>
  key.endsWith(".dockerconfigjson") ? "json" : formatForPath(key)

const detectionOrder: ReadonlyArray<Format> = ["json", "yaml", "dotenv", "ini"]

/**
 * The store an encrypted value was written with: the key's own format first, else whichever matches; or
 * `oversized` when the value carries SOPS markers but is over `maxSize` (it must be refused, not parsed).
 * Cheap on any value (see `detectSops`): the still-encrypted guard runs it on every Secret value.
 */
export const detectValueFormat = (
  bytes: Uint8Array,
  key: string,
  maxSize: number = defaultLimits.maxDecryptionSize,
): Format | "oversized" | undefined => {
  const own = formatForDataKey(key)
  const first = detectSops(bytes, own, maxSize)
  if (first === "oversized") return "oversized"
  if (first === "sops") return own
  return detectionOrder.find((f) => f !== own && detectSops(bytes, f, maxSize) === "sops")
}

const isSecret = (o: KubeObject) => o.kind === "Secret" && o.apiVersion === "v1"

/** Decrypts the built objects; returns the new list and MAC warnings. */
export const decryptResources = Effect.fn("decryptResources")(function* (
  objects: ReadonlyArray<KubeObject>,
  keys: DecryptionKeys,
) {
  const decryptor = yield* Decryptor
  const warnings: MacWarning[] = []
  const out: KubeObject[] = []
  const values: string[] = []
  for (const o of objects) {
    if (decryptionDisabled(o)) {
      out.push(o)
      continue
    }
    const what = formatRef(refOf(o))
    const ns = `${o.metadata.namespace ?? ""}/${o.metadata.name}`
    if (hasSopsField(o)) {
      const bytes = new TextEncoder().encode(JSON.stringify(o))
      const { plaintext } = yield* decryptor.decrypt({
        bytes,
        format: "json",
        file: what,
        object: what,
        context: `decryption failed for '${what}': failed to decrypt and format '${ns}' ${o.kind} data`,
        keys,
        mac: "ignore",
      })
      const decoded = yield* Effect.try({
        try: () => JSON.parse(new TextDecoder().decode(plaintext)) as KubeObject,
        catch: () =>
          new BuildFailed({
            message: `decryption failed for '${what}': failed to emit encrypted JSON file as decrypted JSON`,
            object: what,
            terminal: true,
          }),
      })
      for (const v of plaintextValues(bytes, plaintext, "json")) values.push(v)
      out.push(decoded)
      continue
    }
    if (isSecret(o) && typeof o.data === "object" && o.data !== null) {
      const data = { ...(o.data as Record<string, unknown>) }
      let changed = false
      for (const [key, value] of Object.entries(data)) {
        if (typeof value !== "string") continue
        // Non-base64 values are left for the API server to reject, as Flux does.
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value.replace(/\s/g, ""))) continue
        const bytes = new Uint8Array(Buffer.from(value, "base64"))
        const format = detectValueFormat(bytes, key, decryptor.limits.maxDecryptionSize)
        if (format === undefined) continue
        const request = {
          file: `${what} data.${key}`,
          object: what,
          keyPath: `data.${key}`,
          context: `decryption failed for '${what}': failed to decrypt and format '${ns}' Secret field '${key}'`,
        }
        if (format === "oversized")
          return yield* tooLarge(request, bytes.byteLength, decryptor.limits.maxDecryptionSize)
        const { plaintext, warning } = yield* decryptor.decrypt({
          ...request,
          bytes,
          format,
          outputFormat: formatForDataKey(key),
          keys,
        })
        if (warning) warnings.push(warning)
        for (const v of plaintextValues(bytes, plaintext, format)) values.push(v)
        data[key] = Buffer.from(plaintext).toString("base64")
        changed = true
      }
      out.push(changed ? { ...o, data } : o)
      continue
    }
    out.push(o)
  }
  return { objects: out, warnings, values } as {
    readonly objects: ReadonlyArray<KubeObject>
    readonly warnings: ReadonlyArray<MacWarning>
    /** Plaintext values of what was decrypted, for redaction (memory only). */
    readonly values: ReadonlyArray<string>
  }
})
