/**
 * `kustodian build kustomization NAME --path PATH`: prints, as `flux build kustomization` prints it (each object
 * as the Go tools write YAML, followed by `---`), exactly what the operator would apply — the operator's build
 * (`kustomization-build.ts`), then the apply stage's preparation (normalization and the owner labels). Secret
 * values are masked as flux masks them, and decrypted values elsewhere too (`secret-mask.ts`), unless
 * `--show-secrets`. Usage mistakes exit 2,
 * failures 1.
 *
 * @module
 */
import { Effect } from "effect"
import { KubeClient } from "../kube/client.ts"
import { connect, type KubeConfigSource } from "../kube/connection.ts"
import type { KubeObject } from "../kube/object.ts"
import { normalize } from "../stages/apply/normalize.ts"
import { withOwnerLabels } from "../stages/cluster/owner.ts"
import { UsageError } from "./args.ts"
import { parsing } from "./command.ts"
import { type GoYamlValue, goYaml } from "./go-yaml.ts"
import {
  type Built,
  buildKustomization,
  KustomizationBuildError,
  parseKustomizationArgs,
} from "./kustomization-build.ts"
import { maskDecrypted, maskForBuild } from "./secret-mask.ts"

/** The objects as the apply stage sends them: normalized, with the Kustomization's owner labels. */
export const prepared = (built: Built, name: string): ReadonlyArray<KubeObject> =>
  built.objects.map((o: KubeObject) =>
    withOwnerLabels(normalize(o as unknown as KubeObject), { name, namespace: built.namespace }),
  )

/** Flux's multi-document output: every object followed by `---`. */
export const printYaml = (objects: ReadonlyArray<unknown>): string =>
  objects.map((o) => `${goYaml(o as { readonly [key: string]: GoYamlValue })}---\n`).join("")

/** Connects for a command that may use the cluster; the connection closes with the scope. */
export const clusterClient = (source: KubeConfigSource) =>
  Effect.gen(function* () {
    const conn = yield* connect(source)
    return yield* Effect.service(KubeClient).pipe(Effect.provide(KubeClient.fromConnection(conn)))
  }).pipe(
    Effect.mapError(
      (e) =>
        new KustomizationBuildError({
          message: `cannot reach the cluster: ${e.message} (use --dry-run to build without it)`,
        }),
    ),
  )

const note = (line: string) => {
  process.stderr.write(`${line}\n`)
}

export const buildCommand = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv, cwd: string) =>
  Effect.gen(function* () {
    if (argv.length === 0)
      return yield* Effect.fail(
        new UsageError("missing kind: kustodian build kustomization NAME --path PATH"),
      )
    const args = yield* parsing(() => parseKustomizationArgs("build", argv, cwd, env))
    const program = Effect.gen(function* () {
      const cluster = args.dryRun ? undefined : yield* clusterClient(args.source)
      const built = yield* buildKustomization(args, env, cwd, cluster, note).pipe(
        Effect.mapError((e) =>
          e._tag === "KustomizationBuildError" && e.message.startsWith("failed to get kustomization object")
            ? new KustomizationBuildError({ message: `${e.message} (--dry-run builds without the cluster)` })
            : e,
        ),
      )
      const objects = prepared(built, args.name)
      process.stdout.write(
        printYaml(
          args.showSecrets ? objects : objects.map((o) => maskForBuild(maskDecrypted(o, built.decrypted))),
        ),
      )
    })
    yield* Effect.scoped(program)
  })
