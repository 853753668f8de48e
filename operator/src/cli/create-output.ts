/**
 * How a `kustodian create` command delivers its object: printed as YAML (`--export`, the default, as
 * `flux create … --export` or `kubectl create … -o yaml` print it) or server-side applied (`--apply`, through the
 * project's kube client).
 *
 * @module
 */
import { homedir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { KubeClient } from "../kube/client.ts"
import type { KubeConfigSource } from "../kube/connection.ts"
import type { KubeObject } from "../kube/object.ts"
import type { ResourceRef } from "../kube/resource.ts"
import { type Parsed, UsageError, value } from "./args.ts"
import { type GoYamlValue, goYaml } from "./go-yaml.ts"

/** The flags every create command takes for its output. */
export const outputFlags = { values: ["kubeconfig", "context"], flags: ["export", "apply"] } as const

export const outputUsage = `output (one of):
  --export                 print the object as YAML (the default)
  --apply                  server-side apply it to the cluster (field manager kustodian)
  --kubeconfig PATH        with --apply (default: $KUBECONFIG, ~/.kube/config)
  --context NAME           with --apply: the kubeconfig context`

/** The field manager of objects applied by the CLI. */
const fieldManager = "kustodian"

/**
 * Prints or applies `obj`. `separator` is flux's `---` line before each exported document (kubectl prints
 * none). Apply never prints values, only the object's name, as `kubectl apply` does.
 */
export const emit = Effect.fn("emit")(function* (
  p: Parsed,
  ref: ResourceRef,
  obj: KubeObject,
  opts: { readonly separator: boolean },
) {
  if (p.flags.has("export") && p.flags.has("apply"))
    return yield* Effect.fail(new UsageError("--export and --apply exclude each other"))
  if (!p.flags.has("apply")) {
    if (value(p, "kubeconfig") !== undefined || value(p, "context") !== undefined)
      return yield* Effect.fail(new UsageError("--kubeconfig and --context are for --apply"))
    const text = `${opts.separator ? "---\n" : ""}${goYaml(obj as unknown as Record<string, GoYamlValue>)}`
    yield* Effect.sync(() => process.stdout.write(text))
    return
  }
  // without flags, the client's default lookup ($KUBECONFIG with its merging, ~/.kube/config, in-cluster); a
  // context needs one file to select it in: the flag's, else the first of $KUBECONFIG, else ~/.kube/config
  const context = value(p, "context")
  const kubeconfig =
    value(p, "kubeconfig") ??
    (context === undefined
      ? undefined
      : process.env.KUBECONFIG?.split(":")[0] || join(homedir(), ".kube", "config"))
  const source: KubeConfigSource =
    kubeconfig === undefined ? { _tag: "Default" } : { _tag: "File", path: kubeconfig, context }
  yield* Effect.gen(function* () {
    const client = yield* KubeClient
    yield* client.apply(ref, obj, { fieldManager, force: true })
  }).pipe(Effect.provide(KubeClient.layer(source)), Effect.scoped)
  const group = ref.group === "" ? "" : `.${ref.group}`
  yield* Effect.sync(() =>
    process.stderr.write(
      `${ref.kind.toLowerCase()}${group}/${obj.metadata.name} applied in namespace ${obj.metadata.namespace}\n`,
    ),
  )
})
