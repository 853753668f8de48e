/**
 * `kustodian demo` — the SOPS engine end to end, in memory: generate an age key, encrypt a sample Kubernetes
 * Secret the way a GitOps repository stores it, print it, decrypt it back and print that. Nothing touches disk.
 *
 * @module
 */
import { generateIdentity, identityToRecipient } from "age-encryption"
import { Effect } from "effect"
import { decrypt, encrypt } from "../sops/index.ts"
import { ArgumentError, parseArgs } from "./args.ts"
import { HelpRequested, parsing } from "./command.ts"
import { writeStdout } from "./io.ts"

export const demoUsage = `usage: kustodian demo
  encrypt a sample Secret with a generated age key, print it, decrypt it back and print that (nothing written)
  -h, --help   this text`

export const sampleSecret = `apiVersion: v1
kind: Secret
metadata:
    name: database
    namespace: demo
type: Opaque
# values under data/stringData are encrypted, everything else stays readable
stringData:
    username: app
    password: correct-horse-battery-staple
`

const say = (s: string) => writeStdout(new TextEncoder().encode(s))

export const demoCommand = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const p = yield* parsing(() => parseArgs(argv, { values: [], flags: ["help"], aliases: { h: "help" } }))
    if (p.flags.has("help")) return yield* Effect.fail(new HelpRequested(demoUsage))
    if (p.positional.length > 0)
      return yield* Effect.fail(new ArgumentError(`unexpected argument ${JSON.stringify(p.positional[0])}`))
    const identity = yield* Effect.promise(() => generateIdentity())
    const recipient = yield* Effect.promise(() => identityToRecipient(identity))
    yield* say(`# 1. generated an age key pair in memory; recipient: ${recipient}\n`)
    yield* say(`# 2. plaintext Secret:\n${sampleSecret}\n`)
    const encrypted = yield* encrypt({
      bytes: new TextEncoder().encode(sampleSecret),
      format: "yaml",
      file: "secret.yaml",
      keyGroups: [[{ type: "age", recipient }]],
      rule: { kind: "encrypted_regex", value: "^(data|stringData)$" },
    })
    yield* say("# 3. encrypted with sops semantics (encrypted_regex: ^(data|stringData)$):\n")
    yield* writeStdout(encrypted)
    const { plaintext } = yield* decrypt({
      bytes: encrypted,
      format: "yaml",
      file: "secret.yaml",
      keyring: { scope: "demo", age: [identity], pgp: [] },
      mac: "strict",
    })
    yield* say("\n# 4. decrypted again with the age identity (MAC verified):\n")
    yield* writeStdout(plaintext)
  })
