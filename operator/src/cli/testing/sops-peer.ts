/**
 * Test helper for sops' subcommands: a scratch directory with an age key (from the real age-keygen), and the
 * real sops and kustodian run side by side in it with the same clean environment.
 *
 * @module
 */
import { execFileSync, spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { toolPath } from "../../../../e2e/support/tools.ts"
import { type CliRun, runKustodian } from "./kustodian-process.ts"

export interface AgeKey {
  readonly identity: string
  readonly recipient: string
  readonly file: string
}

export interface Peer {
  readonly dir: string
  readonly env: NodeJS.ProcessEnv
  /** A new age key, its key file in the scratch directory. */
  readonly ageKey: (name: string) => AgeKey
  readonly kustodian: (
    args: ReadonlyArray<string>,
    opts?: { input?: string; env?: NodeJS.ProcessEnv },
  ) => CliRun
  readonly sops: (args: ReadonlyArray<string>, opts?: { input?: string; env?: NodeJS.ProcessEnv }) => CliRun
  readonly write: (name: string, text: string) => string
  readonly read: (name: string) => string
  /** `sops decrypt` of a file (throws when it fails). */
  readonly decrypt: (name: string) => string
  readonly dispose: () => void
}

export const peer = (prefix: string): Peer => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, ".no-config"),
  }
  const sopsBin = toolPath("sops")
  const sops: Peer["sops"] = (args, opts = {}) => {
    const r = spawnSync(sopsBin, args, {
      cwd: dir,
      env: { ...env, ...opts.env },
      input: opts.input ?? "",
      encoding: "utf8",
    })
    return { code: r.status, stdout: r.stdout, stderr: r.stderr }
  }
  return {
    dir,
    env,
    ageKey: (name) => {
      const file = join(dir, `${name}.agekey`)
      execFileSync(toolPath("age-keygen"), ["-o", file], { stdio: "ignore" })
      const text = readFileSync(file, "utf8")
      return {
        identity: /^AGE-SECRET-KEY-1\S+$/m.exec(text)![0],
        recipient: /# public key: (age1\S+)/.exec(text)![1]!,
        file,
      }
    },
    kustodian: (args, opts = {}) =>
      runKustodian(args, {
        cwd: dir,
        env: { ...env, ...opts.env },
        ...(opts.input ? { input: opts.input } : {}),
      }),
    sops,
    write: (name, text) => {
      writeFileSync(join(dir, name), text)
      return join(dir, name)
    },
    read: (name) => readFileSync(join(dir, name), "utf8"),
    decrypt: (name) => {
      const r = sops(["decrypt", name])
      if (r.code !== 0) throw new Error(`sops decrypt ${name} failed (${r.code}): ${r.stderr}`)
      return r.stdout
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  }
}

/** The lines of a sops file that are neither `lastmodified` nor the MAC (what an unchanged value keeps). */
export const valueLines = (text: string): Array<string> =>
  text.split("\n").filter((l) => !/^\s*(lastmodified|mac):|"(lastmodified|mac)":/.test(l))
