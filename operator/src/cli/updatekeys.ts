/**
 * `kustodian updatekeys [-y] FILE…`, as `sops updatekeys`: the key groups of each file made those of its
 * `.sops.yaml` creation rule. Per file, the groups' changes are printed as sops prints them (`Group 1`, `+++`
 * added, `--- ` removed, the Shamir threshold), in colour only on a terminal; without `-y` each change is
 * confirmed with `y`/`n` on stdin, and with no answer (stdin not a terminal, nothing piped) the file is refused,
 * as sops fails on it. The data key stays the same; every key wraps it anew. Many files: a progress bar on a
 * terminal, sops' plain log lines otherwise; failures of one file do not stop the others (exit code 1 after).
 *
 * @module
 */
import { statSync } from "node:fs"
import { resolve } from "node:path"
import { Effect } from "effect"
import { findConfigUpward, loadCreationRule } from "../sops/config.ts"
import { recoverDataKey } from "../sops/datakey.ts"
import { fromStoreError, readMetadata } from "../sops/decrypt.ts"
import { formatForPath, type KeyRecipient, type MasterKey } from "../sops/index.ts"
import { diffKeyGroups, type GroupDiff, keyString, keysChange } from "../sops/keydiff.ts"
import { servicesFor } from "../sops/keys/services.ts"
import { toBranch } from "../sops/metadata.ts"
import { rewrapKeys } from "../sops/rewrite.ts"
import { storeFor } from "../sops/stores/store.ts"
import { value } from "./args.ts"
import { readInput, writeFileAtomic } from "./io.ts"
import { cliKeyring } from "./keys.ts"
import { formatOption } from "./options.ts"
import { type Progress, progress, styles } from "./progress.ts"
import { askYesNo } from "./prompt.ts"
import { codes, ExitError, parseCommand } from "./sops-command.ts"
import { decryptionOrder } from "./sops-file.ts"

export const updatekeysUsage = `usage: kustodian updatekeys [flags] FILE [FILE…]
  make each file's key groups those of its .sops.yaml creation rule (the data key stays, every key wraps it anew)
  -y, --yes                    apply without asking (needed when stdin is not a terminal)
  --config PATH                .sops.yaml to use (default: found upward from the working directory; SOPS_CONFIG)
  --input-type TYPE            yaml|json|dotenv|ini|binary (default: by extension)
  --decryption-order TYPES     key types to try first (env SOPS_DECRYPTION_ORDER)
  -h, --help                   this text`

type Key = KeyRecipient | MasterKey

/** sops' `PrettyPrintShamirDiff` and `PrettyPrintDiffs`. */
export const describeChanges = (
  oldThreshold: number,
  newThreshold: number,
  diffs: ReadonlyArray<GroupDiff<Key>>,
  style: ReturnType<typeof styles>,
): string => {
  let out = "The following changes will be made to the file's groups:\n"
  if (oldThreshold > 0 && oldThreshold === newThreshold) out += `shamir_threshold: ${newThreshold}\n`
  else {
    if (newThreshold > 0) out += style.green(`+++ shamir_threshold: ${newThreshold}`) + "\n"
    if (oldThreshold > 0) out += style.red(`--- shamir_threshold: ${oldThreshold}`) + "\n"
  }
  for (const [i, d] of diffs.entries()) {
    out += style.underline(`Group ${i + 1}`) + "\n"
    for (const k of d.common) out += `    ${keyString(k)}\n`
    for (const k of d.added) out += style.green(`+++ ${keyString(k)}`) + "\n"
    for (const k of d.removed) out += style.red(`--- ${keyString(k)}`) + "\n"
  }
  return out
}

