/**
 * The last guard before objects leave the build: nothing still encrypted is ever applied. An object with
 * top-level `sops` metadata, or a Secret with `ENC[…]` values or a SOPS file in its data, is refused with
 * Flux's message — unless it opted out with `kustomize.toolkit.fluxcd.io/decrypt: disabled`, which says
 * the ciphertext is meant to be stored as is.
 *
 * @module
 */
import { Effect } from "effect"
import { BuildFailed } from "../build/errors.ts"
import { type KubeObject, objectRef } from "../build/objects.ts"
import { decryptionDisabled, detectValueFormat, hasSopsField } from "./resources.ts"

const encryptedValue = /^ENC\[AES256_GCM,/

/** The key path of the first still-encrypted part of `o`, or undefined. */
export const encryptedPart = (o: KubeObject): string | undefined => {
  if (hasSopsField(o)) return "sops"
  if (o.kind !== "Secret") return undefined
  for (const [key, value] of Object.entries((o.stringData as Record<string, unknown> | undefined) ?? {})) {
    if (typeof value === "string" && encryptedValue.test(value)) return `stringData.${key}`
  }
  for (const [key, value] of Object.entries((o.data as Record<string, unknown> | undefined) ?? {})) {
    if (typeof value !== "string") continue
    const bytes = new Uint8Array(Buffer.from(value, "base64"))
    if (
      encryptedValue.test(Buffer.from(bytes).toString("latin1")) ||
      detectValueFormat(bytes, key) !== undefined
    ) {
      return `data.${key}`
    }
  }
  return undefined
}

/** Fails on the first object that is still encrypted. */
export const refuseStillEncrypted = Effect.fn("refuseStillEncrypted")(function* (
  objects: ReadonlyArray<KubeObject>,
) {
  for (const o of objects) {
    if (decryptionDisabled(o)) continue
    const part = encryptedPart(o)
    if (part === undefined) continue
    const what = objectRef(o)
    return yield* new BuildFailed({
      message: `${what} is SOPS encrypted, configuring decryption is required for this secret to be reconciled`,
      object: what,
      keyPath: part,
      terminal: true,
    })
  }
})
