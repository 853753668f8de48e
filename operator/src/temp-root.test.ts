/**
 * The start-up sweep removes exactly the temp roots of processes that are gone (a build tree with decrypted
 * files, a git credential directory), and nothing else: not a live process's root, not look-alike names, not
 * what a link with our name points to. Build directories live in this process's root, never in /dev/shm.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { privateWorkdir } from "./stages/build/workdir.ts"
import { sweepStaleTempRoots, tempRoot, tempRootName } from "./temp-root.ts"

/** The pid of a process that has exited. */
const deadPid = () => spawnSync(process.execPath, ["-e", ""]).pid ?? 999_999

describe("temp roots", () => {
  it.live("the sweep removes dead processes' trees and keeps everything else", () =>
    Effect.gen(function* () {
      const parent = yield* Effect.acquireRelease(
        Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "kustodian-sweep-test-"))),
        (d) => Effect.promise(() => fs.rm(d, { recursive: true, force: true })),
      )
      const mk = async (rel: string, file?: string) => {
        await fs.mkdir(path.join(parent, rel), { recursive: true })
        if (file !== undefined) await fs.writeFile(path.join(parent, rel, file), "password: hunter2\n")
      }
      const dead = tempRootName(deadPid(), "0123456789ab")
      const samePid = tempRootName(process.pid, "ba9876543210") // a predecessor with our pid (pid 1 in a pod)
      const live = tempRootName(process.ppid, "aaaaaaaaaaaa")
      const link = tempRootName(deadPid(), "cccccccccccc")
      yield* Effect.promise(async () => {
        await mk(`${dead}/kustodian-build-x1/view`, "secret.yaml")
        await mk(`${dead}/kustodian-git-y2`, "gitconfig")
        await mk(`${samePid}/kustodian-checkout-z3`, "app.yaml")
        await mk(`${live}/kustodian-build-q`, "secret.yaml")
        await mk("kustodian-git-http-abc", "repo") // a test git server's directory: not ours
        await mk("kustodian-tmp-notapid", "x")
        await mk("elsewhere", "keep.yaml")
        await fs.symlink(path.join(parent, "elsewhere"), path.join(parent, link))
      })
      const removed = yield* sweepStaleTempRoots(parent)
      expect([...removed].sort()).toEqual([dead, samePid].sort())
      const left = (yield* Effect.promise(() => fs.readdir(parent))).sort()
      expect(left).toEqual(
        [live, link, "kustodian-git-http-abc", "kustodian-tmp-notapid", "elsewhere"].sort(),
      )
      expect(
        yield* Effect.promise(() => fs.readFile(path.join(parent, "elsewhere/keep.yaml"), "utf8")),
      ).toContain("hunter2")
    }).pipe(Effect.scoped),
  )

  it.live("build directories live in this process's temp root, not /dev/shm, and go with their scope", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.scoped(
        Effect.gen(function* () {
          const d = yield* privateWorkdir()
          expect(path.dirname(d)).toBe(tempRoot())
          expect(d.startsWith("/dev/shm")).toBe(false)
          expect(((yield* Effect.promise(() => fs.stat(d))).mode & 0o777).toString(8)).toBe("700")
          return d
        }),
      )
      expect(
        yield* Effect.promise(() =>
          fs.stat(dir).then(
            () => true,
            () => false,
          ),
        ),
      ).toBe(false)
      // Our own root is never swept, even though its pid is ours.
      yield* sweepStaleTempRoots(path.dirname(tempRoot()))
      expect(
        yield* Effect.promise(() =>
          fs.stat(tempRoot()).then(
            () => true,
            () => false,
          ),
        ),
      ).toBe(true)
    }),
  )
})
