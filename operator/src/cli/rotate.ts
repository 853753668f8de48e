/**
 * `kustodian rotate [-i] [--add-age R] [--rm-pgp FP] … FILE…`, as `sops rotate`: a new data key, every value
 * re-encrypted with it, the key groups changed first (`--add-*` into the first group, `--rm-*` out of every
 * group, matched by sops' key string). The result goes to stdout, `--output` or back into FILE (`-i`). With
 * `-i`, several files may be given (sops takes only the first): a progress bar on a terminal, a line per file
 * otherwise; the remaining files are still rotated after a failure and the exit code is then 1.
 *
 * @module
 */
import { existsSync } from "node:fs"
import { Effect } from "effect"
import { newDataKey } from "../sops/datakey.ts"
import type { KeyRecipient, MasterKey } from "../sops/index.ts"
import { keyString } from "../sops/keydiff.ts"
import { splitList } from "../sops/recipients.ts"
import { reencrypt, rewrapKeys } from "../sops/rewrite.ts"
import { all, type Parsed, UsageError, value } from "./args.ts"
import { flagRecipient, keyFlags } from "./encrypt.ts"
import { writeFileAtomic, writeStdout } from "./io.ts"
import { progress } from "./progress.ts"
import { codes, ExitError, parseCommand } from "./sops-command.ts"
import { fileContext, openEncrypted } from "./sops-file.ts"

export const rotateUsage = `usage: kustodian rotate [flags] FILE [FILE…]
  a new data key for FILE, every value re-encrypted with it; optionally add or remove master keys
  -i, --in-place               write back to FILE (required for several files)
  --output PATH                write the result to PATH (default stdout)
  ${keyFlags.map((f) => `--add-${f}`).join(", ")}
                               add these comma-separated keys to the first key group
  ${keyFlags.map((f) => `--rm-${f}`).join(", ")}
                               remove these keys from every key group
  --encryption-context k:v,…   KMS encryption context of added/removed --…-kms keys
  --input-type, --output-type  yaml|json|dotenv|ini|binary (default: by extension)
  --filename-override PATH     path used for the file type
  --decryption-order TYPES     key types to try first (env SOPS_DECRYPTION_ORDER)
  -h, --help                   this text`

const keyChangeFlags = keyFlags.flatMap((f) => [`add-${f}`, `rm-${f}`])

const encryptionContext = (text: string) =>
  Effect.try({
    try: () =>
      Object.fromEntries(
        splitList(text).map((kv) => {
          const i = kv.indexOf(":")
          if (i < 0) throw new Error(kv)
          return [kv.slice(0, i), kv.slice(i + 1)]
        }),
      ),
    catch: () => new ExitError({ code: 6, reason: "Invalid KMS encryption context format" }),
  })

/** The keys of `--add-…` or `--rm-…` flags. */
const flagKeys = (p: Parsed, prefix: "add" | "rm", context: Readonly<Record<string, string>>) =>
  Effect.try({
    try: () =>
      keyFlags.flatMap((f) =>
        all(p, `${prefix}-${f}`)
          .flatMap(splitList)
          .map((s) => {
            const r = flagRecipient(f, s, context, "")
            if (r === undefined) throw new UsageError(`invalid --${prefix}-${f} value ${JSON.stringify(s)}`)
            return r
          }),
      ),
    catch: (e) => (e instanceof UsageError ? e : new UsageError(String(e))),
  })

/** One file: open, change the groups, new data key, re-encrypt; the bytes to write. */
const rotateOne = (
  p: Parsed,
  env: NodeJS.ProcessEnv,
  cwd: string,
  file: string,
  add: ReadonlyArray<KeyRecipient>,
  remove: ReadonlyArray<KeyRecipient>,
) =>
  Effect.gen(function* () {
    const ctx = yield* fileContext(p, env, cwd, value(p, "filename-override") ?? file)
    const opened = yield* openEncrypted({ ...ctx, file }, false)
    const md = opened.metadata
    const gone = new Set(remove.map(keyString))
    const groups: Array<Array<KeyRecipient | MasterKey>> = md.keyGroups.map((g, i) =>
      [...g, ...(i === 0 ? add : [])].filter((k) => !gone.has(keyString(k))),
    )
    const dataKey = newDataKey()
    const wrapped = yield* rewrapKeys({
      file,
      dataKey,
      groups,
      threshold: md.shamirThreshold,
      keyring: ctx.keyring,
    }).pipe(
      Effect.mapError(
        (e) => new ExitError({ code: codes.generic, reason: `Could not generate data key: ${e.reason}` }),
      ),
    )
    return yield* reencrypt({
      file,
      documents: opened.documents,
      metadata: { ...md, keyGroups: wrapped.keyGroups, shamirThreshold: wrapped.shamirThreshold },
      dataKey,
      format: ctx.outputFormat,
      ...(ctx.indent === undefined ? {} : { indent: ctx.indent }),
    })
  })

/** `kustodian rotate …` */
export const rotateCommand = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv, cwd: string) =>
  Effect.gen(function* () {
    const p = yield* parseCommand(
      argv,
      {
        values: [
          "output",
          "input-type",
          "output-type",
          "encryption-context",
          "filename-override",
          "decryption-order",
          ...keyChangeFlags,
        ],
        flags: ["in-place"],
        aliases: { i: "in-place" },
      },
      rotateUsage,
    )
    const files = p.positional
    if (files.length === 0)
      return yield* new ExitError({ code: codes.noFileSpecified, reason: "Error: no file specified" })
    const inPlace = p.flags.has("in-place")
    const output = value(p, "output")
    if (inPlace && output !== undefined)
      return yield* new ExitError({
        code: codes.conflictingParameters,
        reason: "Error: cannot operate on both --output and --in-place",
      })
    if (files.length > 1 && !inPlace)
      return yield* Effect.fail(new UsageError("several files need -i (each is rotated in place)"))
    const context = yield* encryptionContext(value(p, "encryption-context") ?? "")
    const add = yield* flagKeys(p, "add", context)
    const remove = yield* flagKeys(p, "rm", context)
    const changesKeys = keyChangeFlags.some((f) => p.values.has(f))
    for (const file of files)
      if (changesKeys && !existsSync(file))
        return yield* new ExitError({
          code: codes.cannotChangeKeysFromNonExistentFile,
          reason: `Error: cannot add or remove keys on non-existent file ${JSON.stringify(file)}, use the \`edit\` subcommand instead.`,
        })
    if (files.length === 1) {
      const out = yield* rotateOne(p, env, cwd, files[0]!, add, remove)
      if (inPlace) yield* writeFileAtomic(files[0]!, out)
      else if (output !== undefined) yield* writeFileAtomic(output, out)
      else yield* writeStdout(out)
      return
    }
    const bar = progress(files.length)
    let failed = 0
    for (const file of files) {
      bar.step(file)
      const r = yield* Effect.result(
        rotateOne(p, env, cwd, file, add, remove).pipe(Effect.flatMap((out) => writeFileAtomic(file, out))),
      )
      if (r._tag === "Success") bar.log(`File ${file} rotated`)
      else {
        failed++
        bar.warn(`kustodian rotate: ${r.failure.message.split("\n")[0]}`)
      }
    }
    bar.done()
    if (failed > 0)
      return yield* new ExitError({
        code: codes.generic,
        reason: `failed rotating ${failed} of ${files.length} file(s)`,
      })
  })
