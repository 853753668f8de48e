/**
 * `kustodian set FILE INDEX VALUE` and `kustodian unset FILE INDEX`, as `sops set` / `sops unset`: change one
 * value (or branch) of an encrypted file in place. Unchanged values keep their ciphertext; only the changed
 * value, `lastmodified` and the MAC differ afterwards. `--value-file`/`--value-stdin` keep the secret out of
 * process listings; `--idempotent` leaves the file untouched when nothing changes (set) or the index is missing
 * (unset). Exit codes as sops: 100 arguments, 7 index or value format, 1 key not found, 2 unreadable file.
 *
 * @module
 */
import { readFileSync } from "node:fs"
import { Effect } from "effect"
import { BadMetadata } from "../sops/errors.ts"
import { reencrypt } from "../sops/rewrite.ts"
import { type Branch, isComment } from "../sops/tree.ts"
import {
  KeyNotFound,
  parseTreePath,
  setPath,
  TreePathError,
  unsetPath,
  valueFromJson,
} from "../sops/treepath.ts"
import { FileError, writeFileAtomic } from "./io.ts"
import { codes, ExitError, parseCommand } from "./sops-command.ts"
import { type FileContext, fileContext, openEncrypted, positionals } from "./sops-file.ts"

const common = `  --input-type, --output-type  yaml|json|dotenv|ini|binary (default: by extension)
  --ignore-mac                 skip the MAC check
  --decryption-order TYPES     key types to try first, e.g. pgp,age (env SOPS_DECRYPTION_ORDER)
  -h, --help                   this text`

export const setUsage = `usage: kustodian set [flags] FILE INDEX [VALUE]
  set a key or branch of an encrypted file in place; VALUE is JSON, e.g. set s.yaml '["data"]["pw"]' '"x"'
  --value-file                 VALUE is a file to read the JSON value from
  --value-stdin                read the JSON value from stdin (no VALUE argument)
  --idempotent                 do not write the file when the index already has that value
${common}`

export const unsetUsage = `usage: kustodian unset [flags] FILE INDEX
  remove a key or branch of an encrypted file in place, e.g. unset s.yaml '["data"]["old"]'
  --idempotent                 succeed without writing when the index does not exist
${common}`

const shared = ["input-type", "output-type", "decryption-order"]

const index = (text: string, what: "set" | "unset") =>
  Effect.try({
    try: () => parseTreePath(text),
    catch: () => new ExitError({ code: codes.invalidSetFormat, reason: `Invalid ${what} index format` }),
  })

/** sops' `HasSopsTopLevelKey` (and the dotenv store's `sops_` prefix). */
const sopsKeyAtTop = (ctx: FileContext, first: Branch) =>
  first.items.some(
    (i) =>
      !isComment(i.key) && (i.key === "sops" || (ctx.outputFormat === "dotenv" && i.key.startsWith("sops_"))),
  )

const readValue = (p: { flags: ReadonlySet<string> }, arg: string | undefined) =>
  Effect.try({
    try: () =>
      p.flags.has("value-stdin")
        ? readFileSync(0, "utf8")
        : p.flags.has("value-file")
          ? readFileSync(arg!, "utf8")
          : arg!,
    catch: (e) =>
      new FileError({
        file: p.flags.has("value-stdin") ? "-" : arg!,
        op: "read",
        reason: (e as NodeJS.ErrnoException).code ?? String(e),
      }),
  })

/** `kustodian set …` */
export const setCommand = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv, cwd: string) =>
  Effect.gen(function* () {
    const p = yield* parseCommand(
      argv,
      { values: shared, flags: ["value-file", "value-stdin", "ignore-mac", "idempotent"] },
      setUsage,
    )
    if (p.flags.has("value-file") && p.flags.has("value-stdin"))
      return yield* new ExitError({
        code: codes.generic,
        reason: "Error: cannot use both --value-file and --value-stdin",
      })
    const [file, indexText, valueArg] = p.flags.has("value-stdin")
      ? yield* positionals(
          p,
          2,
          "Error: file specified, or index and value are missing. Need precisely 2 positional arguments since --value-stdin is used.",
        )
      : yield* positionals(
          p,
          3,
          "Error: no file specified, or index and value are missing. Need precisely 3 positional arguments.",
        )
    const ctx = yield* fileContext(p, env, cwd, file!)
    const path = yield* index(indexText!, "set")
    const text = yield* readValue(p, valueArg)
    const newValue = yield* Effect.try({
      try: () => valueFromJson(text),
      catch: (e) => new ExitError({ code: codes.invalidSetFormat, reason: (e as Error).message }),
    })
    const opened = yield* openEncrypted(ctx, p.flags.has("ignore-mac"))
    const [first, ...rest] = opened.documents
    if (first === undefined)
      return yield* new BadMetadata({ file: ctx.file, reason: "the file has no document" })
    const [doc, changed] = yield* Effect.try({
      try: () => setPath(first, path, newValue),
      catch: (e) => new ExitError({ code: codes.generic, reason: (e as Error).message }),
    })
    if (sopsKeyAtTop(ctx, doc))
      return yield* new ExitError({
        code: codes.fileAlreadyEncrypted,
        reason:
          "The file you have provided contains a top-level entry called 'sops', or for flat file formats top-level entries starting with 'sops_'. This is reserved for SOPS metadata",
      })
    if (!changed && p.flags.has("idempotent")) return
    const out = yield* reencrypt({
      file: ctx.file,
      documents: [doc, ...rest],
      metadata: opened.metadata,
      dataKey: opened.dataKey,
      stash: opened.stash,
      format: ctx.outputFormat,
      ...(ctx.indent === undefined ? {} : { indent: ctx.indent }),
    })
    yield* writeFileAtomic(ctx.file, out)
  })

/** `kustodian unset …` */
export const unsetCommand = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv, cwd: string) =>
  Effect.gen(function* () {
    const p = yield* parseCommand(argv, { values: shared, flags: ["ignore-mac", "idempotent"] }, unsetUsage)
    const [file, indexText] = yield* positionals(p, 2, "Error: no file specified, or index is missing")
    const ctx = yield* fileContext(p, env, cwd, file!)
    const path = yield* index(indexText!, "unset")
    const opened = yield* openEncrypted(ctx, p.flags.has("ignore-mac"))
    const [first, ...rest] = opened.documents
    if (first === undefined)
      return yield* new BadMetadata({ file: ctx.file, reason: "the file has no document" })
    let doc: Branch
    try {
      doc = unsetPath(first, path)
    } catch (e) {
      // sops' --idempotent: a missing index is success, and the file is left as it was
      if (e instanceof KeyNotFound && p.flags.has("idempotent")) return
      return yield* new ExitError({
        code: codes.generic,
        reason: e instanceof KeyNotFound || e instanceof TreePathError ? e.message : String(e),
      })
    }
    const out = yield* reencrypt({
      file: ctx.file,
      documents: [doc, ...rest],
      metadata: opened.metadata,
      dataKey: opened.dataKey,
      stash: opened.stash,
      format: ctx.outputFormat,
      ...(ctx.indent === undefined ? {} : { indent: ctx.indent }),
    })
    yield* writeFileAtomic(ctx.file, out)
  })
