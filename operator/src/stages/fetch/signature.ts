/**
 * Git commit and tag signatures as Flux's `spec.verify` checks them: the signature is split from the raw object
 * (`git cat-file`), its armor says OpenPGP or SSH, and it is checked against the public keys of the verify
 * Secret — OpenPGP key rings in process (`openpgp`), SSH keys with the real `ssh-keygen -Y verify`. Keys are
 * sorted as Flux sorts them: `*.sshpub` are SSH authorized keys, every other key (`*.asc` and the rest) an
 * OpenPGP key ring. The identity returned is what Flux reports: the signing primary key's 16-hex id, or the
 * SSH key's SHA256 fingerprint.
 *
 * @module
 */
import { execFile } from "node:child_process"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import { tempRoot } from "../../temp-root.ts"
import type { SecretData } from "./git-auth.ts"

const pgpSuffix = ".asc"
const sshSuffix = ".sshpub"

/** The verify Secret's keys, by kind. */
export interface VerificationKeys {
  readonly keyRings: ReadonlyArray<string>
  readonly authorizedKeys: ReadonlyArray<string>
}

export const verificationKeys = (data: SecretData): VerificationKeys => {
  const keyRings: string[] = []
  const authorizedKeys: string[] = []
  for (const [k, v] of Object.entries(data)) {
    const text = Buffer.from(v).toString("utf8")
    if (k.endsWith(sshSuffix)) authorizedKeys.push(text)
    else keyRings.push(text)
  }
  return { keyRings, authorizedKeys }
}

/** A signed git object split into what was signed and the armored signature ("" when unsigned). */
export interface SignedObject {
  readonly payload: Buffer
  readonly signature: string
}

/**
 * A commit's signature is the `gpgsig` header (continuation lines start with a space); the signed payload is
 * the object without that header.
 */
export const splitCommit = (raw: Buffer): SignedObject => {
  const text = raw.toString("latin1")
  const end = text.indexOf("\n\n")
  const headers = (end < 0 ? text : text.slice(0, end + 1)).split("\n")
  const kept: string[] = []
  const sig: string[] = []
  let inSig = false
  for (const line of headers) {
    if (line.startsWith("gpgsig ")) {
      inSig = true
      sig.push(line.slice("gpgsig ".length))
    } else if (inSig && line.startsWith(" ")) sig.push(line.slice(1))
    else {
      inSig = false
      kept.push(line)
    }
  }
  const rest = end < 0 ? "" : text.slice(end + 1)
  return {
    payload: Buffer.from(kept.join("\n") + rest, "latin1"),
    signature: sig.length === 0 ? "" : `${sig.join("\n")}\n`,
  }
}

const armorStarts = [
  "-----BEGIN PGP SIGNATURE-----",
  "-----BEGIN SSH SIGNATURE-----",
  "-----BEGIN SIGNED MESSAGE-----",
]

/** A tag's signature is appended to its message; the payload is everything before the armor. */
export const splitTag = (raw: Buffer): SignedObject => {
  const text = raw.toString("latin1")
  let at = -1
  for (const start of armorStarts) {
    const i = text.startsWith(start) ? 0 : text.lastIndexOf(`\n${start}`)
    if (i >= 0) at = Math.max(at, i === 0 ? 0 : i + 1)
  }
  if (at < 0) return { payload: raw, signature: "" }
  return { payload: Buffer.from(text.slice(0, at), "latin1"), signature: text.slice(at) }
}

/** Flux's names for the armor kinds. */
export const signatureType = (signature: string): string => {
  const s = signature.trimStart()
  if (s === "") return "empty"
  if (s.startsWith("-----BEGIN PGP SIGNATURE-----")) return "openpgp"
  if (s.startsWith("-----BEGIN SSH SIGNATURE-----")) return "ssh"
  if (s.startsWith("-----BEGIN SIGNED MESSAGE-----")) return "x509"
  return "unknown"
}

const reasonOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** Old keys are RSA-1024; accept what GnuPG accepts, as the SOPS key path does. */
const pgpConfig = { minRSABits: 1024 } as const

