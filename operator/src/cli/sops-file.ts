/**
 * What sops' file subcommands share: the input and output store (`--input-type`/`--output-type`, else by
 * extension), the indentation from `.sops.yaml`'s `stores:`, `--decryption-order` (a repeated type is sops' exit
 * code 112), the invocation's keyring, and opening an encrypted file for changing it.
 *
 * @module
 */
import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import { Effect } from "effect"
import { parse as parseYaml } from "yaml"
import { discoverConfig } from "../sops/config.ts"
import type { Format } from "../sops/format.ts"
import { formatForPath, type Keyring, type KeyType } from "../sops/index.ts"
import { openForRewrite } from "../sops/rewrite.ts"
import { type Parsed, UsageError, value } from "./args.ts"
import { readInput } from "./io.ts"
import { cliKeyring } from "./keys.ts"
import { formatOption } from "./options.ts"
import { codes, ExitError } from "./sops-command.ts"

const keyTypes: ReadonlyArray<string> = ["age", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"]

/** `--decryption-order` / `SOPS_DECRYPTION_ORDER`: key types, each at most once. */
export const decryptionOrder = (p: Parsed, env: NodeJS.ProcessEnv) =>
  Effect.gen(function* () {
    const text = value(p, "decryption-order") ?? env.SOPS_DECRYPTION_ORDER ?? ""
    if (text === "") return undefined
    const order = text.split(",")
    const seen = new Set<string>()
    for (const t of order) {
      if (seen.has(t))
        return yield* new ExitError({
          code: codes.duplicateDecryptionKeyType,
          reason: `Duplicate decryption key type: ${t}`,
        })
      seen.add(t)
      if (!keyTypes.includes(t))
        return yield* Effect.fail(
          new UsageError(
            `unknown key type ${JSON.stringify(t)} in decryption order (${keyTypes.join(", ")})`,
          ),
        )
    }
    return order as Array<KeyType>
  })

/** `stores.<format>.indent` of the `.sops.yaml` sops would read (explicit, else discovered); none if unreadable. */
const storesIndent = (
  format: Format,
  cwd: string,
  file: string,
  env: NodeJS.ProcessEnv,
): number | undefined => {
  if (format !== "yaml" && format !== "json") return undefined
  const explicit = env.SOPS_CONFIG || undefined
  const config = discoverConfig({ cwd, file, ...(explicit === undefined ? {} : { explicit }) })
  if (config === undefined) return undefined
  try {
    const doc = parseYaml(readFileSync(resolve(cwd, config), "utf8")) as {
      stores?: Record<string, { indent?: unknown }>
    }
    const indent = doc?.stores?.[format]?.indent
    return typeof indent === "number" ? indent : undefined
  } catch {
    return undefined
  }
}

export interface FileContext {
  readonly file: string
  readonly format: Format
  readonly outputFormat: Format
  readonly indent: number | undefined
  readonly keyring: Keyring
  readonly order: ReadonlyArray<KeyType> | undefined
}

/** Stores, indentation, keys and decryption order for one file of a subcommand. */
export const fileContext = (p: Parsed, env: NodeJS.ProcessEnv, cwd: string, file: string) =>
  Effect.gen(function* () {
    const format = yield* formatOption(value(p, "input-type"), formatForPath(file))
    const outputFormat = yield* formatOption(value(p, "output-type"), format)
    const order = yield* decryptionOrder(p, env)
    return {
      file,
      format,
      outputFormat,
      indent: storesIndent(outputFormat, cwd, file, env),
      keyring: cliKeyring(env),
      order,
    } satisfies FileContext
  })

/** Reads and opens an encrypted file (MAC checked unless `ignoreMac`), keeping its IVs. */
export const openEncrypted = (ctx: FileContext, ignoreMac: boolean) =>
  Effect.gen(function* () {
    const bytes = yield* readInput(ctx.file)
    return yield* openForRewrite({
      bytes,
      format: ctx.format,
      file: ctx.file,
      keyring: ctx.keyring,
      mac: ignoreMac ? "ignore" : "strict",
      ...(ctx.order === undefined ? {} : { decryptionOrder: ctx.order }),
    })
  })

/** Exactly `n` positional arguments, else sops' "no file specified" (exit code 100). */
export const positionals = (p: Parsed, n: number, reason: string) =>
  p.positional.length === n
    ? Effect.succeed(p.positional)
    : Effect.fail(new ExitError({ code: codes.noFileSpecified, reason }))
