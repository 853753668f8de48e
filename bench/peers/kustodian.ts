/**
 * Kustodian as the bench runs it: `kustodian controller --concurrent=N` in its own process
 * (e2e/support/operator-process.ts), kustomize under the real Landlock sandbox. kustomize runs are counted by a
 * two-line wrapper around the sandbox binary: the sandbox starts every kustomize process, and a wrapper around
 * kustomize itself could not write its count from inside the Landlock domain.
 */
import { execFileSync } from "node:child_process"
import { appendFileSync, chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { operatorProcess } from "../../e2e/support/operator-process.ts"
import { repoRoot, sandboxSourceHash, toolsCacheDir } from "../../e2e/support/tools.ts"
import { label, series } from "./measure.ts"
import type { Peer, PeerContext } from "./peer.ts"

/**
 * What the image runs: the esbuild bundle (`npm run bundle`), built once per bench run into `work`.
 * `BENCH_KUSTODIAN=source` runs the TypeScript sources instead (type stripping, every module loaded eagerly).
 */
const program = (work: string) => {
  if (process.env.BENCH_KUSTODIAN === "source") return "source" as const
  const outdir = join(work, "bundle")
  if (!existsSync(join(outdir, "kustodian.mjs")))
    execFileSync(process.execPath, [join(repoRoot, "scripts/bundle.ts"), "--outdir", outdir], {
      stdio: "ignore",
    })
  return { bundle: join(outdir, "kustodian.mjs") }
}

const shellQuote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`

/** Kustodian's CRDs: Flux's two kinds it serves and its own journal. */
export const kustodianCrdFiles = () =>
  [
    "source.toolkit.fluxcd.io_gitrepositories.yaml",
    "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
    "kustodian.io_reconcilejournals.yaml",
  ].map((f) => join(repoRoot, "crds", f))

/**
 * A two-line sandbox wrapper at `wrapper` that appends a newline to `counter` (as `counterAs`, the path the
 * wrapper sees it at: different in a container) for every `run`, then execs `real`. `runs()` reads the count.
 */
export const countingSandbox = (opts: {
  readonly wrapper: string
  readonly counter: string
  readonly counterAs?: string
  readonly real: string
}) => {
  writeFileSync(opts.counter, "")
  writeFileSync(
    opts.wrapper,
    `#!/bin/sh\n[ "$1" = run ] && echo >>${shellQuote(opts.counterAs ?? opts.counter)}\nexec ${shellQuote(opts.real)} "$@"\n`,
  )
  chmodSync(opts.wrapper, 0o755)
  // One newline per `run`.
  return () => readFileSync(opts.counter, "utf8").length
}

/**
 * The Kustodian peer. Installs the counting sandbox wrapper in `dir` and points this process's
 * `KUSTODIAN_TOOL_KUSTODIAN_SANDBOX` at it, so call it before anything resolves the sandbox's path.
 */
export const kustodianPeer = (dir: string): Peer => {
  const real =
    process.env.KUSTODIAN_TOOL_KUSTODIAN_SANDBOX ||
    join(toolsCacheDir(), `sandbox-${sandboxSourceHash()}`, "kustodian-sandbox")
  const wrapper = join(dir, "kustodian-sandbox")
  const runs = countingSandbox({ wrapper, counter: join(dir, "kustomize-runs"), real })
  process.env.KUSTODIAN_TOOL_KUSTODIAN_SANDBOX = wrapper
  return {
    name: "Kustodian",
    crdFiles: kustodianCrdFiles,
    start: (ctx: PeerContext) =>
      Effect.gen(function* () {
        const flags = [`--concurrent=${ctx.concurrent}`]
        // operatorProcess puts its storage under os.tmpdir(), and the operator inherits TMPDIR.
        const saved = process.env.TMPDIR
        const op = yield* Effect.acquireUseRelease(
          Effect.sync(() => {
            process.env.TMPDIR = ctx.tmpdir
          }),
          () =>
            operatorProcess({
              kubeconfig: ctx.kubeconfig,
              flags,
              logFile: join(ctx.work, "kustodian.log"),
              entry: program(ctx.work),
            }),
          () =>
            Effect.sync(() => {
              if (saved === undefined) delete process.env.TMPDIR
              else process.env.TMPDIR = saved
            }),
        )
        // The control plane's reaper kills this group too if the bench dies without running its finalizers.
        appendFileSync(ctx.groupsFile, `${op.pid}\n`)
        const metrics = Effect.promise(() => fetch(`${op.probeUrl}/metrics`).then((r) => r.text()))
        return {
          pids: [op.pid],
          kustomizationReconciles: Effect.map(metrics, (t) =>
            [...series(t, "controller_runtime_reconcile_total")]
              .filter(([k]) => label(k, "controller") === "kustomization")
              .reduce((s, [, v]) => s + v, 0),
          ),
          kustomizeRuns: runs,
          commandLines: [
            `kustodian controller ${flags.join(" ")} (${process.env.BENCH_KUSTODIAN === "source" ? "TypeScript sources" : "the bundle the image ships, heap capped at 75%"}, as e2e/support/operator-process.ts starts it)`,
          ],
        }
      }),
  }
}
