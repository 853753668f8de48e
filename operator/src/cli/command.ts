/**
 * Runs one of the commands that report usage mistakes with exit code 2 (as Flux's CLI and our controller do):
 * `keygen`, `create`. A failure is one line on stderr, never a stack trace; file I/O keeps sops' codes.
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

const codeOf = (e: { readonly _tag?: string; readonly op?: string }): number =>
  e._tag === "FileError" ? (e.op === "read" ? 2 : 3) : 1

/** Runs `program`; resolves with the exit code. */
export const runCommand = async (
  program: Effect.Effect<void, { readonly message: string }>,
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
  if (e instanceof UsageError) {
    process.stderr.write(`kustodian: ${e.message}\n`)
    return 2
  }
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
