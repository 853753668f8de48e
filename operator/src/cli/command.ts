/**
 * How every `kustodian` command reports: `--help` prints the usage on stdout with exit code 0; a usage mistake (an
 * unknown flag, a missing or extra argument, a bad value) is one line on stderr and a hint naming the command's
 * `--help`, with exit code 2 (as Flux's CLI and our controller do); other failures are one line with the
 * command's own code (sops' for file I/O). Never a stack trace.
 *
 * @module
 */
import { Cause, Effect, Exit } from "effect"
import { UsageError } from "./args.ts"

/** What `--help` asked for: the command's usage on stdout and exit code 0. */
export class HelpRequested extends Error {
  override readonly name = "HelpRequested"
  readonly usage: string
  constructor(usage: string) {
    super("help requested")
    this.usage = usage
  }
}

/** The exit code of a usage mistake. */
export const usageExitCode = 2

/**
 * Prints a usage mistake of `kustodian COMMAND` (`""` for the top level) as one line and the hint, and returns 2.
 * A message that already starts with the command's name ("create secret sops-age: …") is not prefixed twice.
 */
export const reportUsage = (command: string, message: string, help: string = command): number => {
  const line = message.split("\n")[0]!
  const named =
    command === ""
      ? `kustodian: ${line}`
      : line.startsWith(`${command} `) || line.startsWith(`${command}:`)
        ? `kustodian ${line}`
        : `kustodian ${command}: ${line}`
  process.stderr.write(`${named}\nsee: kustodian ${help === "" ? "" : `${help} `}--help\n`)
  return usageExitCode
}

const codeOf = (e: { readonly _tag?: string; readonly op?: string }): number =>
  e._tag === "FileError" ? (e.op === "read" ? 2 : 3) : 1

/** Runs `program`, the command `kustodian COMMAND` (`help`: whose `--help` the hint names); resolves with the exit code. */
export const runCommand = async (
  command: string,
  program: Effect.Effect<void, { readonly message: string }>,
  help: string = command,
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
  if (e instanceof UsageError) return reportUsage(command, e.message, help)
  if (failure._tag === "Some") {
    process.stderr.write(`kustodian: ${failure.value.message.split("\n")[0]}\n`)
    return codeOf(failure.value as { _tag?: string; op?: string })
  }
  // a defect: report without the stack (which could carry values)
  process.stderr.write(`kustodian: internal error: ${Cause.pretty(exit.cause).split("\n")[0]}\n`)
  return 1
}

/** Parses inside an Effect: a thrown UsageError becomes a failure. */
export const parsing = <A>(parse: () => A): Effect.Effect<A, UsageError | HelpRequested> =>
  Effect.try({
    try: parse,
    catch: (e) =>
      e instanceof UsageError || e instanceof HelpRequested
        ? e
        : new UsageError(String((e as Error).message ?? e)),
  })
