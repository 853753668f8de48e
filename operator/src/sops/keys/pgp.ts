/**
 * OpenPGP master keys: armored private keys in process (`openpgp`, RSA and ECC, no passphrase), then — when the
 * keyring allows it, as the sops CLI does — the `gpg` binary.
 *
 * @module
 */
import { Effect } from "effect"
import type * as OpenPGP from "openpgp"
import { KeyFailure } from "../errors.ts"
import { nowSeconds } from "../goformat.ts"
import { type GpgOptions, gpgDecrypt, gpgEncrypt } from "./gpg.ts"
import type { KeyRecipient, MasterKey, MasterKeyService, PgpKey } from "./masterkey.ts"

/** Loaded when a PGP key is first used: most clusters only ever use age, and the library is large. */
const openpgpLib = () => import("openpgp")

/** Old sops test keys are RSA-1024; accept what GnuPG accepts. */
const config = { minRSABits: 1024 } as const

const reason = (e: unknown) => (e instanceof Error ? e.message : String(e))

const privateBlock = /-----BEGIN PGP PRIVATE KEY BLOCK-----[\s\S]*?-----END PGP PRIVATE KEY BLOCK-----/g

/** Every private-key armor block of the texts (a key export may hold several; public blocks are skipped). */
const privateBlocks = (texts: ReadonlyArray<string>): Array<string> =>
  texts.flatMap((t) => t.match(privateBlock) ?? [])

const readKeys = (armored: ReadonlyArray<string>) =>
  Effect.forEach(privateBlocks(armored), (armoredKeys) =>
    Effect.tryPromise({
      try: async () => (await openpgpLib()).readPrivateKeys({ armoredKeys, config }),
      catch: (e) => new KeyFailure({ reason: `cannot read OpenPGP private key: ${reason(e)}` }),
    }),
  ).pipe(Effect.map((ks) => ks.flat()))

/** True when the fingerprint names the key or one of its subkeys (a trailing `!` selects a subkey). */
const matches = (key: OpenPGP.Key, fp: string): boolean => {
  const want = fp.replace(/!$/, "").replace(/\s/g, "").toLowerCase()
  if (key.getFingerprint().toLowerCase() === want) return true
  return key.getSubkeys().some((s) => s.getFingerprint().toLowerCase() === want)
}

export interface PgpServiceOptions {
  /** Armored private keys (several keys per text are fine). */
  readonly privateKeys: ReadonlyArray<string>
  /** Fall back to the gpg binary (CLI); unset = in-process keys only (operator). */
  readonly gpg?: GpgOptions
}

/** The PGP key service: in-process keys first, then `gpg` when enabled. */
export const pgpService = (opts: PgpServiceOptions): MasterKeyService => {
  let keys: Promise<Array<OpenPGP.PrivateKey>> | undefined
  const loadKeys = Effect.suspend(() => {
    if (opts.privateKeys.length === 0) return Effect.succeed([] as Array<OpenPGP.PrivateKey>)
    return readKeys(opts.privateKeys).pipe(
      Effect.tap((ks) =>
        Effect.sync(() => {
          keys = Promise.resolve(ks)
        }),
      ),
    )
  })
  const getKeys = Effect.suspend(() => (keys === undefined ? loadKeys : Effect.promise(() => keys!)))

  const inProcessDecrypt = (enc: string, ks: Array<OpenPGP.PrivateKey>) =>
    Effect.tryPromise({
      try: async () => {
        const openpgp = await openpgpLib()
        const message = await openpgp.readMessage({ armoredMessage: enc, config })
        const { data } = await openpgp.decrypt({ message, decryptionKeys: ks, format: "binary", config })
        return data as Uint8Array
      },
      catch: (e) => new KeyFailure({ reason: reason(e) }),
    })

  return {
    type: "pgp",
    decrypt: (key: MasterKey) =>
      Effect.gen(function* () {
        if (key.type !== "pgp") return yield* new KeyFailure({ reason: "not a PGP key" })
        const ks = yield* getKeys
        const failures: Array<string> = []
        if (ks.length > 0) {
          const r = yield* Effect.result(inProcessDecrypt(key.enc, ks))
          if (r._tag === "Success") return r.success
          failures.push(`in process: ${r.failure.reason}`)
        } else failures.push("no OpenPGP private key in the keyring")
        if (opts.gpg !== undefined) {
          const r = yield* Effect.result(gpgDecrypt(opts.gpg, key.enc))
          if (r._tag === "Success") return r.success
          failures.push(r.failure.reason)
        }
        return yield* new KeyFailure({ reason: failures.join("; ") })
      }),
    encrypt: (recipient: KeyRecipient, part: Uint8Array) =>
      Effect.gen(function* () {
        if (recipient.type !== "pgp") return yield* new KeyFailure({ reason: "not a PGP recipient" })
        const ks = yield* getKeys
        const own = ks.find((k) => matches(k, recipient.fp))
        let enc: string
        if (own !== undefined) {
          enc = yield* Effect.tryPromise({
            try: async () => {
              const openpgp = await openpgpLib()
              return (
                await openpgp.encrypt({
                  message: await openpgp.createMessage({ binary: part }),
                  encryptionKeys: own.toPublic(),
                  format: "armored",
                  config,
                })
              ).trim()
            },
            catch: (e) => new KeyFailure({ reason: `cannot encrypt to ${recipient.fp}: ${reason(e)}` }),
          })
        } else if (opts.gpg !== undefined) {
          enc = yield* gpgEncrypt(opts.gpg, recipient.fp, part)
        } else {
          return yield* new KeyFailure({ reason: `no public key for ${recipient.fp}` })
        }
        return { type: "pgp", fp: recipient.fp, createdAt: nowSeconds(), enc } satisfies PgpKey
      }),
  }
}
