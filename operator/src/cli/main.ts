/**
 * The `kustodian` command line: the table of commands, `help`, and `decrypt`/`encrypt`, whose failures print one
 * line on stderr and exit with sops' exit codes (128 data key, 51 MAC, 25 decryption, 2/3 file I/O, …); usage
 * mistakes of every command exit 2 with a hint (`command.ts`).
 *
 * @module
 */
import { Cause, Effect, Exit } from "effect"
import type { SopsError } from "../sops/index.ts"
import { ArgumentError, UsageError } from "./args.ts"
import { buildCommand } from "./build-kustomization.ts"
import { checkCommand } from "./check.ts"
import { HelpRequested, reportUsage, runCommand } from "./command.ts"
import { controllerCommand, controllerUsage } from "./controller.ts"
import { createCommand } from "./create.ts"
import { decryptCommand, decryptUsage } from "./decrypt.ts"
import { demoCommand } from "./demo.ts"
import { diffCommand } from "./diff-kustomization.ts"
import { encryptCommand, encryptUsage } from "./encrypt.ts"
import { historyCommand } from "./history.ts"
import type { FileError } from "./io.ts"
import { keygenCommand } from "./keygen.ts"
import { runSopsSubcommand, sopsSubcommandList, sopsSubcommands } from "./sops-commands.ts"
import { versionLine } from "./version.ts"

export const usage = `usage: kustodian <command> [flags]

commands:
  controller     run the operator (GitRepository and Kustomization controllers); flags below
  decrypt FILE   decrypt a sops file (age keys from SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, ~/.config/sops/age/keys.txt;
                 PGP through gpg / GNUPGHOME / SOPS_GPG_EXEC)
  encrypt FILE   encrypt a file for the keys given by flags or .sops.yaml
  demo           encrypt and decrypt a sample Secret with a generated age key (nothing written to disk)
  keygen age|pgp a new age identity or OpenPGP key (the seed's parameters); kustodian help keygen
  create KIND    a decryption Secret (secret sops-age|sops-gpg|sops-hcvault), a GitRepository (source git) or a
                 Kustomization, printed as flux create … --export prints it or applied; kustodian help create
${sopsSubcommandList()}
  check [PATH]   pre-commit/CI checks: plaintext Secrets, uncovered files, encrypted_regex conflicts,
                 recipients, stale MACs, .sops.pub.asc; kustodian help check
  build kustomization NAME --path PATH   what the operator would apply (decrypted, substituted, Secret
                 values masked); kustodian help build
  diff kustomization NAME --path PATH    that against the live cluster (server-side dry-run), exit 1 on
                 changes; kustodian help diff
  history KIND NAME  what each reconcile applied, when, and how it ended (from the cluster's journals);
                 history --object KIND/NS/NAME: what last changed an object; kustodian help history
  help CMD       a command's usage
  version        the version (also --version, -v)

${controllerUsage}

${decryptUsage}

${encryptUsage}
`

type CliError = SopsError | FileError | UsageError

/** sops' exit codes for our failures. */
export const exitCode = (e: CliError): number => {
  if (e instanceof UsageError) return 1
  switch (e._tag) {
    case "DataKeyError":
      return 128
    case "MacMismatch":
      return 51
    case "MalformedValue":
      return 25
    case "FileError":
      return e.op === "read" ? 2 : 3
    case "ConfigError":
      return 61
    case "EncryptError":
      return e.reason.startsWith("no encryption key") ? 111 : 23
    case "UnsupportedInput":
      return e.reason === "file already encrypted"
        ? 203
        : e.reason.startsWith("file cannot be completely empty")
          ? 92
          : 1
    case "BadMetadata":
    case "TooManyValues":
      return 1
  }
}

