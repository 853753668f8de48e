/**
 * `kustodian encrypt [flags] FILE` — like `sops encrypt`: keys and rules from flags, environment variables or
 * the matching `.sops.yaml` creation rule (flags win), result to stdout, `--output` or `--in-place`.
 *
 * @module
 */
import { Effect } from "effect"
import { loadCreationRule } from "../sops/config.ts"
import { EncryptError } from "../sops/errors.ts"
import { encrypt, formatForPath, type KeyRecipient, type SelectionRule } from "../sops/index.ts"
import {
  ageRecipient,
  azureRecipient,
  gcpKmsRecipient,
  hckmsRecipient,
  kmsRecipient,
  pgpRecipient,
  splitList,
  vaultRecipient,
} from "../sops/recipients.ts"
import { ruleKinds } from "../sops/rules.ts"
import { ArgumentError, all, parseArgs, UsageError, value } from "./args.ts"
import { HelpRequested } from "./command.ts"
import { readInput, writeFileAtomic, writeStdout } from "./io.ts"
import { cliKeyring } from "./keys.ts"
import { formatOption, intOption } from "./options.ts"

export const encryptUsage = `usage: kustodian encrypt [flags] FILE
  --age, --pgp, --kms, --gcp-kms, --azure-kv, --hc-vault-transit, --hckms   recipients (comma-separated)
  --encryption-context k:v,…   KMS encryption context    --aws-profile NAME
  --unencrypted-suffix, --encrypted-suffix, --unencrypted-regex, --encrypted-regex,
  --unencrypted-comment-regex, --encrypted-comment-regex   selection rule (at most one)
  --mac-only-encrypted         MAC over encrypted values only
  --shamir-secret-sharing-threshold N
  --config PATH                .sops.yaml to use (default: discovered; env SOPS_CONFIG)
  --filename-override PATH     path used for creation rules and the file type
  --input-type, --output-type  yaml|json|dotenv|ini|binary
  -i, --in-place               replace FILE        --output PATH      write to PATH
  --indent N                   output indentation
  -h, --help                   this text`

/** The key flags (`--age`, …); `rotate` derives `--add-…`/`--rm-…` from them. */
export const keyFlags = ["age", "pgp", "kms", "gcp-kms", "azure-kv", "hc-vault-transit", "hckms"] as const
export type KeyFlag = (typeof keyFlags)[number]

/** One recipient from a key flag's text; undefined when malformed. */
export const flagRecipient = (
  f: KeyFlag,
  s: string,
  context: Readonly<Record<string, string>>,
  profile: string,
): KeyRecipient | undefined =>
  f === "age"
    ? ageRecipient(s)
    : f === "pgp"
      ? pgpRecipient(s)
      : f === "kms"
        ? kmsRecipient(s, context, profile)
        : f === "gcp-kms"
          ? gcpKmsRecipient(s)
          : f === "azure-kv"
            ? azureRecipient(s)
            : f === "hc-vault-transit"
              ? vaultRecipient(s)
              : hckmsRecipient(s)
const keyEnv: Record<KeyFlag, string> = {
  age: "SOPS_AGE_RECIPIENTS",
  pgp: "SOPS_PGP_FP",
  kms: "SOPS_KMS_ARN",
  "gcp-kms": "SOPS_GCP_KMS_IDS",
  "azure-kv": "SOPS_AZURE_KEYVAULT_URLS",
  "hc-vault-transit": "SOPS_VAULT_URIS",
  hckms: "SOPS_HUAWEICLOUD_KMS_IDS",
}
const flagOf = (k: string) => k.replaceAll("_", "-")

/** Recipients given on the command line or through the environment: always one key group. */
const flagRecipients = (
  p: ReturnType<typeof parseArgs>,
  env: NodeJS.ProcessEnv,
): Effect.Effect<Array<KeyRecipient>, UsageError> =>
  Effect.try({
    try: () => {
      const context = Object.fromEntries(
        splitList(value(p, "encryption-context") ?? "").map((kv) => {
          const i = kv.indexOf(":")
          if (i < 0) throw new UsageError(`--encryption-context entry ${JSON.stringify(kv)} is not key:value`)
          return [kv.slice(0, i), kv.slice(i + 1)]
        }),
      )
      const profile = value(p, "aws-profile") ?? ""
      const out: Array<KeyRecipient> = []
      for (const f of keyFlags) {
        const given = all(p, f)
        const texts = given.length > 0 ? given : env[keyEnv[f]] ? [env[keyEnv[f]]!] : []
        for (const s of texts.flatMap(splitList)) {
          const r = flagRecipient(f, s, context, profile)
          if (r === undefined) throw new UsageError(`invalid --${f} value ${JSON.stringify(s)}`)
          out.push(r)
        }
      }
      return out
    },
    catch: (e) => (e instanceof UsageError ? e : new UsageError(String(e))),
  })

