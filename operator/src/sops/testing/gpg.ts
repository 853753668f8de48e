/**
 * Test helper: a throw-away GNUPGHOME with keys imported by the real `gpg`, removed (agent killed) with the scope.
 *
 * @module
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"

/** Runs gpg with a home directory; returns stdout. */
export const gpg = (
  home: string,
  args: ReadonlyArray<string>,
  input?: string | Uint8Array,
  exec = "gpg",
): string =>
  execFileSync(exec, ["--homedir", home, "--batch", "--no-tty", ...args], {
    input,
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, GNUPGHOME: home },
  }).toString("utf8")

/** A scoped temporary GNUPGHOME holding the given armored keys. */
export const gnupgHome = (armoredKeys: ReadonlyArray<string>, exec = "gpg") =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const home = mkdtempSync(join(tmpdir(), "kgpg-"))
      for (const k of armoredKeys) gpg(home, ["--import"], k, exec)
      return home
    }),
    (home) =>
      Effect.sync(() => {
        try {
          execFileSync("gpgconf", ["--homedir", home, "--kill", "all"], { stdio: "ignore" })
        } catch {
          // no agent was started
        }
        rmSync(home, { recursive: true, force: true })
      }),
  )
