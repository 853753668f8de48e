/**
 * `kustodian edit [flags] FILE`, as `sops edit`: the decrypted file in `$SOPS_EDITOR`, else `$EDITOR`, else vim,
 * nano or vi; the plaintext lives only in a 0600 file inside a fresh 0700 directory (under `$XDG_RUNTIME_DIR`
 * when set, a per-user tmpfs, else the temp directory), removed when the command ends, also on Ctrl-C or
 * SIGTERM. Saved changes are re-encrypted with the file's data key; unchanged values keep their IV and
 * ciphertext. A file that does not exist yet starts from sops' example document and is encrypted as `encrypt`
 * would (flags, else the `.sops.yaml` creation rule). Exit codes as sops: 200 nothing changed, 201 no editor or
 * the editor failed, 128 no data key, 51 MAC. A file that does not parse is reported and the editor opened again
 * after Enter, as in sops; when stdin gives no Enter (not a terminal), the command stops with exit code 1
 * instead of looping.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, delimiter, join } from "node:path"
import { Effect } from "effect"
import { newDataKey, wrapDataKey } from "../sops/datakey.ts"
import { fromStoreError, readMetadata } from "../sops/decrypt.ts"
import { emulatedVersion } from "../sops/encrypt.ts"
import { ConfigError } from "../sops/errors.ts"
import type { Format } from "../sops/format.ts"
import { nowSeconds } from "../sops/goformat.ts"
import { formatForPath } from "../sops/index.ts"
import { servicesFor } from "../sops/keys/services.ts"
import { type Metadata, toBranch } from "../sops/metadata.ts"
import { reencrypt } from "../sops/rewrite.ts"
import { defaultRule } from "../sops/rules.ts"
import { storeFor, syncStoreFor } from "../sops/stores/store.ts"
import { branch, comment, type Documents, float, isComment, list } from "../sops/tree.ts"
import type { IvStash } from "../sops/walk.ts"
import { UsageError, value } from "./args.ts"
import { encryptionConfig, encryptionConfigFlags } from "./encrypt.ts"
import { writeFileAtomic } from "./io.ts"
import { cliKeyring } from "./keys.ts"
import { formatOption } from "./options.ts"
import { readLine } from "./prompt.ts"
import { codes, ExitError, parseCommand } from "./sops-command.ts"
import { decryptionOrder, fileContext, openEncrypted } from "./sops-file.ts"

export const editUsage = `usage: kustodian edit [flags] FILE
  edit an encrypted file in $SOPS_EDITOR / $EDITOR (default vim, nano, vi); a new FILE starts from an example
  -s, --show-master-keys       show (and edit) the sops metadata too
  --ignore-mac                 skip the MAC check
  --input-type, --output-type  yaml|json|dotenv|ini|binary (default: by extension)
  --decryption-order TYPES     key types to try first (env SOPS_DECRYPTION_ORDER)
  for a new FILE only (else the .sops.yaml creation rule):
  --age, --pgp, --kms, --gcp-kms, --azure-kv, --hc-vault-transit, --hckms   recipients (comma-separated)
  --encryption-context k:v,…, --aws-profile NAME, --shamir-secret-sharing-threshold N
  --unencrypted-suffix, --encrypted-suffix, --unencrypted-regex, --encrypted-regex,
  --unencrypted-comment-regex, --encrypted-comment-regex   selection rule (at most one)
  --config PATH                .sops.yaml to use (env SOPS_CONFIG)
  -h, --help                   this text`

const pressKey = "Press enter to return to the editor, or Ctrl+C to exit."

const welcome = "Welcome to SOPS! Edit this file as you please!"

/** sops' `EmitExample` documents: complex for YAML/JSON, one section for INI, flat for dotenv. */
export const exampleDocuments = (format: Format): Documents => {
  switch (format) {
    case "yaml":
    case "json":
      return [
        branch([
          { key: "hello", value: welcome },
          { key: "example_key", value: "example_value" },
          { key: comment(" Example comment"), value: null },
          { key: "example_array", value: list(["example_value1", "example_value2"]) },
          { key: "example_number", value: float(1234.56789) },
          { key: "example_booleans", value: list([true, false]) },
        ]),
      ]
    case "ini":
      return [
        branch([
          {
            key: "Welcome!",
            value: branch([
              { key: comment(" This is an example file."), value: null },
              { key: "hello", value: welcome },
              { key: "example_key", value: "example_value" },
            ]),
          },
        ]),
      ]
    case "dotenv":
      return [
        branch([
          { key: comment(" This is an example file."), value: null },
          { key: "hello", value: welcome },
          { key: "example_key", value: "example_value" },
          { key: "example_multiline", value: "foo\nbar\nbaz" },
        ]),
      ]
    case "binary":
      return syncStoreFor("binary").readPlain(new TextEncoder().encode(welcome))
  }
}

