/**
 * The data key: recovering it from key groups (with Shamir when there are several) and wrapping a fresh one
 * for new files (§7).
 *
 * @module
 */
import { createHash, randomBytes } from "node:crypto"
import { Effect } from "effect"
import { combine, split } from "shamir-secret-sharing"
import { DataKeyError, EncryptError, type GroupAttempt, type KeyAttempt } from "./errors.ts"
import { type KeyGroup, type KeyRecipient, type KeyType, keyId, type MasterKey } from "./keys/masterkey.ts"
import type { ServiceLookup } from "./keys/services.ts"

/** sops' default decryption order: age, then pgp, then everything else in file order. */
export const defaultDecryptionOrder: ReadonlyArray<KeyType> = ["age", "pgp"]

const ordered = (group: KeyGroup, order: ReadonlyArray<KeyType>): Array<MasterKey> => {
  const rank = (k: MasterKey) => {
    const i = order.indexOf(k.type)
    return i < 0 ? order.length : i
  }
  return [...group].sort((a, b) => rank(a) - rank(b))
}

/** Identity of an encrypted data key, for caching: the same stanzas always open to the same key. */
export const encryptedKeyId = (groups: ReadonlyArray<KeyGroup>, threshold: number): string => {
  const h = createHash("sha256")
  h.update(String(threshold))
  for (const g of groups) {
    h.update("\u0001")
    for (const k of g) h.update(`\u0002${k.type}\u0003${keyId(k)}\u0003${k.enc}`)
  }
  return h.digest("hex")
}

/**
 * Opens the data key: every group is tried (keys in decryption order, first success wins); one group yields
 * the key itself, several groups need `threshold` recovered shares which are then combined.
 */
export const recoverDataKey = (
  file: string,
  groups: ReadonlyArray<KeyGroup>,
  threshold: number,
  services: ServiceLookup,
  order: ReadonlyArray<KeyType> = defaultDecryptionOrder,
): Effect.Effect<Uint8Array, DataKeyError> =>
  Effect.gen(function* () {
    const parts: Array<Uint8Array> = []
    const report: Array<GroupAttempt> = []
    const need = groups.length === 1 ? 1 : threshold
    for (const [index, group] of groups.entries()) {
      // once enough groups succeeded the rest cannot change the outcome
      if (groups.length > 1 && threshold > 0 && parts.length >= threshold) {
        report.push({ index, ok: false, attempts: [] })
        continue
      }
      const attempts: Array<KeyAttempt> = []
      let part: Uint8Array | undefined
      for (const key of ordered(group, order)) {
        const r = yield* Effect.result(services(key.type).decrypt(key))
        if (r._tag === "Success") {
          if (groups.length === 1 && r.success.length !== 32) {
            attempts.push({ id: keyId(key), type: key.type, reason: "decrypted data key is not 32 bytes" })
            continue
          }
          part = r.success
          break
        }
        attempts.push({ id: keyId(key), type: key.type, reason: r.failure.reason })
      }
      if (part !== undefined) parts.push(part)
      report.push({ index, ok: part !== undefined, attempts })
    }
    const fail = () => new DataKeyError({ file, threshold: need, groups: report })
    if (groups.length === 1) return parts[0] ?? (yield* fail())
    if (parts.length < Math.max(need, 2)) return yield* fail()
    const key = yield* Effect.tryPromise({ try: () => combine(parts), catch: () => fail() })
    if (key.length !== 32) return yield* fail()
    return key
  })

/** A fresh 32-byte data key. */
export const newDataKey = (): Uint8Array => new Uint8Array(randomBytes(32))

/**
 * Wraps the data key for every recipient: whole key with one group, Shamir share i for group i otherwise.
 * Returns the stored key groups.
 */
export const wrapDataKey = (
  file: string,
  dataKey: Uint8Array,
  groups: ReadonlyArray<ReadonlyArray<KeyRecipient>>,
  threshold: number | undefined,
  services: ServiceLookup,
): Effect.Effect<Array<Array<MasterKey>>, EncryptError> =>
  Effect.gen(function* () {
    if (groups.length === 0) return yield* new EncryptError({ file, reason: "no key groups provided" })
    if (groups.some((g) => g.length === 0))
      return yield* new EncryptError({ file, reason: "empty key group provided" })
    let parts: ReadonlyArray<Uint8Array>
    if (groups.length === 1) parts = [dataKey]
    else {
      const t = threshold ?? groups.length
      if (t < 2 || t > groups.length || groups.length > 255)
        return yield* new EncryptError({
          file,
          reason: `shamir threshold ${t} is invalid for ${groups.length} key groups (need 2 ≤ threshold ≤ groups ≤ 255)`,
        })
      parts = yield* Effect.tryPromise({
        try: () => split(dataKey, groups.length, t),
        catch: (e) => new EncryptError({ file, reason: `cannot split data key: ${(e as Error).message}` }),
      })
    }
    return yield* Effect.forEach(groups, (group, i) =>
      Effect.forEach(group, (recipient) =>
        services(recipient.type)
          .encrypt(recipient, parts[i]!)
          .pipe(
            Effect.mapError(
              (e) => new EncryptError({ file, reason: `${recipient.type} ${keyId(recipient)}: ${e.reason}` }),
            ),
          ),
      ),
    )
  })
