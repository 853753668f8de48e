/**
 * Counts the operator's kustomize runs from outside the process. Every test operator runs kustomize under the
 * Landlock sandbox, which lets the child execute kustomize and write only its private home: a wrapper in place
 * of kustomize could not record anything. So the wrapper stands in for the sandbox launcher
 * (`KUSTODIAN_SANDBOX`): it appends the argv of every `run` (one kustomize build each) to a file, then execs the
 * real launcher, so builds stay confined exactly as without it.
 */
import { chmod, readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import { scratchDir } from "../support/seed.ts"
import { toolPath } from "../support/tools.ts"

export interface KustomizeSpawns {
  /** Put in the operator's environment. */
  readonly env: Readonly<Record<string, string>>
  /** How many kustomize builds the operator has started so far. */
  readonly count: Effect.Effect<number>
  /**
   * How many of them built the Kustomization whose `spec.path` is `path` (kustomize builds the view's copy
   * of that directory, so its last argument ends with the path; paths must not be suffixes of each other).
   */
  readonly builds: (path: string) => Effect.Effect<number>
}

/** `./apps/a/` → `apps/a`. */
const normalize = (path: string) => path.replace(/^(\.\/)+/, "").replace(/\/+$/, "")

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`

/** A wrapper of the sandbox launcher in a scratch directory removed with the scope. */
export const kustomizeSpawns = Effect.gen(function* () {
  const dir = yield* scratchDir("kustodian-spawns-")
  const log = join(dir, "spawns.log")
  const wrapper = join(dir, "kustodian-sandbox")
  const real = toolPath("kustodian-sandbox")
  yield* Effect.promise(async () => {
    await writeFile(log, "")
    await writeFile(
      wrapper,
      `#!/bin/sh\nif [ "$1" = run ]; then printf '%s\\n' "$*" >> ${shellQuote(log)}; fi\nexec ${shellQuote(real)} "$@"\n`,
    )
    await chmod(wrapper, 0o755)
  })
  const kustomize = toolPath("kustomize")
  /** The directory of every kustomize build so far. */
  const built = Effect.promise(async () =>
    (await readFile(log, "utf8"))
      .split("\n")
      // Every run is a kustomize build; the check keeps the count honest should the sandbox run anything else.
      .filter((l) => l.includes(` -- ${kustomize} build `))
      .map((l) => l.slice(l.lastIndexOf(" ") + 1)),
  )
  const count = built.pipe(Effect.map((dirs) => dirs.length))
  const builds = (path: string) =>
    built.pipe(Effect.map((dirs) => dirs.filter((d) => d.endsWith(`/${normalize(path)}`)).length))
  return { env: { KUSTODIAN_SANDBOX: wrapper }, count, builds } satisfies KustomizeSpawns
})
