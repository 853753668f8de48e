/**
 * `kustodian exec-env FILE COMMAND` and `kustodian exec-file FILE COMMAND`, as sops': run COMMAND (with
 * `/bin/sh -c`) with the decrypted values.
 *
 * - `exec-env` puts the top-level values into the child's environment (after the inherited one, or alone with
 *   `--pristine`); the plaintext goes from memory to the child's environment and is never written anywhere.
 * - `exec-file` gives the child the decrypted file (in the output format) as `{}` in COMMAND: a FIFO written
 *   once from memory by default, a regular 0600 file with `--no-fifo`; either sits in a fresh 0700 directory
 *   removed when the child ends. `--filename` names it (a local name only).
 *
 * The child's exit code is ours (128+n when a signal ends it). `--background` starts it detached and returns
 * (exec-env only: exec-file's file would be removed under it). `--user` and `--same-process` are refused by name:
 * Node can neither change its user for a child with its supplementary groups nor replace its own process.
 *
 * @module
 */
import { execFileSync, spawn } from "node:child_process"
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs"
import { open } from "node:fs/promises"
import { tmpdir } from "node:os"
import { isAbsolute, join, normalize } from "node:path"
import { Effect } from "effect"
import { decryptFile, fromStoreError } from "../sops/decrypt.ts"
import { formatForPath } from "../sops/index.ts"
import { valToString } from "../sops/stores/gofmt.ts"
import { storeFor } from "../sops/stores/store.ts"
import { isBranch, isComment, isList } from "../sops/tree.ts"
import { UsageError, value } from "./args.ts"
import { readInput } from "./io.ts"
import { cliKeyring } from "./keys.ts"
import { formatOption } from "./options.ts"
import { codes, ExitError, parseCommand } from "./sops-command.ts"
import { decryptionOrder } from "./sops-file.ts"

export const execEnvUsage = `usage: kustodian exec-env [flags] FILE COMMAND
  run COMMAND (/bin/sh -c) with FILE's top-level values in its environment; its exit code is ours
  --pristine                   only the decrypted values, none of our environment
  --background                 start COMMAND detached and return at once
  --decryption-order TYPES     key types to try first (env SOPS_DECRYPTION_ORDER)
  -h, --help                   this text`

export const execFileUsage = `usage: kustodian exec-file [flags] FILE COMMAND
  run COMMAND (/bin/sh -c) with {} replaced by the path of the decrypted file; its exit code is ours
  --no-fifo                    a regular 0600 file instead of a FIFO (for programs that read twice or seek)
  --filename NAME              the file's name (default tmp-file); a local name only
  --input-type, --output-type  yaml|json|dotenv|ini|binary (default: by extension)
  --decryption-order TYPES     key types to try first (env SOPS_DECRYPTION_ORDER)
  -h, --help                   this text`

const refused = (p: { flags: ReadonlySet<string>; values: ReadonlyMap<string, unknown> }) =>
  p.values.has("user")
    ? Effect.fail(
        new UsageError(
          "--user is not supported (Node cannot drop to another user with its groups); use sudo -u",
        ),
      )
    : p.flags.has("same-process")
      ? Effect.fail(new UsageError("--same-process is not supported (Node cannot replace its own process)"))
      : Effect.void

const signals: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGTERM: 15,
  SIGPIPE: 13,
}

/** Runs `/bin/sh -c command` with our terminal; the child's exit code as an ExitError when not 0. */
const runChild = (command: string, env: NodeJS.ProcessEnv, background: boolean) =>
  Effect.callback<void, ExitError>((resume) => {
    const child = spawn("/bin/sh", ["-c", command], {
      env,
      stdio: background ? "ignore" : "inherit",
      detached: background,
    })
    child.once("error", (e) =>
      resume(Effect.fail(new ExitError({ code: codes.generic, reason: `cannot run /bin/sh: ${e.message}` }))),
    )
    if (background) {
      child.once("spawn", () => {
        child.unref()
        resume(Effect.void)
      })
      return
    }
    // Ctrl-C reaches the child through the terminal; a SIGTERM sent to us is passed on
    const onTerm = () => child.kill("SIGTERM")
    const onInt = () => {}
    process.on("SIGTERM", onTerm)
    process.on("SIGINT", onInt)
    child.once("exit", (code, signal) => {
      process.off("SIGTERM", onTerm)
      process.off("SIGINT", onInt)
      const status = signal !== null ? 128 + (signals[signal] ?? 1) : (code ?? 1)
      resume(status === 0 ? Effect.void : Effect.fail(new ExitError({ code: status, reason: "" })))
    })
  })

const decryptInput = (p: Parameters<typeof value>[0], env: NodeJS.ProcessEnv, file: string) =>
  Effect.gen(function* () {
    const format = yield* formatOption(value(p, "input-type"), formatForPath(file))
    const order = yield* decryptionOrder(p, env)
    const bytes = yield* readInput(file)
    const opened = yield* decryptFile({
      bytes,
      format,
      file,
      keyring: cliKeyring(env),
      mac: "strict",
      ...(order === undefined ? {} : { decryptionOrder: order }),
    })
    return { format, opened }
  })

