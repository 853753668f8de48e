/**
 * `kustodian create secret sops-age|sops-gpg|sops-hcvault NAME`: the decryption Secret of the seed's
 * `kubectl create secret generic … --from-file=age.agekey=/dev/stdin` steps, with Flux's entry names
 * (`*.agekey`, `*.asc`, `sops.vault-token`, from the decryptor's own `keys.ts`) and the content checked before
 * anything is printed or applied: an SSH key, a public key, a passphrase-protected PGP key or an entry name the
 * decryptor would ignore (`age.key`) is refused, naming the file, never its content.
 *
 * @module
 */
import { basename } from "node:path"
import { Data, Effect } from "effect"
import * as openpgp from "openpgp"
import type { KubeObject } from "../kube/object.ts"
import { CoreResources } from "../kube/resource.ts"
import { agekeyProblem, suggestName } from "../stages/decrypt/keys.ts"
import { all, parseArgs, UsageError, value } from "./args.ts"
import { HelpRequested, parsing } from "./command.ts"
import { emit, outputFlags, outputUsage } from "./create-output.ts"
import { checkName, namespaceFlag } from "./flux-flags.ts"
import { readInput } from "./io.ts"

export const createSecretUsage = `kustodian create secret sops-age NAME --from-file=[ENTRY=]KEYFILE … [flags]
kustodian create secret sops-gpg NAME --from-file=[ENTRY=]KEYFILE … [flags]
kustodian create secret sops-hcvault NAME --token-file FILE|- [flags]
  --from-file [ENTRY=]FILE   a key file (- for stdin); repeatable. The entry is ENTRY, else the file's name if it
                             ends in .agekey (age) or .asc (gpg), else age.agekey / sops.asc
  --entry ENTRY              the entry name for a single --from-file
  --token-file FILE|-        the Vault token (entry sops.vault-token)
  -n, --namespace NS         the Secret's namespace (default flux-system)
${outputUsage}`

