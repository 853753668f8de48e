/**
 * `kustodian keygen age|pgp`: the keys of the seed's first step without age-keygen or gpg.
 *
 * - `age` writes what `age-keygen` writes (`# created: <RFC 3339>`, `# public key: age1…`, the identity) to
 *   `-o FILE` (created 0600, never overwritten) or stdout, and `Public key: age1…` on stderr, as age-keygen does.
 * - `pgp` makes the key of the seed's `gpg --batch --full-generate-key` block (RSA-4096 primary for signing and
 *   certification, RSA-4096 encryption subkey, no expiry, no passphrase, user ID `NAME (COMMENT) <EMAIL>`) with
 *   openpgp in process; the armored private key goes to `-o FILE` (0600) or stdout, the public key to
 *   `--public FILE` (e.g. `.sops.pub.asc`), the fingerprint (what `.sops.yaml`'s `pgp:` takes) to stderr.
 *
 * @module
 */
import { closeSync, openSync, writeSync } from "node:fs"
import { generateIdentity, identityToRecipient } from "age-encryption"
import { Effect } from "effect"
import * as openpgp from "openpgp"
import { parseArgs, UsageError, value } from "./args.ts"
import { HelpRequested, parsing } from "./command.ts"
import { FileError, writeStdout } from "./io.ts"

export const keygenUsage = `kustodian keygen age [-o FILE]
  a new age X25519 identity in age-keygen's format; the public key (age1…) on stderr
  -o, --output FILE     write it to FILE (created with mode 0600; an existing file is never overwritten)

kustodian keygen pgp --name NAME [--comment C] [--email E] [-o FILE] [--public FILE]
  a new OpenPGP key with the seed's parameters: RSA-4096 with an RSA-4096 encryption subkey, no expiry, no
  passphrase; the fingerprint on stderr
  --name NAME           the user ID's name (the seed's KEY_NAME, e.g. cluster0.yourdomain.com)
  --comment C           the user ID's comment (the seed's KEY_COMMENT, e.g. "flux secrets")
  --email E             the user ID's email
  -o, --output FILE     the armored private key (mode 0600, never overwritten; default stdout)
  --public FILE         the armored public key, e.g. ./clusters/cluster0/.sops.pub.asc (never overwritten)`

const why = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message ?? String(e)

/** Creates `file` with `mode` and writes `text`; refuses an existing file (`O_EXCL`), as age-keygen does. */
const writeNewFile = (file: string, text: string, mode: number) =>
  Effect.try({
    try: () => {
      const fd = openSync(file, "wx", mode)
      try {
        writeSync(fd, text)
      } finally {
        closeSync(fd)
      }
    },
    catch: (e) =>
      new FileError({
        file,
        op: "write",
        reason: (e as NodeJS.ErrnoException).code === "EEXIST" ? "file exists (not overwritten)" : why(e),
      }),
  })

const output = (file: string | undefined, text: string, mode: number) =>
  file === undefined || file === "-"
    ? writeStdout(new TextEncoder().encode(text))
    : writeNewFile(file, text, mode)

const pad = (n: number) => String(n).padStart(2, "0")

/** Go's `time.RFC3339` in local time: `2006-01-02T15:04:05Z07:00`. */
export const rfc3339 = (d: Date): string => {
  const offset = -d.getTimezoneOffset()
  const zone =
    offset === 0
      ? "Z"
      : `${offset > 0 ? "+" : "-"}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${zone}`
}

const generateAge = Effect.fn("generateAge")(function* (file: string | undefined) {
  const identity = yield* Effect.promise(() => generateIdentity())
  const recipient = yield* Effect.promise(() => identityToRecipient(identity))
  const text = `# created: ${rfc3339(new Date())}\n# public key: ${recipient}\n${identity}\n`
  yield* output(file, text, 0o600)
  // age-keygen prints this unless the key itself goes to a terminal
  if (file !== undefined || !process.stdout.isTTY)
    yield* Effect.sync(() => process.stderr.write(`Public key: ${recipient}\n`))
})

const generatePgp = Effect.fn("generatePgp")(function* (opts: {
  readonly name: string
  readonly comment: string | undefined
  readonly email: string | undefined
  readonly file: string | undefined
  readonly publicFile: string | undefined
}) {
  const generated = yield* Effect.promise(() =>
    openpgp.generateKey({
      type: "rsa",
      rsaBits: 4096,
      userIDs: [
        {
          name: opts.name,
          ...(opts.comment ? { comment: opts.comment } : {}),
          ...(opts.email ? { email: opts.email } : {}),
        },
      ],
      keyExpirationTime: 0,
      format: "object",
    }),
  )
  const fingerprint = generated.privateKey.getFingerprint().toUpperCase()
  // the public key first: a failure there leaves no private key behind that nobody could encrypt to
  if (opts.publicFile !== undefined) yield* writeNewFile(opts.publicFile, generated.publicKey.armor(), 0o644)
  yield* output(opts.file, generated.privateKey.armor(), 0o600)
  yield* Effect.sync(() => process.stderr.write(`Fingerprint: ${fingerprint}\n`))
})

const spec = {
  values: ["output", "name", "comment", "email", "public"],
  flags: ["help"],
  aliases: { o: "output", h: "help" },
}

/** `kustodian keygen …` */
export const keygenCommand = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const [kind, ...rest] = argv
    if (kind === "--help" || kind === "-h" || kind === "help")
      return yield* Effect.fail(new HelpRequested(keygenUsage))
    if (kind === undefined) return yield* Effect.fail(new UsageError("needs a key type: age or pgp"))
    const p = yield* parsing(() => parseArgs(rest, spec))
    if (p.flags.has("help")) return yield* Effect.fail(new HelpRequested(keygenUsage))
    if (p.positional.length > 0)
      return yield* Effect.fail(new UsageError(`unexpected argument ${JSON.stringify(p.positional[0])}`))
    const file = value(p, "output")
    if (kind === "age") {
      for (const f of ["name", "comment", "email", "public"])
        if (p.values.has(f)) return yield* Effect.fail(new UsageError(`--${f} is a flag of keygen pgp`))
      return yield* generateAge(file)
    }
    if (kind === "pgp") {
      const name = value(p, "name")
      if (name === undefined || name.trim() === "")
        return yield* Effect.fail(new UsageError("keygen pgp needs --name (the user ID)"))
      return yield* generatePgp({
        name,
        comment: value(p, "comment"),
        email: value(p, "email"),
        file,
        publicFile: value(p, "public"),
      })
    }
    return yield* Effect.fail(new UsageError(`unknown key type ${JSON.stringify(kind)} (age, pgp)`))
  })
