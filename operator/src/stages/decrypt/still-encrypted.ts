/**
 * The last guard before objects leave the build: nothing still encrypted is ever applied. An object with
 * top-level `sops` metadata, or a Secret with `ENC[…]` values or a SOPS file in its data, is refused with
 * Flux's message — unless it opted out with `kustomize.toolkit.fluxcd.io/decrypt: disabled`, which says
 * the ciphertext is meant to be stored as is.
 *
 * It runs on every build, with or without decryption configured, so it must stay cheap on hostile values:
 * detection never parses a value (see `detectSops`), and a value that carries SOPS markers but is larger than
 * `--max-decryption-size` is refused as too large to check rather than parsed.
 *
 * @module
 */
import { Effect, Option } from "effect"
import { formatRef, type KubeObject, refOf } from "../../kube/object.ts"
import { defaultLimits } from "../../limits.ts"
import { BuildFailed } from "../build/errors.ts"
import { Decryptor, tooLarge } from "./decryptor.ts"
import { decryptionDisabled, detectValueFormat, hasSopsField } from "./resources.ts"

const encryptedValue = /^ENC\[AES256_GCM,/
const ENC_PREFIX = "ENC[AES256_GCM,".length

/** The first still-encrypted part of `o`: its key path, and its size when it was too large to check. */
const firstEncrypted = (o: KubeObject, maxSize: number): { path: string; oversized?: number } | undefined => {
  if (hasSopsField(o)) return { path: "sops" }
  if (o.kind !== "Secret") return undefined
  for (const [key, value] of Object.entries((o.stringData as Record<string, unknown> | undefined) ?? {})) {
    if (typeof value === "string" && encryptedValue.test(value)) return { path: `stringData.${key}` }
  }
  for (const [key, value] of Object.entries((o.data as Record<string, unknown> | undefined) ?? {})) {
    if (typeof value !== "string") continue
    const bytes = new Uint8Array(Buffer.from(value, "base64"))
    if (encryptedValue.test(Buffer.from(bytes.subarray(0, ENC_PREFIX)).toString("latin1")))
      return { path: `data.${key}` }
    const format = detectValueFormat(bytes, key, maxSize)
    if (format === "oversized") return { path: `data.${key}`, oversized: bytes.byteLength }
    if (format !== undefined) return { path: `data.${key}` }
  }
  return undefined
}

/** The key path of the first still-encrypted part of `o` (or of a SOPS-looking value too large to check). */
export const encryptedPart = (
  o: KubeObject,
  maxSize: number = defaultLimits.maxDecryptionSize,
): string | undefined => firstEncrypted(o, maxSize)?.path

/**
 * Fails on the first object that is still encrypted. The size limit is the Decryptor's when the build has
 * one in context (`--max-decryption-size`), the default otherwise.
 */
export const refuseStillEncrypted = Effect.fn("refuseStillEncrypted")(function* (
  objects: ReadonlyArray<KubeObject>,
) {
  const decryptor = yield* Effect.serviceOption(Decryptor)
  const maxSize = Option.match(decryptor, {
    onNone: () => defaultLimits.maxDecryptionSize,
    onSome: (d) => d.limits.maxDecryptionSize,
  })
  for (const o of objects) {
    if (decryptionDisabled(o)) continue
    const found = firstEncrypted(o, maxSize)
    if (found === undefined) continue
    const part = found.path
    const what = formatRef(refOf(o))
    if (found.oversized !== undefined)
      return yield* tooLarge(
        {
          file: `${what} ${part}`,
          object: what,
          keyPath: part,
          context: `${what} may be SOPS encrypted and cannot be checked`,
        },
        found.oversized,
        maxSize,
      )
    return yield* new BuildFailed({
      message: `${what} is SOPS encrypted, configuring decryption is required for this secret to be reconciled`,
      object: what,
      keyPath: part,
      terminal: true,
    })
  }
})
