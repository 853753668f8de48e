/**
 * The sops MAC: SHA-512 over the cleartext byte form of the leaves in walk order, as 128 uppercase hex digits,
 * stored encrypted with the `lastmodified` text as additional data (§5).
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto"
import { CipherError, decryptValue, encryptValue, scalarBytes } from "./cipher.ts"
import { formatTimeSeconds } from "./goformat.ts"
import type { Scalar } from "./tree.ts"

/** SHA-256("sops"), fed first when `mac_only_encrypted` is set. */
const macOnlyEncryptedInit = Buffer.from(
  "8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69",
  "hex",
)

/** An incremental MAC over leaves. */
export class Mac {
  readonly #hash: Hash
  constructor(macOnlyEncrypted: boolean) {
    this.#hash = createHash("sha512")
    if (macOnlyEncrypted) this.#hash.update(macOnlyEncryptedInit)
  }
  add(v: Exclude<Scalar, null>): void {
    this.#hash.update(scalarBytes(v))
  }
  digest(): string {
    return this.#hash.digest("hex").toUpperCase()
  }
}

/** The additional data for the stored MAC: `lastmodified` re-formatted at second precision. */
export const macAad = (lastModified: string): string | undefined => formatTimeSeconds(lastModified)

/** Encrypts a MAC for the `mac` metadata field. */
export const encryptMac = (mac: string, key: Uint8Array, lastModified: string): string => {
  const aad = macAad(lastModified)
  if (aad === undefined) throw new CipherError("lastmodified is not an RFC 3339 time")
  return encryptValue(mac, key, aad)
}

/** Decrypts the stored MAC; throws {@link CipherError} when it cannot. */
export const decryptMac = (stored: string, key: Uint8Array, lastModified: string): string => {
  const aad = macAad(lastModified)
  if (aad === undefined) throw new CipherError("lastmodified is not an RFC 3339 time")
  const v = decryptValue(stored, key, aad)
  if (typeof v !== "string") throw new CipherError("stored MAC is not a string")
  return v
}