const twoArgs = (positional: ReadonlyArray<string>) =>
  positional.length === 2
    ? Effect.succeed(positional as readonly [string, string])
    : Effect.fail(new ExitError({ code: codes.generic, reason: "error: missing file to decrypt" }))

/** `kustodian exec-env …` */
export const execEnvCommand = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv) =>
  Effect.gen(function* () {
    const p = yield* parseCommand(
      argv,
      { values: ["decryption-order", "user"], flags: ["pristine", "background", "same-process"] },
      execEnvUsage,
    )
    const [file, command] = yield* twoArgs(p.positional)
    yield* refused(p)
    const { opened } = yield* decryptInput(p, env, file)
    const vars: Record<string, string> = {}
    for (const item of opened.documents[0]?.items ?? []) {
      if (isComment(item.key)) continue
      if (isBranch(item.value) || isList(item.value))
        return yield* new ExitError({
          code: codes.generic,
          reason: `cannot use complex value in environment; offending key ${item.key}`,
        })
      if (item.key.includes("="))
        return yield* new ExitError({
          code: codes.generic,
          reason: `cannot use keys with '=' in environment: ${item.key}`,
        })
      const text =
        typeof item.value === "string"
          ? item.value
          : item.value instanceof Uint8Array
            ? Buffer.from(item.value).toString("utf8")
            : valToString(item.value)
      if (item.key.includes("\u0000") || text.includes("\u0000"))
        return yield* new ExitError({
          code: codes.generic,
          reason: `cannot put a NUL byte into the environment (key ${item.key.replaceAll("\u0000", "\\0")})`,
        })
      vars[item.key] = text
    }
    const childEnv = p.flags.has("pristine") ? vars : { ...env, ...vars }
    yield* runChild(command, childEnv, p.flags.has("background"))
  })

/** sops' `filepath.IsLocal`: relative, no `..` escape, not empty. */
const isLocalName = (name: string) =>
  name !== "" && !isAbsolute(name) && !normalize(name).startsWith("..") && normalize(name) !== "."

/**
 * Writes `bytes` once into the FIFO at `path` when a reader opens it. `release` unblocks a writer whose
 * reader never came (the child did not open `{}`), so the command never hangs on it.
 */
const fifoWriter = (path: string, bytes: Uint8Array) => {
  let opened = false
  let signalOpened: () => void = () => {}
  const whenOpened = new Promise<void>((r) => {
    signalOpened = r
  })
  const done = (async () => {
    const fh = await open(path, "w")
    opened = true
    signalOpened()
    try {
      await fh.write(bytes)
    } catch {
      // the reader went away (EPIPE): nothing more to give it
    } finally {
      await fh.close()
    }
  })().catch(() => {
    signalOpened()
  })
  const release = async () => {
    if (!opened) {
      const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
      await whenOpened
      closeSync(fd)
    }
    await done
  }
  return { release }
}

/** `kustodian exec-file …` */
export const execFileCommand = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv) =>
  Effect.gen(function* () {
    const p = yield* parseCommand(
      argv,
      {
        values: ["decryption-order", "user", "input-type", "output-type", "filename"],
        flags: ["no-fifo", "background"],
      },
      execFileUsage,
    )
    const [file, command] = yield* twoArgs(p.positional)
    yield* refused(p)
    if (p.flags.has("background"))
      return yield* Effect.fail(
        new UsageError("--background is not supported for exec-file (the file is removed when we return)"),
      )
    const name = value(p, "filename")
    if (name !== undefined && !isLocalName(name))
      return yield* new ExitError({
        code: codes.generic,
        reason: "The provided filename is not a local path.",
      })
    const { format, opened } = yield* decryptInput(p, env, file)
    const outputFormat = yield* formatOption(value(p, "output-type"), format)
    const plaintext = yield* storeFor(outputFormat)
      .writePlain(opened.documents)
      .pipe(Effect.mapError(fromStoreError(file)))
    const fifo = !p.flags.has("no-fifo")
    yield* Effect.acquireUseRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), ".kustodian-exec-"))),
      (dir) =>
        Effect.gen(function* () {
          const path = join(dir, name ?? (fifo ? "tmp-file" : `tmp-file${Math.floor(Math.random() * 1e9)}`))
          let release: () => Promise<void> = async () => {}
          if (fifo) {
            yield* Effect.try({
              try: () => execFileSync("mkfifo", ["-m", "0600", path], { stdio: "ignore" }),
              catch: () => new ExitError({ code: codes.generic, reason: "cannot make a FIFO (mkfifo)" }),
            })
            release = fifoWriter(path, plaintext).release
          } else
            yield* Effect.try({
              try: () => writeFileSync(path, plaintext, { mode: 0o600, flag: "wx" }),
              catch: (e) =>
                new ExitError({
                  code: codes.couldNotWriteOutputFile,
                  reason: `cannot write the temporary file: ${(e as NodeJS.ErrnoException).code}`,
                }),
            })
          yield* runChild(command.replaceAll("{}", path), env, false).pipe(
            Effect.ensuring(Effect.promise(() => release())),
          )
        }),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true })),
    )
  })