/** The id of the primary key whose (sub)key made a good signature, or why none did. */
const verifyPgp = (object: SignedObject, keyRings: ReadonlyArray<string>) =>
  Effect.tryPromise({
    try: async () => {
      const openpgp = await import("openpgp")
      const signature = await openpgp.readSignature({ armoredSignature: object.signature, config: pgpConfig })
      const message = await openpgp.createMessage({ binary: new Uint8Array(object.payload) })
      let unreadable: string | undefined
      for (const ring of keyRings) {
        let keys: Awaited<ReturnType<typeof openpgp.readKeys>>
        try {
          keys = await openpgp.readKeys({ armoredKeys: ring, config: pgpConfig })
        } catch (e) {
          unreadable = `unable to read armored key ring: ${reasonOf(e)}`
          continue
        }
        const result = await openpgp.verify({ message, signature, verificationKeys: keys, config: pgpConfig })
        for (const s of result.signatures) {
          const ok = await s.verified.then(
            () => true,
            () => false,
          )
          if (!ok) continue
          const signer = keys.find((k) => k.getKeys(s.keyID).length > 0)
          if (signer !== undefined) return signer.getKeyID().toHex().toUpperCase()
        }
      }
      throw new Error(
        unreadable ?? "unable to verify payload with any of the given key rings: no matching key",
      )
    },
    catch: (e) => reasonOf(e),
  })

/** Run ssh-keygen with no config of the user's, bounded in time; resolves with its exit and output. */
const sshKeygen = (args: ReadonlyArray<string>, stdin: Buffer, home: string) =>
  Effect.callback<{ ok: boolean; stdout: string; stderr: string }>((resume) => {
    const child = execFile(
      "ssh-keygen",
      args,
      {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home },
        timeout: 10_000,
        maxBuffer: 64 * 1024,
      },
      (error, stdout, stderr) =>
        resume(Effect.succeed({ ok: error === null, stdout: String(stdout), stderr: String(stderr) })),
    )
    child.stdin?.on("error", () => {})
    child.stdin?.end(stdin)
  })

/** Every key line of the authorized keys, as ssh-keygen's allowed-signers file for one fixed principal. */
const allowedSigners = (authorizedKeys: ReadonlyArray<string>): string =>
  authorizedKeys
    .flatMap((k) => k.split("\n"))
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => `kustodian namespaces="git" ${l}\n`)
    .join("")

/** The SHA256 fingerprint of the key that made a good SSH signature (namespace `git`), or why none did. */
const verifySsh = (object: SignedObject, authorizedKeys: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tempRoot(), "kustodian-sshsig-"))),
      (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
    )
    const signers = allowedSigners(authorizedKeys)
    if (signers === "") return yield* Effect.fail("unable to parse authorized keys: no key found")
    yield* Effect.promise(async () => {
      await writeFile(join(dir, "allowed_signers"), signers, { mode: 0o600 })
      await writeFile(join(dir, "signature"), object.signature, { mode: 0o600 })
    })
    const out = yield* sshKeygen(
      [
        "-Y",
        "verify",
        "-f",
        join(dir, "allowed_signers"),
        "-I",
        "kustodian",
        "-n",
        "git",
        "-s",
        join(dir, "signature"),
      ],
      object.payload,
      dir,
    )
    const fingerprint = /\b(SHA256:[A-Za-z0-9+/=]+)/.exec(out.stdout)?.[1]
    if (!out.ok || fingerprint === undefined)
      return yield* Effect.fail(
        "unable to verify payload with any of the given authorized keys: signature does not verify",
      )
    return fingerprint
  }).pipe(Effect.scoped)

/**
 * Verify a commit or tag: dispatch on the armor as Flux does. Fails with Flux's wording (without its
 * `unable to verify Git commit:` prefix, which the caller adds for the object kind).
 */
export const verifySigned = (
  kind: "commit" | "tag",
  object: SignedObject,
  keys: VerificationKeys,
): Effect.Effect<string, string> => {
  const type = signatureType(object.signature)
  const what = kind === "commit" ? "Git commit" : "Git tag"
  switch (type) {
    case "openpgp":
      if (keys.keyRings.length === 0)
        return Effect.fail(
          `PGP signature detected but no PGP public keys found in secret (keys with ${pgpSuffix} suffix)`,
        )
      return verifyPgp(object, keys.keyRings).pipe(Effect.mapError((e) => `unable to verify ${what}: ${e}`))
    case "ssh":
      if (keys.authorizedKeys.length === 0)
        return Effect.fail(
          `SSH signature detected but no SSH public keys found in secret (keys with ${sshSuffix} suffix)`,
        )
      return verifySsh(object, keys.authorizedKeys).pipe(
        Effect.mapError((e) => `unable to verify ${what} SSH signature: ${e}`),
      )
    default:
      return Effect.fail(`unsupported signature type: ${type}`)
  }
}