/** Splits `$EDITOR` as Go's shlex does: whitespace, single and double quotes, backslash escapes. */
export const shellWords = (s: string): Array<string> | undefined => {
  const out: Array<string> = []
  let cur: string | undefined
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (c === "\\") {
      if (i + 1 >= s.length) return undefined
      cur = (cur ?? "") + s[++i]
    } else if (c === "'" || c === '"') {
      const end = s.indexOf(c, i + 1)
      if (end < 0) return undefined
      let inner = s.slice(i + 1, end)
      if (c === '"') inner = inner.replace(/\\(["\\$`])/g, "$1")
      cur = (cur ?? "") + inner
      i = end
    } else if (/\s/.test(c)) {
      if (cur !== undefined) out.push(cur)
      cur = undefined
    } else cur = (cur ?? "") + c
  }
  if (cur !== undefined) out.push(cur)
  return out
}

const onPath = (name: string, env: NodeJS.ProcessEnv): string | undefined => {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue
    try {
      accessSync(join(dir, name), constants.X_OK)
      return join(dir, name)
    } catch {
      // not here
    }
  }
  return undefined
}

/** The editor command line: `$SOPS_EDITOR`, `$EDITOR` (shell words), else the first of vim, nano, vi. */
const editorCommand = (env: NodeJS.ProcessEnv) =>
  Effect.gen(function* () {
    for (const name of ["SOPS_EDITOR", "EDITOR"]) {
      const text = env[name]
      if (text === undefined || text === "") continue
      const words = shellWords(text)
      if (words === undefined || words.length === 0)
        return yield* new ExitError({
          code: codes.noEditorFound,
          reason: `Could not run editor: invalid $${name}: ${text}`,
        })
      return words
    }
    for (const name of ["vim", "nano", "vi"]) {
      const found = onPath(name, env)
      if (found !== undefined) return [found]
    }
    return yield* new ExitError({
      code: codes.noEditorFound,
      reason:
        "Could not run editor: no editor available: sops attempts to use the editor defined in the SOPS_EDITOR or EDITOR environment variables, and if that's not set defaults to any of vim, nano, vi, but none of them could be found",
    })
  })

/** The editor while it runs: a cancelled edit ends it too. */
let editorChild: ChildProcess | undefined

/** Runs the editor on `path` with the terminal (stdin, stdout, stderr) handed over; fails with exit code 201. */
const runEditor = (command: ReadonlyArray<string>, path: string, env: NodeJS.ProcessEnv) =>
  Effect.callback<void, ExitError>((resume) => {
    const child = spawn(command[0]!, [...command.slice(1), path], { stdio: "inherit", env })
    editorChild = child
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal)
    const onTerm = forward("SIGTERM")
    process.on("SIGTERM", onTerm)
    const done = () => {
      process.off("SIGTERM", onTerm)
      editorChild = undefined
    }
    child.once("error", (e) => {
      done()
      resume(
        Effect.fail(
          new ExitError({
            code: codes.noEditorFound,
            reason: `Could not run editor: ${(e as NodeJS.ErrnoException).code ?? e.message}`,
          }),
        ),
      )
    })
    child.once("exit", (code, signal) => {
      done()
      if (code === 0) resume(Effect.void)
      else
        resume(
          Effect.fail(
            new ExitError({
              code: codes.noEditorFound,
              reason: `Could not run editor: ${signal === null ? `exit status ${code}` : `signal: ${signal}`}`,
            }),
          ),
        )
    })
  })

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex")

/** A private directory for the plaintext: `$XDG_RUNTIME_DIR` (tmpfs, the user's own) when usable, else tmp. */
const privateDir = (env: NodeJS.ProcessEnv): string => {
  const runtime = env.XDG_RUNTIME_DIR
  const base = runtime !== undefined && runtime !== "" && existsSync(runtime) ? runtime : tmpdir()
  return mkdtempSync(join(base, "kustodian-edit-"))
}

/** Go's `version.AIsNewerThanB(ours, theirs)`; undefined when `theirs` is not a version. */
const newerThan = (ours: string, theirs: string): boolean | undefined => {
  const parse = (v: string) =>
    /^v?(\d+)\.(\d+)(?:\.(\d+))?/
      .exec(v)
      ?.slice(1)
      .map((x) => Number(x ?? 0))
  const a = parse(ours)
  const b = parse(theirs)
  if (a === undefined || b === undefined) return undefined
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! > b[i]!
  return false
}

