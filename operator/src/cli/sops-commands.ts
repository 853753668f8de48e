/**
 * sops' own subcommands in the kustodian CLI, by name: what `main.ts` dispatches to and lists in its usage.
 *
 * @module
 */
import type { Effect } from "effect"
import { editCommand, editUsage } from "./edit.ts"
import { execEnvCommand, execEnvUsage, execFileCommand, execFileUsage } from "./exec.ts"
import { filestatusCommand, filestatusUsage } from "./filestatus.ts"
import { groupsCommand, groupsUsage } from "./groups.ts"
import { rotateCommand, rotateUsage } from "./rotate.ts"
import { setCommand, setUsage, unsetCommand, unsetUsage } from "./set.ts"
import { runSopsCommand } from "./sops-command.ts"
import { updatekeysCommand, updatekeysUsage } from "./updatekeys.ts"

interface SopsSubcommand {
  readonly summary: string
  readonly usage: string
  readonly program: (
    argv: ReadonlyArray<string>,
    env: NodeJS.ProcessEnv,
    cwd: string,
  ) => Effect.Effect<void, { readonly message: string }>
}

export const sopsSubcommands: Readonly<Record<string, SopsSubcommand>> = {
  edit: {
    summary: "edit an encrypted file in $SOPS_EDITOR/$EDITOR (sops edit)",
    usage: editUsage,
    program: editCommand,
  },
  set: {
    summary: "set a key of an encrypted file in place (sops set)",
    usage: setUsage,
    program: setCommand,
  },
  unset: {
    summary: "remove a key of an encrypted file in place (sops unset)",
    usage: unsetUsage,
    program: unsetCommand,
  },
  rotate: {
    summary: "a new data key, optionally adding/removing master keys (sops rotate)",
    usage: rotateUsage,
    program: rotateCommand,
  },
  updatekeys: {
    summary: "make files' keys those of .sops.yaml, with -y (sops updatekeys)",
    usage: updatekeysUsage,
    program: updatekeysCommand,
  },
  "exec-env": {
    summary: "run a command with the decrypted values in its environment (sops exec-env)",
    usage: execEnvUsage,
    program: execEnvCommand,
  },
  "exec-file": {
    summary: "run a command with the decrypted file as {} (sops exec-file)",
    usage: execFileUsage,
    program: execFileCommand,
  },
  groups: {
    summary: "add or delete a key group (sops groups add|delete)",
    usage: groupsUsage,
    program: groupsCommand,
  },
  filestatus: {
    summary: 'print {"encrypted":true|false} (sops filestatus)',
    usage: filestatusUsage,
    program: filestatusCommand,
  },
}

/** The usage lines of main's command list. */
export const sopsSubcommandList = (): string =>
  Object.entries(sopsSubcommands)
    .map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`)
    .join("\n")

/** Runs `name` if it is one of sops' subcommands; undefined otherwise. */
export const runSopsSubcommand = (
  name: string | undefined,
  argv: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv,
  exitCode: (e: never) => number,
): Promise<number> | undefined => {
  const c = name === undefined || !Object.hasOwn(sopsSubcommands, name) ? undefined : sopsSubcommands[name]
  if (c === undefined) return undefined
  return runSopsCommand(name!, c.program(argv, env, process.cwd()), exitCode)
}
