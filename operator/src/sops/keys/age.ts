/**
 * age master keys (X25519 and hybrid post-quantum identities) through `age-encryption`.
 *
 * @module
 */
import { armor, Decrypter, Encrypter } from "age-encryption"
import { Effect } from "effect"
import { KeyFailure } from "../errors.ts"
import type { AgeKey, KeyRecipient, MasterKey, MasterKeyService } from "./masterkey.ts"

/**
 * Identities from key-file texts: one or more per line (whitespace separated), blank lines and `#` comments
 * ignored. Plugin identities are skipped (not supported in process).
 */
export const parseAgeIdentities = (texts: ReadonlyArray<string>): Array<string> =>
  texts
    .flatMap((t) => t.split(/\r?\n/))
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .flatMap((l) => l.split(/\s+/))
    .filter((t) => /^AGE-SECRET-KEY-/i.test(t))

const reason = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** The age key service for a set of identities (texts as in a keys.txt file). */
export const ageService = (identityTexts: ReadonlyArray<string>): MasterKeyService => {
  const identities = parseAgeIdentities(identityTexts)
  let decrypter: Decrypter | undefined
  const getDecrypter = () => {
    if (decrypter === undefined) {
      const d = new Decrypter()
      for (const id of identities) d.addIdentity(id.toUpperCase())
      decrypter = d
    }
    return decrypter
  }
  return {
    type: "age",
    decrypt: (key: MasterKey) =>
      Effect.gen(function* () {
        if (key.type !== "age") return yield* new KeyFailure({ reason: "not an age key" })
        if (identities.length === 0)
          return yield* new KeyFailure({
            reason: "no age identity available (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, keys.txt)",
          })
        const file = yield* Effect.try({
          try: () => armor.decode(key.enc),
          catch: (e) => new KeyFailure({ reason: `malformed age armor: ${reason(e)}` }),
        })
        return yield* Effect.tryPromise({
          try: () => getDecrypter().decrypt(file),
          catch: (e) => new KeyFailure({ reason: `no age identity matched: ${reason(e)}` }),
        })
      }),
    encrypt: (recipient: KeyRecipient, part: Uint8Array) =>
      Effect.gen(function* () {
        if (recipient.type !== "age") return yield* new KeyFailure({ reason: "not an age recipient" })
        const enc = yield* Effect.tryPromise({
          try: async () => {
            const e = new Encrypter()
            e.addRecipient(recipient.recipient)
            return armor.encode(await e.encrypt(part))
          },
          catch: (e) => new KeyFailure({ reason: `cannot encrypt to age recipient: ${reason(e)}` }),
        })
        return { type: "age", recipient: recipient.recipient, enc } satisfies AgeKey
      }),
  }
}