interface Editing {
  readonly file: string
  readonly format: Format
  readonly outputFormat: Format
  readonly indent: number | undefined
  readonly documents: Documents
  readonly metadata: Metadata
  readonly dataKey: Uint8Array
  readonly stash: IvStash | undefined
  readonly showMasterKeys: boolean
  readonly env: NodeJS.ProcessEnv
}

/** After an edit that does not load: tell why, wait for Enter (sops); without an Enter, give up. */
const retry = (why: string) =>
  Effect.gen(function* () {
    process.stderr.write(`kustodian edit: ${why}. ${pressKey}\n`)
    if (readLine() === undefined)
      return yield* new ExitError({
        code: codes.generic,
        reason: `${why}; stdin gave no Enter to edit again, so nothing was written`,
      })
  })

/** The edit loop on a temp file; the encrypted bytes to write, or a failure (200 when nothing changed). */
const editTree = (e: Editing) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const dir = privateDir(e.env)
      // Ctrl-C or SIGTERM while editing: remove the plaintext before going
      const cancel = () => {
        editorChild?.kill("SIGTERM")
        rmSync(dir, { recursive: true, force: true })
        process.stderr.write("kustodian edit: User canceled operation\n")
        process.exit(1)
      }
      process.on("SIGINT", cancel)
      process.on("SIGTERM", cancel)
      process.on("SIGHUP", cancel)
      return { dir, cancel }
    }),
    ({ dir }) =>
      Effect.gen(function* () {
        const tmp = join(dir, basename(e.file))
        const out = storeFor(e.outputFormat, e.indent === undefined ? {} : { indent: e.indent })
        const shown = e.showMasterKeys
          ? yield* out
              .writeEncrypted(e.documents, toBranch(e.metadata))
              .pipe(Effect.mapError(fromStoreError(e.file)))
          : yield* out.writePlain(e.documents).pipe(Effect.mapError(fromStoreError(e.file)))
        yield* Effect.try({
          try: () => writeFileSync(tmp, shown, { mode: 0o600, flag: "wx" }),
          catch: (err) =>
            new ExitError({
              code: codes.couldNotWriteOutputFile,
              reason: `Could not write output file: ${(err as NodeJS.ErrnoException).code}`,
            }),
        })
        const original = sha256(shown)
        const command = yield* editorCommand(e.env)
        const input = storeFor(e.format)
        for (;;) {
          yield* runEditor(command, tmp, e.env)
          const edited = yield* Effect.try({
            try: () => new Uint8Array(readFileSync(tmp)),
            catch: (err) =>
              new ExitError({
                code: codes.couldNotReadInputFile,
                reason: `Could not read edited file: ${(err as NodeJS.ErrnoException).code}`,
              }),
          })
          if (sha256(edited) === original)
            return yield* new ExitError({
              code: codes.fileHasNotBeenModified,
              reason: "File has not changed, exiting.",
            })
          const plain = yield* Effect.result(input.readPlain(edited))
          if (plain._tag === "Failure") {
            yield* retry(`Could not load tree, probably due to invalid syntax (${plain.failure.message})`)
            continue
          }
          let documents = plain.success
          let metadata = e.metadata
          if (e.showMasterKeys) {
            const withMeta = yield* Effect.result(
              input
                .readEncrypted(edited)
                .pipe(
                  Effect.flatMap((f) =>
                    readMetadata(e.file, f.metadata).pipe(
                      Effect.map((m) => ({ documents: f.documents, md: m.md })),
                    ),
                  ),
                ),
            )
            if (withMeta._tag === "Failure") {
              yield* retry(`SOPS metadata is invalid (${withMeta.failure.message})`)
              continue
            }
            documents = withMeta.success.documents
            metadata = { ...withMeta.success.md, version: metadata.version }
          } else {
            const first = documents[0]
            if (first === undefined) {
              yield* retry("Tree not valid for encryption: the file must contain at least one document")
              continue
            }
            if (
              first.items.some(
                (i) =>
                  !isComment(i.key) &&
                  (i.key === "sops" || (e.format === "dotenv" && i.key.startsWith("sops_"))),
              )
            ) {
              yield* retry(
                "Tree not valid for encryption: a top-level entry 'sops' is reserved for SOPS metadata",
              )
              continue
            }
          }
          const newer = newerThan(emulatedVersion, metadata.version)
          if (newer === undefined)
            return yield* new ExitError({
              code: 202,
              reason: `Failed to compare document version ${JSON.stringify(metadata.version)} with program version ${JSON.stringify(emulatedVersion)}`,
            })
          if (newer) metadata = { ...metadata, version: emulatedVersion }
          if (metadata.keyGroups.every((g) => g.length === 0)) {
            yield* retry("No master keys were provided, so sops can't encrypt the file")
            continue
          }
          return yield* reencrypt({
            file: e.file,
            documents,
            metadata,
            dataKey: e.dataKey,
            ...(e.stash === undefined ? {} : { stash: e.stash }),
            format: e.outputFormat,
            ...(e.indent === undefined ? {} : { indent: e.indent }),
          })
        }
      }),
    ({ dir, cancel }) =>
      Effect.sync(() => {
        process.off("SIGINT", cancel)
        process.off("SIGTERM", cancel)
        process.off("SIGHUP", cancel)
        rmSync(dir, { recursive: true, force: true })
      }),
  )