/** The flags {@link encryptionConfig} reads (all taking a value). */
export const encryptionConfigFlags = [
  ...keyFlags,
  "encryption-context",
  "aws-profile",
  ...ruleKinds.map(flagOf),
  "shamir-secret-sharing-threshold",
  "config",
  "indent",
]

/**
 * What a new file is encrypted with: keys, selection rule, Shamir threshold, MAC mode and indentation from the
 * flags, else from the matching `.sops.yaml` creation rule (flags win). Shared with `edit` of a new file.
 */
export const encryptionConfig = (
  p: ReturnType<typeof parseArgs>,
  env: NodeJS.ProcessEnv,
  cwd: string,
  file: string,
  nameForRules: string,
  outputFormat: string,
) =>
  Effect.gen(function* () {
    const threshold = yield* intOption(
      value(p, "shamir-secret-sharing-threshold"),
      "shamir-secret-sharing-threshold",
    )
    let indent = yield* intOption(value(p, "indent"), "indent")

    const flagRules = ruleKinds.filter((k) => value(p, flagOf(k)) !== undefined)
    if (flagRules.length > 1)
      return yield* Effect.fail(
        new UsageError(`cannot use more than one of ${ruleKinds.map((k) => `--${flagOf(k)}`).join(", ")}`),
      )
    const flagKeys = yield* flagRecipients(p, env)
    const explicitConfig = value(p, "config") ?? (env.SOPS_CONFIG || undefined)
    const found = yield* loadCreationRule({
      cwd,
      file,
      matchAs: nameForRules,
      ...(explicitConfig === undefined ? {} : { explicit: explicitConfig }),
    })
    const cfg = found?.rule
    const keyGroups: ReadonlyArray<ReadonlyArray<KeyRecipient>> =
      flagKeys.length > 0 ? [flagKeys] : (cfg?.keyGroups ?? [])
    if (keyGroups.length === 0 || keyGroups.every((g) => g.length === 0))
      return yield* new EncryptError({
        file,
        reason: "no encryption key given: use --age, --pgp, … or a matching .sops.yaml creation rule",
      })
    const rule: SelectionRule | undefined =
      flagRules[0] !== undefined ? { kind: flagRules[0], value: value(p, flagOf(flagRules[0]))! } : cfg?.rule
    if (indent === undefined)
      indent =
        outputFormat === "yaml" ? cfg?.indent?.yaml : outputFormat === "json" ? cfg?.indent?.json : undefined
    const shamirThreshold = threshold ?? (flagKeys.length > 0 ? undefined : cfg?.shamirThreshold)

    const macOnlyEncrypted = p.flags.has("mac-only-encrypted") || cfg?.macOnlyEncrypted === true
    return { keyGroups, rule, shamirThreshold, macOnlyEncrypted, indent }
  })

export const encryptCommand = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv, cwd: string) =>
  Effect.gen(function* () {
    const p = yield* Effect.try({
      try: () =>
        parseArgs(argv, {
          values: [
            ...keyFlags,
            "encryption-context",
            "aws-profile",
            ...ruleKinds.map(flagOf),
            "shamir-secret-sharing-threshold",
            "config",
            "filename-override",
            "input-type",
            "output-type",
            "output",
            "indent",
          ],
          flags: ["in-place", "help", "mac-only-encrypted"],
          aliases: { i: "in-place", h: "help" },
        }),
      catch: (e) => e as UsageError,
    })
    if (p.flags.has("help")) return yield* Effect.fail(new HelpRequested(encryptUsage))
    const file = p.positional[0]
    if (file === undefined || p.positional.length > 1)
      return yield* Effect.fail(new ArgumentError("expected exactly one FILE"))
    const nameForRules = value(p, "filename-override") ?? file
    const format = yield* formatOption(value(p, "input-type"), formatForPath(nameForRules))
    const outputFormat = yield* formatOption(value(p, "output-type"), format)
    const { keyGroups, rule, shamirThreshold, macOnlyEncrypted, indent } = yield* encryptionConfig(
      p,
      env,
      cwd,
      file,
      nameForRules,
      outputFormat,
    )
    const bytes = yield* readInput(file)
    const out = yield* encrypt({
      bytes,
      format,
      outputFormat,
      file,
      keyGroups,
      keyring: cliKeyring(env),
      ...(shamirThreshold === undefined ? {} : { shamirThreshold }),
      ...(rule === undefined ? {} : { rule }),
      macOnlyEncrypted,
      ...(indent === undefined ? {} : { indent }),
    })
    const target = value(p, "output")
    if (p.flags.has("in-place")) yield* writeFileAtomic(file, out)
    else if (target !== undefined) yield* writeFileAtomic(target, out)
    else yield* writeStdout(out)
  })
