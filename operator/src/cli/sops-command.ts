/**
 * Running sops' own subcommands (`edit`, `set`, `unset`, `rotate`, `updatekeys`, `filestatus`, `groups`,
 * `exec-env`, `exec-file`): a usage mistake is one line and a hint naming `--help`, exit 2 (sops exits 1 through
 * its CLI library's fatal log, a code `codes.go` does not define); every other failure is one line
 * on stderr with sops' exit code (`codes.go`: 100 no file, 7 bad index, 200 unchanged, 128 data key, 51 MAC, …,
 * or the child's own code for `exec-*`). Never a stack trace, never a value.
 *
 * @module
 */
import { Cause, Data, Effect, Exit } from "effect"
import { type Parsed, parseArgs, type Spec, UsageError } from "./args.ts"
import { HelpRequested, reportUsage } from "./command.ts"

/** sops' exit statuses (`cmd/sops/codes/codes.go`) that our commands produce themselves. */
export const codes = {
  generic: 1,
  couldNotReadInputFile: 2,
  couldNotWriteOutputFile: 3,
  errorDumpingTree: 4,
  invalidSetFormat: 7,
  conflictingParameters: 8,
  cannotChangeKeysFromNonExistentFile: 49,
  noFileSpecified: 100,
  couldNotRetrieveKey: 128,
  duplicateDecryptionKeyType: 112,
  fileHasNotBeenModified: 200,
  noEditorFound: 201,
  fileAlreadyEncrypted: 203,
  needAtLeastOneDocument: 92,
} as const

/** A failure with the exit code sops gives it; `reason` may be empty (a child's exit code, nothing to say). */
export class ExitError extends Data.TaggedError("ExitError")<{
  readonly code: number
  readonly reason: string
}> {
  override get message(): string {
    return this.reason
  }
}

/** Parses a command's flags (with `-h`/`--help`); a thrown UsageError becomes a failure. */
export const parseCommand = (
  argv: ReadonlyArray<string>,
  spec: Spec,
  usage: string,
): Effect.Effect<Parsed, UsageError | HelpRequested> =>
  Effect.try({
    try: () => {
      const p = parseArgs(argv, {
        ...spec,
        flags: [...spec.flags, "help"],
        aliases: { ...spec.aliases, h: "help" },
      })
      if (p.flags.has("help")) throw new HelpRequested(usage)
      return p
    },
    catch: (e) =>
      e instanceof UsageError || e instanceof HelpRequested
        ? e
        : new UsageError(String((e as Error).message ?? e)),
  })

/** Runs one sops subcommand; resolves with the exit code. */
export const runSopsCommand = async (
  name: string,
  program: Effect.Effect<void, { readonly message: string }>,
  /** sops' exit code of an engine or file error (main's `exitCode`). */
  exitCode: (e: never) => number,
): Promise<number> => {
  const exit = await Effect.runPromiseExit(program)
  if (Exit.isSuccess(exit)) return 0
  const failure = Cause.findErrorOption(exit.cause)
  const e: unknown =
    failure._tag === "Some" ? failure.value : Cause.squash(exit.cause as Cause.Cause<unknown>)
  if (e instanceof HelpRequested) {
    process.stdout.write(e.usage.endsWith("\n") ? e.usage : `${e.usage}\n`)
    return 0
  }
  if (e instanceof UsageError) return reportUsage(name, e.message)
  if (e instanceof ExitError) {
    if (e.reason !== "") process.stderr.write(`kustodian ${name}: ${e.reason.split("\n")[0]}\n`)
    return e.code
  }
  if (failure._tag === "Some") {
    const f = failure.value
    process.stderr.write(`kustodian ${name}: ${f.message.split("\n")[0]}\n`)
    return exitCode(f as never)
  }
  // a defect: report without the stack (which could carry values)
  process.stderr.write(`kustodian ${name}: internal error: ${Cause.pretty(exit.cause).split("\n")[0]}\n`)
  return 1
}
