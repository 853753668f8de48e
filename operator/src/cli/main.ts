/**
 * The `kustodian` command line: `decrypt`, `encrypt`, `demo`. Failures print one line on stderr and exit with
 * sops' exit codes (128 data key, 51 MAC, 25 decryption, 2/3 file I/O, …).
 *
 * @module
 */
import { Cause, Effect, Exit } from "effect"
import type { SopsError } from "../sops/index.ts"
import { UsageError } from "./args.ts"
import { buildCommand } from "./build-kustomization.ts"
import { checkCommand } from "./check.ts"
import { runCommand } from "./command.ts"
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

/** Runs the CLI; resolves with the process exit code. */
export const run = async (
  argv: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> => {
  const [command, ...rest] = argv
  if (command === "version" || command === "--version" || command === "-v") {
    process.stdout.write(versionLine)
    return 0
  }
  if (command === "controller") return controllerCommand(rest, env)
  if (command === "check") return checkCommand(rest, env, process.cwd())
  if (command === "keygen") return runCommand(keygenCommand(rest))
  if (command === "create") return runCommand(createCommand(rest))
  if (command === "history") return runCommand(historyCommand(rest))
  if (command === "build") return runCommand(buildCommand(rest, env, process.cwd()))
  if (command === "diff") return diffCommand(rest, env, process.cwd())
  const sops = runSopsSubcommand(command, rest, env, exitCode)
  if (sops !== undefined) return sops
  if (
    command === "help" &&
    rest[0] !== undefined &&
    (["keygen", "create", "check", "history", "build", "diff"].includes(rest[0]) ||
      Object.hasOwn(sopsSubcommands, rest[0]))
  )
    return run([rest[0], ...rest.slice(1), "--help"], env)
  let program: Effect.Effect<void, CliError>
  switch (command) {
    case "decrypt":
      program = decryptCommand(rest, env)
      break
    case "encrypt":
      program = encryptCommand(rest, env, process.cwd())
      break
    case "demo":
      program = demoCommand()
      break
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(usage)
      return command === undefined ? 1 : 0
    default:
      process.stderr.write(`kustodian: unknown command ${JSON.stringify(command)}\n${usage}`)
      return 1
  }
  const exit = await Effect.runPromiseExit(program)
  if (Exit.isSuccess(exit)) return 0
  const failure = Cause.findErrorOption(exit.cause)
  if (failure._tag === "Some") {
    const e = failure.value
    process.stderr.write(`kustodian: ${e.message.split("\n")[0]}\n`)
    return exitCode(e)
  }
  // a defect: report without the stack (which could carry values) but keep it findable
  process.stderr.write(`kustodian: internal error: ${Cause.pretty(exit.cause).split("\n")[0]}\n`)
  return 1
}