/** A key file whose content is not what its entry needs; the reason never quotes the content. */
export class KeyFileError extends Data.TaggedError("KeyFileError")<{
  readonly file: string
  readonly entry: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.file}: cannot be entry '${this.entry}': ${this.reason}`
  }
}

const entryExt = { "sops-age": ".agekey", "sops-gpg": ".asc" } as const
const defaultEntry = { "sops-age": "age.agekey", "sops-gpg": "sops.asc" } as const

const spec = {
  values: [...outputFlags.values, "namespace", "from-file", "entry", "token-file"],
  flags: [...outputFlags.flags, "help"],
  aliases: { n: "namespace", h: "help" },
}

interface Source {
  readonly entry: string
  readonly file: string
}

/** Checks the entry name the way the decryptor reads names, with its hint for a name it would ignore. */
const checkEntry = (kind: "sops-age" | "sops-gpg", entry: string, file: string, content: string) => {
  const ext = entryExt[kind]
  if (entry.endsWith(ext) && !/[/\\]/.test(entry) && /^[-._a-zA-Z0-9]+$/.test(entry)) return
  const suggested = suggestName(entry, content) ?? `${entry}${ext}`
  throw new KeyFileError({
    file,
    entry,
    reason: `Flux reads only entries ending in ${ext} (and valid Secret keys) for ${kind === "sops-age" ? "age identities" : "OpenPGP keys"}; name it '${suggested.endsWith(ext) ? suggested : defaultEntry[kind]}'`,
  })
}

const ageProblem = (text: string): string | undefined => {
  if (/^\s*age1[0-9a-z]+\s*$/m.test(text) && !/AGE-SECRET-KEY-/i.test(text))
    return "it holds an age public key (age1…), not an identity; use the file with the AGE-SECRET-KEY-1… line (kustodian keygen age -o FILE)"
  if (/ssh-(ed25519|rsa) AAAA/.test(text))
    return "it holds an SSH public key; Flux needs an age identity (AGE-SECRET-KEY-1…)"
  if (!/AGE-SECRET-KEY-/i.test(text) && agekeyProblem(text) === undefined) return "it holds no age identity"
  return agekeyProblem(text)
}

const pgpProblem = async (text: string): Promise<string | undefined> => {
  if (text.includes("-----BEGIN PGP PUBLIC KEY BLOCK-----") && !text.includes("PRIVATE KEY BLOCK"))
    return "it holds an OpenPGP public key; export the secret key (gpg --export-secret-keys --armor FINGERPRINT, or kustodian keygen pgp)"
  if (!text.includes("-----BEGIN PGP PRIVATE KEY BLOCK-----"))
    return /^-----BEGIN (OPENSSH|RSA|EC|DSA) PRIVATE KEY-----/m.test(text)
      ? "it holds an SSH private key, not an armored OpenPGP private key"
      : "it is not an armored OpenPGP private key (-----BEGIN PGP PRIVATE KEY BLOCK-----)"
  let keys: Array<openpgp.PrivateKey>
  try {
    keys = await openpgp.readPrivateKeys({ armoredKeys: text })
  } catch {
    return "it is not a readable OpenPGP private key"
  }
  // Flux imports keys without a passphrase; a protected key would fail every decryption
  if (keys.some((k) => !k.isDecrypted()))
    return "the private key is passphrase-protected; Flux can only use keys without one (gpg's %no-protection)"
  return undefined
}

const sourcesOf = (
  kind: "sops-age" | "sops-gpg",
  fromFiles: ReadonlyArray<string>,
  entry: string | undefined,
) => {
  if (fromFiles.length === 0) throw new UsageError(`create secret ${kind}: --from-file is required`)
  if (entry !== undefined && fromFiles.length > 1)
    throw new UsageError("--entry names the entry of a single --from-file; use --from-file=ENTRY=FILE")
  const sources = fromFiles.map((f): Source => {
    const eq = f.indexOf("=")
    if (eq > 0) return { entry: f.slice(0, eq), file: f.slice(eq + 1) }
    const name = basename(f)
    return {
      entry: entry ?? (name.endsWith(entryExt[kind]) && f !== "-" ? name : defaultEntry[kind]),
      file: f,
    }
  })
  const seen = new Set<string>()
  for (const s of sources) {
    if (seen.has(s.entry))
      throw new UsageError(`two files for entry '${s.entry}'; name them with --from-file=ENTRY=FILE`)
    seen.add(s.entry)
  }
  return sources
}

const decodeText = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** The Secret of a flag set, its key files read and checked. */
export const secretFromArgs = Effect.fn("secretFromArgs")(function* (argv: ReadonlyArray<string>) {
  const [kind, ...rest] = argv
  if (kind === "--help" || kind === "-h" || kind === "help")
    return yield* Effect.fail(new HelpRequested(createSecretUsage))
  if (kind === undefined)
    return yield* Effect.fail(
      new UsageError("create secret needs a type: sops-age, sops-gpg or sops-hcvault"),
    )
  if (kind !== "sops-age" && kind !== "sops-gpg" && kind !== "sops-hcvault")
    return yield* Effect.fail(
      new UsageError(
        `create secret: unknown type ${JSON.stringify(kind)} (sops-age, sops-gpg, sops-hcvault; for other Secrets use kubectl create secret)`,
      ),
    )
  const p = yield* parsing(() => parseArgs(rest, spec))
  if (p.flags.has("help")) return yield* Effect.fail(new HelpRequested(createSecretUsage))
  if (p.positional.length > 1)
    return yield* Effect.fail(new UsageError(`unexpected argument ${JSON.stringify(p.positional[1])}`))
  const name = yield* parsing(() => checkName(p.positional[0]))
  const data: Record<string, string> = {}
  if (kind === "sops-hcvault") {
    if (all(p, "from-file").length > 0 || value(p, "entry") !== undefined)
      return yield* Effect.fail(
        new UsageError("create secret sops-hcvault takes --token-file, not --from-file"),
      )
    const file = value(p, "token-file")
    if (file === undefined)
      return yield* Effect.fail(new UsageError("create secret sops-hcvault: --token-file FILE|- is required"))
    const token = decodeText(yield* readInput(file)).trim()
    const entry = "sops.vault-token"
    if (token === "") return yield* new KeyFileError({ file, entry, reason: "the token is empty" })
    if (/\s/.test(token))
      return yield* new KeyFileError({
        file,
        entry,
        reason: "a Vault token is one word; the file holds several",
      })
    if (/-----BEGIN|AGE-SECRET-KEY-/.test(token))
      return yield* new KeyFileError({ file, entry, reason: "it holds a key, not a Vault token" })
    data[entry] = Buffer.from(token, "utf8").toString("base64")
  } else {
    if (value(p, "token-file") !== undefined)
      return yield* Effect.fail(new UsageError(`create secret ${kind} takes --from-file, not --token-file`))
    const sources = yield* parsing(() => sourcesOf(kind, all(p, "from-file"), value(p, "entry")))
    for (const { entry, file } of sources) {
      const bytes = yield* readInput(file)
      const text = decodeText(bytes)
      yield* Effect.try({
        try: () => checkEntry(kind, entry, file, text),
        catch: (e) => e as KeyFileError,
      })
      const problem = kind === "sops-age" ? ageProblem(text) : yield* Effect.promise(() => pgpProblem(text))
      if (problem !== undefined) return yield* new KeyFileError({ file, entry, reason: problem })
      data[entry] = Buffer.from(bytes).toString("base64")
    }
  }
  const obj = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: namespaceFlag(p) },
    data,
  }
  return { parsed: p, obj }
})

export const createSecretCommand = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const { parsed, obj } = yield* secretFromArgs(argv)
    yield* emit(parsed, CoreResources.secret, obj as unknown as KubeObject, { separator: false })
  })
