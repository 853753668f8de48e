/**
 * `kustodian create secret|source|kustomization`: dispatches to the command of the kind; each builds the object
 * its flags describe and hands it to `create-output.ts`.
 *
 * @module
 */
import { Effect } from "effect"
import { UsageError } from "./args.ts"
import { HelpRequested } from "./command.ts"
import { createKustomizationCommand, createKustomizationUsage } from "./create-kustomization.ts"
import { createSecretCommand, createSecretUsage } from "./create-secret.ts"
import { createSourceGitCommand, createSourceGitUsage } from "./create-source-git.ts"

export const createUsage = `kustodian create <kind> NAME [flags]
  secret sops-age|sops-gpg|sops-hcvault NAME   a decryption Secret with Flux's entry names
  source git NAME                              a GitRepository, as flux create source git
  kustomization NAME                           a Kustomization, as flux create kustomization

${createSecretUsage}

${createSourceGitUsage}

${createKustomizationUsage}`

const isHelp = (a: string | undefined) => a === "--help" || a === "-h" || a === "help"

/** `kustodian create …`: dispatches on the kind. */
export const createCommand = (argv: ReadonlyArray<string>) => {
  const [kind, ...rest] = argv
  if (isHelp(kind)) return Effect.fail(new HelpRequested(createUsage))
  if (kind === undefined)
    return Effect.fail(new UsageError("needs a kind: secret, source git or kustomization"))
  if (kind === "secret") return createSecretCommand(rest)
  if (kind === "source") {
    const [sub, ...more] = rest
    if (sub === "git") return createSourceGitCommand(more)
    if (isHelp(sub)) return Effect.fail(new HelpRequested(createSourceGitUsage))
    if (sub === undefined) return Effect.fail(new UsageError("create source needs a type: git"))
    return Effect.fail(
      new UsageError(
        `create source ${JSON.stringify(sub)}: only git sources are supported (create source git)`,
      ),
    )
  }
  if (kind === "kustomization" || kind === "ks") return createKustomizationCommand(rest)
  return Effect.fail(
    new UsageError(`unknown kind ${JSON.stringify(kind)} (secret, source git, kustomization)`),
  )
}
