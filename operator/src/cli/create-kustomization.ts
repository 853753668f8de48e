/**
 * `kustodian create kustomization NAME`: the Kustomization `flux create kustomization … --export` prints for the
 * same flags, checked with the model's schema. Where flux drops a flag without a word (`--decryption-secret`
 * without `--decryption-provider`, `--health-check-timeout` without `--wait`), it is refused.
 *
 * @module
 */
import { Effect } from "effect"
import { decodeKustomization } from "../../../model/decode.ts"
import { kustomizationResource } from "../../../model/kustomization.ts"
import type { KubeObject } from "../kube/object.ts"
import type { ResourceRef } from "../kube/resource.ts"
import { parseArgs, UsageError, value } from "./args.ts"
import { HelpRequested, parsing } from "./command.ts"
import { emit, outputFlags, outputUsage } from "./create-output.ts"
import {
  checkName,
  commonFluxFlags,
  durationFlag,
  labelsFlag,
  namespaceFlag,
  safeRelativePath,
  sliceFlag,
} from "./flux-flags.ts"

export const createKustomizationUsage = `kustodian create kustomization NAME --source=[KIND/]NAME[.NAMESPACE] [flags]
  --source REF               GitRepository (default kind), OCIRepository or Bucket, e.g. GitRepository/my-secrets
  --path P                   directory in the source (default ./; confined to the source)
  --prune                    garbage-collect what a new revision no longer has
  --interval D               how often to reconcile (default 1m)
  --decryption-provider sops --decryption-secret NAME
                             decrypt SOPS files with the keys in Secret NAME
  --target-namespace NS      namespace of all objects applied
  --depends-on [NS/]NAME,…   Kustomizations that must be Ready first
  --service-account NAME     impersonated when applying
  --retry-interval D         retry a failed reconcile after D
  --wait                     health-check everything applied
  --health-check-timeout D   timeout of the health checks (default 2m, with --wait)
  --kubeconfig-secret-ref NAME    Secret with a kubeconfig (key value or value.yaml) of a remote cluster
  -n, --namespace NS         the object's namespace (default flux-system)
  --label K=V,…              labels
${outputUsage}`

const ksRef: ResourceRef = {
  group: kustomizationResource.group,
  version: kustomizationResource.version,
  plural: kustomizationResource.plural,
  kind: kustomizationResource.kind,
  namespaced: true,
}

const sourceKinds = ["OCIRepository", "GitRepository", "Bucket"] as const

const spec = {
  values: [
    ...commonFluxFlags,
    ...outputFlags.values,
    "source",
    "path",
    "decryption-provider",
    "decryption-secret",
    "target-namespace",
    "depends-on",
    "service-account",
    "retry-interval",
    "health-check-timeout",
    "kubeconfig-secret-ref",
  ],
  flags: [...outputFlags.flags, "prune", "wait", "help"],
  aliases: { n: "namespace", h: "help" },
}

/** `[<kind>/]<name>[.<namespace>]`, as flux's `--source` flag type reads it. */
const parseSource = (given: string) => {
  const slash = given.indexOf("/")
  const kind = slash < 0 ? "GitRepository" : given.slice(0, slash)
  if (!(sourceKinds as ReadonlyArray<string>).includes(kind))
    throw new UsageError(
      `invalid argument "${given}" for "--source" flag: source kind '${kind}' is not supported, must be one of: ${sourceKinds.join(", ")}`,
    )
  const rest = given.slice(slash + 1)
  const dot = rest.indexOf(".")
  const name = dot < 0 ? rest : rest.slice(0, dot)
  if (name === "") throw new UsageError(`invalid argument "${given}" for "--source" flag: no name`)
  return { kind, name, ...(dot < 0 ? {} : { namespace: rest.slice(dot + 1) }) }
}

/** The Kustomization of a flag set (the object flux builds in `createKsCmdRun`). */
export const kustomizationFromArgs = (argv: ReadonlyArray<string>) => {
  const p = parseArgs(argv, spec)
  if (p.flags.has("help")) throw new HelpRequested(createKustomizationUsage)
  if (p.positional.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(p.positional[1])}`)
  const name = checkName(p.positional[0])
  const source = value(p, "source")
  if (source === undefined || source === "") throw new UsageError("source is required")
  const sourceRef = parseSource(source)
  const provider = value(p, "decryption-provider")
  if (provider !== undefined && provider !== "sops")
    throw new UsageError(
      `invalid argument "${provider}" for "--decryption-provider" flag: unsupported decryption provider '${provider}', must be one of: sops`,
    )
  const decryptionSecret = value(p, "decryption-secret")
  if (decryptionSecret !== undefined && provider === undefined)
    throw new UsageError("--decryption-secret needs --decryption-provider=sops (flux would drop it silently)")
  const wait = p.flags.has("wait")
  const timeout = durationFlag(p, "health-check-timeout", "2m0s")
  if (value(p, "health-check-timeout") !== undefined && !wait)
    throw new UsageError("--health-check-timeout needs --wait (flux would drop it silently)")
  const dependsOn = sliceFlag(p, "depends-on").map((d) => {
    const slash = d.indexOf("/")
    return slash < 0 ? { name: d } : { name: d.slice(slash + 1), namespace: d.slice(0, slash) }
  })
  const target = value(p, "target-namespace")
  const sa = value(p, "service-account")
  const retry = durationFlag(p, "retry-interval", undefined)
  const kubeconfigSecret = value(p, "kubeconfig-secret-ref")
  const labels = labelsFlag(p)
  const obj = {
    apiVersion: `${ksRef.group}/${ksRef.version}`,
    kind: ksRef.kind,
    metadata: { name, namespace: namespaceFlag(p), ...(labels ? { labels } : {}) },
    spec: {
      ...(dependsOn.length > 0 ? { dependsOn } : {}),
      interval: durationFlag(p, "interval", "1m0s")!,
      path: safeRelativePath(value(p, "path")),
      prune: p.flags.has("prune"),
      sourceRef,
      ...(target ? { targetNamespace: target } : {}),
      ...(wait ? { wait: true, timeout } : {}),
      ...(sa ? { serviceAccountName: sa } : {}),
      ...(provider !== undefined
        ? { decryption: { provider, ...(decryptionSecret ? { secretRef: { name: decryptionSecret } } : {}) } }
        : {}),
      ...(retry !== undefined && retry !== "0s" ? { retryInterval: retry } : {}),
      ...(kubeconfigSecret ? { kubeConfig: { secretRef: { name: kubeconfigSecret } } } : {}),
    },
  }
  return { parsed: p, obj }
}

export const createKustomizationCommand = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const { parsed, obj } = yield* parsing(() => kustomizationFromArgs(argv))
    yield* decodeKustomization(obj)
    yield* emit(parsed, ksRef, obj as unknown as KubeObject, { separator: true })
  })