/** Runs decrypt/encrypt (sops' own names): `--help`, usage mistakes with exit 2, other failures with sops' codes. */
const runSopsLike = async (command: string, program: Effect.Effect<void, CliError | HelpRequested>) => {
  const exit = await Effect.runPromiseExit(program)
  if (Exit.isSuccess(exit)) return 0
  const failure = Cause.findErrorOption(exit.cause)
  if (failure._tag === "Some") {
    const e = failure.value
    if (e instanceof HelpRequested) {
      process.stdout.write(e.usage.endsWith("\n") ? e.usage : `${e.usage}\n`)
      return 0
    }
    if (e instanceof ArgumentError) return reportUsage(command, e.message)
    process.stderr.write(`kustodian: ${e.message.split("\n")[0]}\n`)
    return exitCode(e)
  }
  // a defect: report without the stack (which could carry values) but keep it findable
  process.stderr.write(`kustodian: internal error: ${Cause.pretty(exit.cause).split("\n")[0]}\n`)
  return 1
}

/** Which usage a `create` mistake points to: the kind's own, when the arguments name one. */
const createHelp = (argv: ReadonlyArray<string>): string =>
  argv[0] === "source" && argv[1] === "git"
    ? "create source git"
    : argv[0] === "kustomization" || argv[0] === "ks"
      ? "create kustomization"
      : argv[0] === "secret"
        ? "create secret"
        : "create"

type Command = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv) => Promise<number>

/**
 * Every command `kustodian` knows, by name (`help` aside). Each answers `--help` on stdout with exit code 0 and a
 * usage mistake with one line, a hint and exit code 2 (`main.test.ts` checks every entry).
 */
export const commands: Readonly<Record<string, Command>> = {
  controller: (argv, env) => controllerCommand(argv, env),
  decrypt: (argv, env) => runSopsLike("decrypt", decryptCommand(argv, env)),
  encrypt: (argv, env) => runSopsLike("encrypt", encryptCommand(argv, env, process.cwd())),
  demo: (argv) => runCommand("demo", demoCommand(argv)),
  keygen: (argv) => runCommand("keygen", keygenCommand(argv)),
  create: (argv) => runCommand("create", createCommand(argv), createHelp(argv)),
  check: (argv, env) => checkCommand(argv, env, process.cwd()),
  history: (argv) => runCommand("history", historyCommand(argv)),
  build: (argv, env) => runCommand("build", buildCommand(argv, env, process.cwd())),
  diff: (argv, env) => diffCommand(argv, env, process.cwd()),
  version: async (argv) => {
    if (isHelp(argv[0])) {
      process.stdout.write("usage: kustodian version\n  print the version (also kustodian --version, -v)\n")
      return 0
    }
    if (argv.length > 0) return reportUsage("version", `unexpected argument ${JSON.stringify(argv[0])}`)
    process.stdout.write(versionLine)
    return 0
  },
  ...Object.fromEntries(
    Object.keys(sopsSubcommands).map((name): [string, Command] => [
      name,
      (argv, env) => runSopsSubcommand(name, argv, env, exitCode)!,
    ]),
  ),
}

const isHelp = (a: string | undefined) => a === "--help" || a === "-h"

/** Runs the CLI; resolves with the process exit code. */
export const run = async (
  argv: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> => {
  const [command, ...rest] = argv
  if (command === undefined) return reportUsage("", "missing command", "")
  if (command === "--version" || command === "-v") return run(["version", ...rest], env)
  if (isHelp(command) || (command === "help" && (rest[0] === undefined || isHelp(rest[0])))) {
    process.stdout.write(usage)
    return 0
  }
  if (command === "help") {
    const [topic, ...more] = rest
    if (topic === "help") return run(["--help"], env)
    if (!Object.hasOwn(commands, topic!))
      return reportUsage("help", `unknown command ${JSON.stringify(topic)}`, "")
    return run([topic!, ...more, "--help"], env)
  }
  if (!Object.hasOwn(commands, command))
    return reportUsage("", `unknown command ${JSON.stringify(command)}`, "")
  return commands[command]!(rest, env)
}
