/**
 * `kustodian controller` as a process against the test control plane: at start-up it removes the temp trees a
 * killed predecessor left (a build tree with a decrypted file, a git credential directory) and nothing of a
 * live process; on SIGTERM it stops gracefully, well before the forced exit.
 */
import { spawnSync } from "node:child_process"
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createTestNamespace, kubectl, testKubeconfigPath } from "../../../e2e/support/cluster.ts"
import { operatorProcess } from "../../../e2e/support/operator-process.ts"
import { repoRoot } from "../../../e2e/support/tools.ts"
import { tempRootName } from "../temp-root.ts"

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  )

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const installCrds = Effect.promise(() =>
  kubectl([
    "apply",
    "--server-side",
    "--force-conflicts",
    "-f",
    join(repoRoot, "crds/source.toolkit.fluxcd.io_gitrepositories.yaml"),
    "-f",
    join(repoRoot, "crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml"),
    "-f",
    join(repoRoot, "crds/kustodian.io_reconcilejournals.yaml"),
  ]),
)

describe("kustodian controller", () => {
  it.live(
    "sweeps a killed predecessor's temp trees at start-up and stops gracefully on SIGTERM",
    () =>
      Effect.gen(function* () {
        yield* installCrds
        const ns = yield* Effect.promise(() => createTestNamespace("controller-start"))
        const deadPid = spawnSync(process.execPath, ["-e", ""]).pid ?? 999_999
        const stale = join(tmpdir(), tempRootName(deadPid, "feedfacecafe"))
        const live = join(tmpdir(), tempRootName(process.pid, "0000feedface"))
        yield* Effect.acquireRelease(
          Effect.promise(async () => {
            await mkdir(join(stale, "kustodian-build-abc/view"), { recursive: true })
            await writeFile(join(stale, "kustodian-build-abc/view/secret.yaml"), "password: hunter2\n")
            await mkdir(join(stale, "kustodian-git-def"), { recursive: true })
            await writeFile(join(stale, "kustodian-git-def/gitconfig"), "[http]\n")
            // Ours (this test process is alive): not the operator's to remove.
            await mkdir(join(live, "kustodian-build-x"), { recursive: true })
          }),
          () =>
            Effect.promise(() =>
              Promise.all([
                rm(stale, { recursive: true, force: true }),
                rm(live, { recursive: true, force: true }),
              ]),
            ),
        )
        const operator = yield* operatorProcess({ kubeconfig: testKubeconfigPath(), namespace: ns })
        expect(yield* Effect.promise(() => exists(stale))).toBe(false)
        expect(yield* Effect.promise(() => exists(join(live, "kustodian-build-x")))).toBe(true)
        const log = yield* Effect.promise(() => readFile(operator.logFile, "utf8"))
        expect(log).toContain("removed temporary trees of a previous process")

        process.kill(operator.pid, "SIGTERM")
        // The test timeout is the clock: the forced exit would come after 8 s, the pod's SIGKILL after 10 s.
        while (alive(operator.pid)) yield* Effect.sleep(50)
        const after = yield* Effect.promise(() => readFile(operator.logFile, "utf8"))
        expect(after).toContain("controllers stopped")
        expect(after).not.toContain("graceful shutdown did not finish")
      }).pipe(Effect.scoped),
    120_000,
  )
})
