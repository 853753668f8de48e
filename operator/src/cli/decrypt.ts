/**
 * `kustodian decrypt [flags] FILE` — like `sops decrypt`: plaintext to stdout, `--output`, or `--in-place`.
 *
 * @module
 */
import { Effect } from "effect"
import { decryptFile, fromStoreError } from "../sops/decrypt.ts"
import { decrypt, formatForPath, type KeyType } from "../sops/index.ts"
import { splitList } from "../sops/recipients.ts"
import { storeFor } from "../sops/stores/store.ts"
import { isBranch } from "../sops/tree.ts"
import { ArgumentError, all, parseArgs, UsageError, value } from "./args.ts"
import { HelpRequested } from "./command.ts"
import { extract, parseExtractPath, scalarText } from "./extract.ts"
import { readInput, writeFileAtomic, writeStdout } from "./io.ts"
import { cliKeyring } from "./keys.ts"
import { formatOption, intOption } from "./options.ts"

const keyTypes: ReadonlyArray<KeyType> = ["age", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"]

export const decryptUsage = `usage: kustodian decrypt [flags] FILE
  --input-type, --output-type  yaml|json|dotenv|ini|binary (default: by extension)
  -i, --in-place               write the plaintext back to FILE
  --output PATH                write the plaintext to PATH
  --ignore-mac                 skip the MAC check
  --indent N                   output indentation
  --extract '["key"][0]'       print only that value (strings raw, mappings in the output format)
  --decryption-order TYPES     key types to try first, e.g. pgp,age (env SOPS_DECRYPTION_ORDER)
  -h, --help                   this text`

export const decryptCommand = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv) =>
  Effect.gen(function* () {
    const p = yield* Effect.try({
      try: () =>
        parseArgs(argv, {
          values: [
            "input-type",
            "output-type",
            "output",
            "indent",
            "filename-override",
            "decryption-order",
            "extract",
          ],
          flags: ["in-place", "help", "ignore-mac"],
          aliases: { i: "in-place", h: "help" },
        }),
      catch: (e) => e as UsageError,
    })
    if (p.flags.has("help")) return yield* Effect.fail(new HelpRequested(decryptUsage))
    const file = p.positional[0]
    if (file === undefined || p.positional.length > 1 || all(p, "output").length > 1)
      return yield* Effect.fail(new ArgumentError("expected exactly one FILE"))
    const format = yield* formatOption(
      value(p, "input-type"),
      formatForPath(value(p, "filename-override") ?? file),
    )
    const outputFormat = yield* formatOption(value(p, "output-type"), format)
    const indent = yield* intOption(value(p, "indent"), "indent")
    const order = splitList(value(p, "decryption-order") ?? env.SOPS_DECRYPTION_ORDER ?? "")
    const unknown = order.filter((t) => !keyTypes.includes(t as KeyType))
    if (unknown.length > 0)
      return yield* Effect.fail(new UsageError(`unknown key type in decryption order: ${unknown.join(", ")}`))
    const bytes = yield* readInput(file)
    const extractPath = value(p, "extract")
    const steps =
      extractPath === undefined
        ? undefined
        : yield* Effect.try({ try: () => parseExtractPath(extractPath), catch: (e) => e as UsageError })
    const input = {
      bytes,
      format,
      file,
      keyring: cliKeyring(env),
      mac: p.flags.has("ignore-mac") ? ("ignore" as const) : ("strict" as const),
      ...(order.length === 0 ? {} : { decryptionOrder: order as Array<KeyType> }),
    }
    let plaintext: Uint8Array
    if (steps === undefined) {
      plaintext = (yield* decrypt({ ...input, outputFormat, ...(indent === undefined ? {} : { indent }) }))
        .plaintext
    } else {
      const opened = yield* decryptFile(input)
      const picked = yield* Effect.try({
        try: () => extract(opened.documents, steps),
        catch: (e) => e as UsageError,
      })
      const raw = scalarText(picked, outputFormat)
      if (raw !== undefined) plaintext = raw
      else if (isBranch(picked))
        plaintext = yield* storeFor(outputFormat, indent === undefined ? {} : { indent })
          .writePlain([picked])
          .pipe(Effect.mapError(fromStoreError(file)))
      else
        return yield* Effect.fail(
          new UsageError("--extract: extracting a list is not supported; extract a mapping or a scalar"),
        )
    }
    const out = value(p, "output")
    if (p.flags.has("in-place")) yield* writeFileAtomic(file, plaintext)
    else if (out !== undefined) yield* writeFileAtomic(out, plaintext)
    else yield* writeStdout(plaintext)
  })
