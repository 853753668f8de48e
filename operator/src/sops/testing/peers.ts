/**
 * Test and benchmark helpers for interop with the real tools: throw-away gpg keys (`gpg --quick-gen-key`), age
 * keys (`age-keygen` when installed), and running a `sops` binary in an isolated environment.
 *
 * @module
 */
import { execFileSync, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gpg } from "./gpg.ts"

export interface GpgKey {
  readonly fp: string
  /** Armored secret key (no passphrase), for in-process decryption. */
  readonly armored: string
}

/** Creates a passphrase-less key (cert-only primary + encryption subkey) in `home`. */
export const makeGpgKey = (
  home: string,
  name: string,
  algo: "rsa2048" | "rsa4096" | "ed25519" = "rsa2048",
): GpgKey => {
  const enc = algo === "ed25519" ? "cv25519" : algo
  gpg(home, [
    "--passphrase",
    "",
    "--quick-gen-key",
    `${name} <${name}@kustodian.test>`,
    algo,
    "cert",
    "never",
  ])
  const listing = gpg(home, ["--with-colons", "--list-secret-keys", `${name}@kustodian.test`])
  const fp = /^fpr:+([0-9A-F]{40}):/m.exec(listing)![1]!
  gpg(home, ["--passphrase", "", "--quick-add-key", fp, enc, "encr", "never"])
  const armored = gpg(home, [
    "--armor",
    "--pinentry-mode",
    "loopback",
    "--passphrase",
    "",
    "--export-secret-keys",
    fp,
  ])
  return { fp, armored }
}

/** A temporary GNUPGHOME; call `dispose` to kill its agent and remove it. */
export const tempGnupgHome = (): { home: string; dispose: () => void } => {
  const home = mkdtempSync(join(tmpdir(), "kgpg-"))
  return {
    home,
    dispose: () => {
      try {
        execFileSync("gpgconf", ["--homedir", home, "--kill", "all"], { stdio: "ignore" })
      } catch {
        // no agent
      }
      rmSync(home, { recursive: true, force: true })
    },
  }
}

/** An age identity + recipient from the real `age-keygen`. */
export const ageKeygen = (exec = "age-keygen"): { identity: string; recipient: string; keyFile: string } => {
  const out = execFileSync(exec, [], { stdio: ["ignore", "pipe", "pipe"] }).toString("utf8")
  const identity = /^AGE-SECRET-KEY-1\S+$/m.exec(out)![0]
  const recipient = /# public key: (age1\S+)/.exec(out)![1]!
  return { identity, recipient, keyFile: out }
}

export interface SopsRun {
  readonly code: number | null
  readonly stdout: Buffer
  readonly stderr: string
}

/** Runs sops with a clean environment: only the given keys are visible to it. */
export const runSops = (
  sops: string,
  args: ReadonlyArray<string>,
  opts: { cwd: string; gnupgHome?: string; ageKeyFile?: string; env?: NodeJS.ProcessEnv },
): SopsRun => {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: opts.cwd,
    XDG_CONFIG_HOME: join(opts.cwd, ".no-config"),
    ...(opts.gnupgHome ? { GNUPGHOME: opts.gnupgHome } : {}),
    ...(opts.ageKeyFile ? { SOPS_AGE_KEY_FILE: opts.ageKeyFile } : {}),
    ...opts.env,
  }
  const r = spawnSync(sops, args, { cwd: opts.cwd, env, maxBuffer: 256 * 1024 * 1024 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString("utf8") }
}