/** `kustodian edit …` */
export const editCommand = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv, cwd: string) =>
  Effect.gen(function* () {
    const p = yield* parseCommand(
      argv,
      {
        values: [...encryptionConfigFlags, "input-type", "output-type", "decryption-order"],
        flags: ["show-master-keys", "ignore-mac"],
        aliases: { s: "show-master-keys", k: "kms", p: "pgp", a: "age" },
      },
      editUsage,
    )
    if (p.positional.length === 0)
      return yield* new ExitError({ code: codes.noFileSpecified, reason: "Error: no file specified" })
    if (p.positional.length > 1)
      return yield* Effect.fail(new UsageError(`expected one FILE, got ${p.positional.length}`))
    const file = p.positional[0]!
    const format = yield* formatOption(value(p, "input-type"), formatForPath(file))
    const outputFormat = yield* formatOption(value(p, "output-type"), format)
    yield* decryptionOrder(p, env)
    const keyring = cliKeyring(env)
    const showMasterKeys = p.flags.has("show-master-keys")
    const newFileOnly = encryptionConfigFlags.filter(
      (f) => f !== "config" && f !== "indent" && p.values.has(f),
    )
    if (existsSync(file)) {
      if (newFileOnly.length > 0)
        return yield* Effect.fail(
          new UsageError(
            `--${newFileOnly[0]} applies to new files only; change the keys of ${file} with rotate --add-…/--rm-… or updatekeys`,
          ),
        )
      const ctx = yield* fileContext(p, env, cwd, file)
      const opened = yield* openEncrypted(ctx, p.flags.has("ignore-mac"))
      const out = yield* editTree({
        file,
        format,
        outputFormat,
        indent: ctx.indent,
        documents: opened.documents,
        metadata: opened.metadata,
        dataKey: opened.dataKey,
        stash: opened.stash,
        showMasterKeys,
        env,
      })
      return yield* writeFileAtomic(file, out)
    }
    // a new file: sops' example document, encrypted as `encrypt` would
    const cfg = yield* encryptionConfig(p, env, cwd, file, file, outputFormat).pipe(
      Effect.mapError((e) =>
        e instanceof ConfigError
          ? new ExitError({ code: codes.generic, reason: `error loading config: ${e.message}` })
          : e,
      ),
    )
    const dataKey = newDataKey()
    const keyGroups = yield* wrapDataKey(
      file,
      dataKey,
      cfg.keyGroups,
      cfg.shamirThreshold,
      servicesFor(keyring),
    ).pipe(
      Effect.mapError(
        (e) =>
          new ExitError({
            code: codes.couldNotRetrieveKey,
            reason: `Error encrypting the data key with one or more master keys: ${e.reason}`,
          }),
      ),
    )
    const binary = format === "binary"
    const out = yield* editTree({
      file,
      format,
      outputFormat,
      indent: cfg.indent,
      documents: exampleDocuments(format),
      metadata: {
        keyGroups,
        shamirThreshold: keyGroups.length > 1 ? (cfg.shamirThreshold ?? keyGroups.length) : 0,
        lastModified: nowSeconds(),
        mac: "",
        rule: binary ? undefined : (cfg.rule ?? defaultRule),
        macOnlyEncrypted: binary ? false : cfg.macOnlyEncrypted,
        version: emulatedVersion,
      },
      dataKey,
      stash: undefined,
      showMasterKeys,
      env,
    })
    yield* writeFileAtomic(file, out)
  })
