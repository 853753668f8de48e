/**
 * Runs the real `kustomize` binary: `build --load-restrictor LoadRestrictionsNone` on a private build view,
 * never with helm, plugins or exec functions, with an environment that carries no credentials of ours, inside
 * the Landlock sandbox when the kernel has one (`sandbox.ts`), and with its output capped before we parse it.
 *
 * `LoadRestrictionsNone` is what Flux runs with: patches and generator files may live in sibling directories
 * of the source. The view holds only the files the resolver checked, and the sandbox lets kustomize read
 * nothing else, so the root is kept by us and by the kernel rather than by kustomize's own restrictor.
 *
 * @module
 */
import { execFile } from "node:child_process"
import * as path from "node:path"
import { Context, Effect, Layer } from "effect"
import type { KubeObject } from "../../kube/object.ts"
import { formatLimit, limitFlag } from "../../limits.ts"
import { record, sandboxGauge } from "../../metrics/metrics.ts"
import { makeRedactor } from "../../redaction/redactor.ts"
import { BuildFailed } from "./errors.ts"
import { parseObjectsOffThread } from "./parse-pool.ts"
import { findSandbox, resolveExecutable, type Sandbox, type SandboxMode, sandboxed } from "./sandbox.ts"

/** The binary to run: `KUSTODIAN_KUSTOMIZE` when set, else `kustomize` from PATH. */
export const kustomizeBinary = () => process.env.KUSTODIAN_KUSTOMIZE || "kustomize"

/** Removes the scratch directory from tool output, so messages show artifact-relative paths only. */
const scrub = (text: string, dirs: ReadonlyArray<string>) =>
  dirs.reduce((t, d) => t.split(`${d}${path.sep}`).join("").split(d).join("."), text).trim()

export interface KustomizeOptions {
  /** The kustomize binary (default {@link kustomizeBinary}, resolved through PATH). */
  readonly binary?: string
  /** `--kustomize-sandbox` (default `auto`). */
  readonly sandbox?: SandboxMode
  /** The sandbox binary (default `KUSTODIAN_SANDBOX`, else `kustodian-sandbox` from PATH). */
  readonly sandboxBinary?: string
  /** Remote bases are allowed (not `--no-remote-bases`): the sandbox opens git, ssh and TCP 443/22/53. */
  readonly remoteBases?: boolean
  /** TCP ports of `--trusted-remote-prefix` URLs, opened in the sandbox besides 443/22/53. */
  readonly remotePorts?: ReadonlyArray<number>
  /** `--max-build-output-size`. */
  readonly maxOutputSize: number
  /** `--max-build-objects`. */
  readonly maxObjects?: number
}

/** One build's directories. */
export interface KustomizeRun {
  /** The kustomization directory, inside `view`. */
  readonly dir: string
  /** The private build view (read-only for kustomize); scrubbed from messages. */
  readonly view: string
  /** kustomize's private HOME and TMPDIR (remote base clones land here); scrubbed from messages. */
  readonly home: string
  /** Plaintext values to scrub from kustomize's messages (e.g. a failing decrypted patch it quotes). */
  readonly redact?: ReadonlyArray<string>
}

/** Runs kustomize builds. */
export class Kustomize extends Context.Service<
  Kustomize,
  {
    /** Builds the kustomization in `run.dir`. */
    readonly build: (run: KustomizeRun) => Effect.Effect<ReadonlyArray<KubeObject>, BuildFailed>
    /** The sandbox builds run under, if any (for start-up logs and tests). */
    readonly sandbox: Sandbox | undefined
  }
>()("kustodian/stages/build/Kustomize") {
  /** Finds the binary and the sandbox once; `required` without a sandbox fails the layer. */
  static layer(options: KustomizeOptions) {
    return Layer.effect(
      Kustomize,
      Effect.gen(function* () {
        const mode = options.sandbox ?? "auto"
        const sandbox = yield* findSandbox(mode, options.sandboxBinary)
        yield* record(sandboxGauge, {}, sandbox?.abi ?? 0)
        if (sandbox === undefined && mode === "auto")
          yield* Effect.logWarning(
            "kustomize runs without the Landlock sandbox (kustodian-sandbox not found or no Landlock in this " +
              "kernel): the path resolver is the only fence around repository content",
          )
        return Kustomize.make({ ...options, sandbox: mode }, sandbox)
      }),
    )
  }

  /** A Kustomize with a sandbox already found (or none). */
  static make(options: KustomizeOptions, sandbox: Sandbox | undefined) {
    const name = options.binary ?? kustomizeBinary()
    const binary = resolveExecutable(name) ?? name
    const maxOutput = options.maxOutputSize
    return Kustomize.of({
      sandbox,
      build: Effect.fn("Kustomize.build")(function* (run: KustomizeRun) {
        const args = ["build", "--load-restrictor", "LoadRestrictionsNone", run.dir]
        const confinement = {
          program: binary,
          view: run.view,
          home: run.home,
          remote: options.remoteBases ?? true,
          ports: options.remotePorts ?? [],
        }
        const [file, argv] =
          sandbox === undefined ? [binary, args] : [sandbox.binary, sandboxed(confinement, args)]
        const stdout = yield* Effect.callback<string, BuildFailed>((resume, signal) => {
          execFile(
            file,
            argv,
            {
              signal,
              maxBuffer: maxOutput,
              timeout: 10 * 60_000,
              killSignal: "SIGKILL",
              cwd: run.dir,
              env: {
                PATH: process.env.PATH ?? "/usr/bin:/bin",
                HOME: run.home,
                TMPDIR: run.home,
                GIT_TERMINAL_PROMPT: "0",
                GIT_CONFIG_NOSYSTEM: "1",
                KUSTOMIZE_PLUGIN_HOME: path.join(run.home, ".no-plugins"),
              },
            },
            (err, out, errOut) => {
              if (!err) return resume(Effect.succeed(out))
              const code = (err as NodeJS.ErrnoException).code
              const detail =
                code === "ENOENT"
                  ? `kustomize binary '${binary}' not found`
                  : code === "ERR_CHILD_PROCESS_STDIO_MAXBUFFER"
                    ? `its output exceeds the limit (${formatLimit("maxBuildOutputSize", maxOutput)}; ` +
                      `raise it with ${limitFlag("maxBuildOutputSize")})`
                    : makeRedactor({ sensitive: run.redact ?? [] })
                        .redact(scrub(String(errOut || err.message), [run.view, run.home]))
                        .slice(0, 4000)
              resume(
                Effect.fail(
                  new BuildFailed({
                    message: `kustomize build failed: ${detail}`,
                    terminal: code === "ERR_CHILD_PROCESS_STDIO_MAXBUFFER",
                  }),
                ),
              )
            },
          )
        })
        return yield* parseObjectsOffThread(stdout, { maxObjects: options.maxObjects })
      }),
    })
  }
}
