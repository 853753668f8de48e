// The real capture path of runGit: a stand-in `git` (KUSTODIAN_GIT) that prints what a hostile server could
// make git print, spawned as a real process.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit } from "effect"
import { GitOperationError } from "./errors.ts"
import { GitExit, runGit } from "./git-process.ts"

const MiB = 1024 * 1024
let dir = ""
const saved = process.env.KUSTODIAN_GIT

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kustodian-git-process-"))
})
afterAll(() => {
  if (saved === undefined) delete process.env.KUSTODIAN_GIT
  else process.env.KUSTODIAN_GIT = saved
  rmSync(dir, { recursive: true, force: true })
})

/** Make `script` (sh) the git binary. */
const fakeGit = (name: string, script: string) => {
  const path = join(dir, name)
  writeFileSync(path, `#!/bin/sh\n${script}\n`)
  chmodSync(path, 0o755)
  process.env.KUSTODIAN_GIT = path
}

const run = (maxStdout?: number) =>
  Effect.runPromiseExit(
    runGit({
      args: ["ls-remote", "--", "https://git.example/r.git"],
      env: {},
      timeout: Duration.seconds(60),
      url: "https://git.example/r.git",
      operation: "ls-remote",
      secrets: ["hunter22-token"],
      ...(maxStdout === undefined ? {} : { maxStdout }),
    }),
  )

describe("runGit output capture", () => {
  it("keeps the ends of a megabyte of stderr, redacted, and drains the rest", async () => {
    fakeGit(
      "noisy",
      [
        "printf 'fatal: unable to access https://bob:hunter22-token@git.example/r.git/\\n' >&2",
        `yes 'remote: a.a.a.a.a.a.a.a.https://x:hunter22-token@h/' | head -c ${MiB} >&2`,
        "printf '\\nfatal: Authorization: Bearer abc.def.ghi at https://u:p@git.example/\\n' >&2",
        "exit 128",
      ].join("\n"),
    )
    const exit = await run()
    expect(Exit.isFailure(exit)).toBe(true)
    const e = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
    const failure = e?._tag === "Fail" ? e.error : undefined
    expect(failure).toBeInstanceOf(GitExit)
    const stderr = (failure as GitExit).stderr
    expect((failure as GitExit).code).toBe(128)
    expect(stderr.length).toBeLessThanOrEqual(2 * 16 * 1024 + 100)
    expect(stderr.startsWith("fatal: unable to access https://git.example/r.git/\n")).toBe(true)
    expect(stderr).toMatch(/\[… \d+ bytes omitted …\]/)
    expect(stderr.endsWith("fatal: Authorization: Bearer *** at https://git.example/")).toBe(true)
    expect(stderr).not.toContain("hunter22")
    expect(stderr).not.toContain("abc.def")
    expect(stderr).not.toContain("u:p@")
    // Only whole lines survive the cut (the last remote line is the one `head -c` cut short).
    for (const line of stderr.split("\n").slice(1, -2))
      if (!line.startsWith("[…")) expect(line).toBe("remote: a.a.a.a.a.a.a.a.https://h/")
  })

  it("returns stdout whole under the cap and refuses it past the cap", async () => {
    fakeGit("lister", `yes 'ref refs/heads/x' | head -c ${3 * MiB}`)
    const ok = await run()
    expect(Exit.isSuccess(ok) && ok.value.stdout.length).toBe(3 * MiB)
    const refused = await run(MiB)
    expect(Exit.isFailure(refused)).toBe(true)
    const e = Exit.isFailure(refused) ? refused.cause.reasons.find((r) => r._tag === "Fail") : undefined
    const failure = e?._tag === "Fail" ? e.error : undefined
    expect(failure).toBeInstanceOf(GitOperationError)
    expect((failure as GitOperationError).message).toBe(
      "git ls-remote printed more than 1 MiB (raise it with --max-git-output-size)",
    )
  })
})
