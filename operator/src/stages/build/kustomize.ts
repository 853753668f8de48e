/**
 * Runs the real `kustomize` binary: `build --load-restrictor LoadRestrictionsNone`, never with helm,
 * plugins or exec functions, with an environment that carries no credentials of ours.
 *
 * @module
 */
import { execFile } from "node:child_process"
import * as path from "node:path"
import { Context, Effect, Layer } from "effect"
import { redactValues } from "../decrypt/plaintext-values.ts"
import { BuildFailed } from "./errors.ts"
import { type KubeObject, parseObjects } from "./objects.ts"

/** The binary to run: `KUSTODIAN_KUSTOMIZE` when set, else `kustomize` from PATH. */
export const kustomizeBinary = () => process.env.KUSTODIAN_KUSTOMIZE || "kustomize"

/** Removes the scratch directory from tool output, so messages show artifact-relative paths only. */
const scrub = (text: string, dirs: ReadonlyArray<string>) =>
  dirs.reduce((t, d) => t.split(`${d}${path.sep}`).join("").split(d).join("."), text).trim()

/** Runs kustomize builds. */
export class Kustomize extends Context.Service<
  Kustomize,
  {
    /**
     * Builds the kustomization in `dir`. `workdir` is the private scratch directory: kustomize's own temp
     * files (remote base clones) go there. `root` (the artifact root) and `workdir` are scrubbed from
     * messages, so they show artifact-relative paths.
     */
    readonly build: (
      dir: string,
      workdir: string,
      root?: string,
      /** Plaintext values to scrub from kustomize's messages (e.g. a failing decrypted patch it quotes). */
      redact?: ReadonlyArray<string>,
    ) => Effect.Effect<ReadonlyArray<KubeObject>, BuildFailed>
  }
>()("kustodian/stages/build/Kustomize") {
  /** Uses the binary named by {@link kustomizeBinary}, resolved when the layer is built. */
  static readonly layer = Layer.sync(Kustomize, () => Kustomize.make(kustomizeBinary()))

  /** A Kustomize running `binary`. */
  static make(binary: string) {
    return Kustomize.of({
      build: Effect.fn("Kustomize.build")(function* (
        dir: string,
        workdir: string,
        root?: string,
        redact: ReadonlyArray<string> = [],
      ) {
        const stdout = yield* Effect.callback<string, BuildFailed>((resume, signal) => {
          execFile(
            binary,
            ["build", "--load-restrictor", "LoadRestrictionsNone", dir],
            {
              signal,
              maxBuffer: 512 * 1024 * 1024,
              timeout: 10 * 60_000,
              cwd: dir,
              env: {
                PATH: process.env.PATH ?? "/usr/bin:/bin",
                HOME: workdir,
                TMPDIR: workdir,
                GIT_TERMINAL_PROMPT: "0",
                GIT_CONFIG_NOSYSTEM: "1",
                KUSTOMIZE_PLUGIN_HOME: path.join(workdir, ".no-plugins"),
              },
            },
            (err, out, errOut) => {
              if (err) {
                const detail =
                  (err as NodeJS.ErrnoException).code === "ENOENT"
                    ? `kustomize binary '${binary}' not found`
                    : redactValues(
                        scrub(String(errOut || err.message), root ? [root, workdir] : [workdir]),
                        redact,
                      ).slice(0, 4000)
                resume(
                  Effect.fail(
                    new BuildFailed({ message: `kustomize build failed: ${detail}`, terminal: false }),
                  ),
                )
              } else resume(Effect.succeed(out))
            },
          )
        })
        return yield* Effect.try({
          try: () => parseObjects(stdout),
          catch: (e) =>
            new BuildFailed({
              message: `failed to parse kustomize output: ${(e as Error).message}`,
              terminal: false,
            }),
        })
      }),
    })
  }
}