const updateOne = (opts: {
  readonly file: string
  readonly config: string
  readonly interactive: boolean
  readonly inputType: string | undefined
  readonly env: NodeJS.ProcessEnv
  readonly cwd: string
  readonly order: Parameters<typeof recoverDataKey>[4]
  readonly out: Progress
}) =>
  Effect.gen(function* () {
    const path = resolve(opts.cwd, opts.file)
    const info = yield* Effect.try({
      try: () => statSync(path),
      catch: (e) =>
        new ExitError({ code: codes.generic, reason: `stat ${path}: ${(e as NodeJS.ErrnoException).code}` }),
    })
    if (info.isDirectory())
      return yield* new ExitError({ code: codes.generic, reason: "can't operate on a directory" })
    opts.out.log(`Syncing keys for file ${path}`)
    const format = yield* formatOption(opts.inputType, formatForPath(path))
    const bytes = yield* readInput(path)
    const parsed = yield* storeFor(format)
      .readEncrypted(bytes)
      .pipe(Effect.mapError(fromStoreError(path)))
    const { md } = yield* readMetadata(path, parsed.metadata)
    const found = yield* loadCreationRule({ explicit: opts.config, cwd: opts.cwd, file: path }).pipe(
      Effect.mapError(
        (e) => new ExitError({ code: codes.generic, reason: `error loading config: ${e.message}` }),
      ),
    )
    if (found === undefined)
      return yield* new ExitError({
        code: codes.generic,
        reason: `The config file ${opts.config} does not contain any creation rule`,
      })
    const wanted = found.rule.keyGroups
    const diffs = diffKeyGroups<Key>(md.keyGroups, wanted)
    const threshold = Math.min(md.shamirThreshold, wanted.length)
    if (!keysChange(diffs) && threshold === md.shamirThreshold) {
      opts.out.log(`File ${path} already up to date`)
      return "unchanged" as const
    }
    opts.out.print(describeChanges(md.shamirThreshold, threshold, diffs, styles(process.stdout, opts.env)))
    if (opts.interactive) {
      const yes = askYesNo("Is this okay? (y/n):", opts.out.print)
      if (yes === undefined)
        return yield* new ExitError({
          code: codes.generic,
          reason: `${path}: no answer on stdin (EOF); pass -y to apply without asking`,
        })
      if (!yes) {
        opts.out.log(`File ${path} left unchanged`)
        return "declined" as const
      }
    }
    const keyring = cliKeyring(opts.env)
    const dataKey = yield* recoverDataKey(
      path,
      md.keyGroups,
      md.shamirThreshold,
      servicesFor(keyring),
      opts.order,
    )
    const wrapped = yield* rewrapKeys({ file: path, dataKey, groups: wanted, threshold, keyring }).pipe(
      Effect.mapError(
        (e) =>
          new ExitError({
            code: codes.generic,
            reason: `error updating one or more master keys: ${e.reason}`,
          }),
      ),
    )
    const out = yield* storeFor(format)
      .writeEncrypted(
        parsed.documents,
        toBranch({
          ...md,
          keyGroups: wrapped.keyGroups,
          shamirThreshold: wanted.length > 1 ? wrapped.shamirThreshold : threshold,
        }),
      )
      .pipe(Effect.mapError(fromStoreError(path)))
    yield* writeFileAtomic(path, out)
    opts.out.log(`File ${path} synced with new keys`)
    return "synced" as const
  })

/** `kustodian updatekeys …` */
export const updatekeysCommand = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv, cwd: string) =>
  Effect.gen(function* () {
    const p = yield* parseCommand(
      argv,
      { values: ["config", "input-type", "decryption-order"], flags: ["yes"], aliases: { y: "yes" } },
      updatekeysUsage,
    )
    const config = value(p, "config") ?? (env.SOPS_CONFIG || undefined) ?? findConfigUpward(cwd)
    if (config === undefined)
      return yield* new ExitError({
        code: codes.generic,
        reason:
          "config file not found, or has no creation rules, and no keys provided through command line options",
      })
    if (p.positional.length === 0)
      return yield* new ExitError({ code: codes.noFileSpecified, reason: "Error: no file specified" })
    const order = yield* decryptionOrder(p, env)
    const files = p.positional
    const out = progress(files.length)
    const run = (file: string) =>
      updateOne({
        file,
        config,
        interactive: !p.flags.has("yes"),
        inputType: value(p, "input-type"),
        env,
        cwd,
        order,
        out,
      })
    if (files.length === 1) {
      yield* run(files[0]!)
      return
    }
    let failed = 0
    for (const file of files) {
      out.step(file)
      const r = yield* Effect.result(run(file))
      if (r._tag === "Failure") {
        failed++
        out.warn(`kustodian updatekeys: ${r.failure.message.split("\n")[0]}`)
      }
    }
    out.done()
    if (failed > 0)
      return yield* new ExitError({ code: codes.generic, reason: `failed updating ${failed} key(s)` })
  })
