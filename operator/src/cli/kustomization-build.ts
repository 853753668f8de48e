/**
 * What `kustodian build kustomization` and `kustodian diff kustomization` share: their flags (Flux's names), the
 * Kustomization whose spec drives the build (`--kustomization-file`, else the live one, else defaults), the keys
 * (`--decryption-secret FILE|-`, else the local key sources `kustodian decrypt` uses), and the build itself — the
 * operator's {@link Builder} (kustomize in the sandbox, SOPS decryption, postBuild substitution, commonMetadata)
 * with the operator's bounds, on the files a GitRepository artifact of the checkout would hold.
 *
 * `postBuild.substituteFrom` is read from the cluster, as the operator reads it; under `--dry-run` (no cluster) a
 * reference that is not `optional` is refused naming it, and an optional one is reported as not read.
 *
 * @module
 */
import { readFileSync, statSync } from "node:fs"
import { homedir } from "node:os"
import * as path from "node:path"
import { Data, Effect, Layer, Option } from "effect"
import * as YAML from "yaml"
import { decodeKustomization } from "../../../model/decode.ts"
import type { Kustomization } from "../../../model/kustomization.ts"
import { KubeClient } from "../kube/client.ts"
import type { KubeConfigSource } from "../kube/connection.ts"
import type { KubeObject } from "../kube/object.ts"
import { defaultLimits } from "../limits.ts"
import { ArtifactTrees } from "../stages/build/artifact-trees.ts"
import { ConfigLookup, type SecretData } from "../stages/build/config-lookup.ts"
import { Kustomize } from "../stages/build/kustomize.ts"
import type { BuildSpec } from "../stages/build/spec.ts"
import { Decryptor } from "../stages/decrypt/decryptor.ts"
import type { ProviderType } from "../stages/decrypt/keys.ts"
import { KeyProviders } from "../stages/decrypt/providers.ts"
import { Builder } from "../stages/pipeline/builder.ts"
import { all, parseArgs, UsageError, value } from "./args.ts"
import { HelpRequested } from "./command.ts"
import { cliKeyring } from "./keys.ts"
import { localSourceUnpacker, sourceRoot } from "./local-source.ts"

/** The parsed flags of both commands. */
export interface KustomizationArgs {
  readonly name: string
  /** `-n`; the Kustomization file's namespace wins. Default `flux-system`, as flux. */
  readonly namespace: string
  /** `--path`, absolute. */
  readonly path: string
  readonly kustomizationFile?: string | undefined
  /** `--decryption-secret FILE|-`. */
  readonly decryptionSecret?: string | undefined
  readonly showSecrets: boolean
  /** `--dry-run`: no cluster at all. */
  readonly dryRun: boolean
  readonly source: KubeConfigSource
}

const flagLines = `  --path PATH                 the local directory of the Kustomization's spec.path (required)
  --kustomization-file FILE   a Kustomization manifest whose spec drives the build (decryption, postBuild,
                              patches, targetNamespace, …); default: the one in the cluster, else defaults
  --decryption-secret FILE|-  the decryption Secret's manifest (Flux's entry names: *.agekey, *.asc, …);
                              default: the local keys (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, ~/.config/sops/age/keys.txt,
                              gpg, AWS/GCP/Azure/Vault credentials as sops finds them)
  --show-secrets              print Secret values (default: masked)
  -n, --namespace NS          the Kustomization's namespace (default flux-system)
  --kubeconfig PATH           default: $KUBECONFIG, ~/.kube/config
  --context NAME              the kubeconfig context`

export const buildUsage = `usage: kustodian build kustomization|ks NAME --path PATH [flags]
  prints exactly what the operator would apply: kustomize in the sandbox, SOPS decryption, postBuild
  substitution, commonMetadata and owner labels; Secret values masked as flux masks them (**SOPS**)

${flagLines}
  --dry-run                   do not contact the cluster (substituteFrom that is not optional is refused)`

export const diffUsage = `usage: kustodian diff kustomization|ks NAME --path PATH [flags]
  builds as "kustodian build" does, then server-side dry-runs every object with the operator's field manager:
  ► Kind/namespace/name created|drifted|skipped, a unified diff of drifted objects, and ► … deleted for what
  prune would remove; Secret values masked (*** (before)/*** (after)) unless --show-secrets
  exit code: 0 no changes, 1 changes, 2 errors

${flagLines}`

/** Parses the flags of `build kustomization` / `diff kustomization`; throws UsageError or HelpRequested. */
export const parseKustomizationArgs = (
  command: "build" | "diff",
  argv: ReadonlyArray<string>,
  cwd: string,
  env: NodeJS.ProcessEnv,
): KustomizationArgs => {
  const usage = command === "build" ? buildUsage : diffUsage
  const p = parseArgs(argv, {
    values: ["path", "kustomization-file", "decryption-secret", "namespace", "kubeconfig", "context"],
    flags: ["show-secrets", "help", ...(command === "build" ? ["dry-run"] : [])],
    aliases: { n: "namespace", h: "help" },
  })
  if (p.flags.has("help")) throw new HelpRequested(usage)
  const [kind, name, ...extra] = p.positional
  if (kind === undefined)
    throw new UsageError(`${command} needs a kind: kustodian ${command} kustomization NAME`)
  if (kind !== "kustomization" && kind !== "ks")
    throw new UsageError(
      `${command} ${JSON.stringify(kind)}: only kustomization (ks) can be ${command === "build" ? "built" : "diffed"}`,
    )
  if (name === undefined) throw new UsageError("Kustomization name is required")
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`)
  for (const f of ["path", "kustomization-file", "decryption-secret", "namespace", "kubeconfig", "context"])
    if (all(p, f).length > 1) throw new UsageError(`--${f} given more than once`)
  const given = value(p, "path")
  if (given === undefined || given === "") throw new UsageError('invalid resource path ""')
  const abs = path.resolve(cwd, given)
  let isDir = false
  try {
    isDir = statSync(abs).isDirectory()
  } catch {
    isDir = false
  }
  if (!isDir) throw new UsageError(`invalid resource path ${JSON.stringify(given)}`)
  const file = value(p, "kustomization-file")
  if (file !== undefined) {
    let isFile = false
    try {
      isFile = statSync(path.resolve(cwd, file)).isFile()
    } catch {
      isFile = false
    }
    if (!isFile) throw new UsageError(`invalid kustomization file ${JSON.stringify(file)}`)
  }
  const dryRun = p.flags.has("dry-run")
  const context = value(p, "context")
  const kubeconfig =
    value(p, "kubeconfig") ??
    (context === undefined
      ? undefined
      : env.KUBECONFIG?.split(":")[0] || path.join(homedir(), ".kube", "config"))
  if (dryRun && (kubeconfig !== undefined || context !== undefined))
    throw new UsageError("--kubeconfig and --context contact the cluster; --dry-run does not")
  const secret = value(p, "decryption-secret")
  return {
    name,
    namespace: value(p, "namespace") ?? "flux-system",
    path: abs,
    ...(file === undefined ? {} : { kustomizationFile: path.resolve(cwd, file) }),
    ...(secret === undefined ? {} : { decryptionSecret: secret === "-" ? "-" : path.resolve(cwd, secret) }),
    showSecrets: p.flags.has("show-secrets"),
    dryRun,
    source: kubeconfig === undefined ? { _tag: "Default" } : { _tag: "File", path: kubeconfig, context },
  }
}

/** A failure of the command's input or the build, one line, never a value. */
export class KustomizationBuildError extends Data.TaggedError("KustomizationBuildError")<{
  readonly message: string
}> {}

const fail = (message: string) => new KustomizationBuildError({ message })

const readText = (file: string, what: string) =>
  Effect.try({
    try: () => readFileSync(file === "-" ? 0 : file, "utf8"),
    catch: (e) =>
      fail(
        `cannot read ${what} ${file === "-" ? "from stdin" : `'${file}'`}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      ),
  })

const documents = (text: string, file: string) =>
  Effect.try({
    try: () =>
      YAML.parseAllDocuments(text).map((d) => {
        if (d.errors.length > 0) throw new Error(d.errors[0]!.message.split("\n")[0])
        return d.toJS({ maxAliasCount: 100 }) as unknown
      }),
    catch: (e) => fail(`'${file}' is not YAML: ${(e as Error).message}`),
  })

type Json = Record<string, unknown>
const isRecord = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v)

/** The Kustomization NAME (in `namespace` or without one) of a manifest file, decoded with the API's schema. */
export const kustomizationFromFile = Effect.fn("kustomizationFromFile")(function* (
  file: string,
  name: string,
  namespace: string,
) {
  const docs = yield* documents(yield* readText(file, "the kustomization file"), file)
  const found = docs.find((d) => {
    if (!isRecord(d) || !isRecord(d.metadata)) return false
    return (
      typeof d.apiVersion === "string" &&
      d.apiVersion.startsWith("kustomize.toolkit.fluxcd.io/") &&
      d.kind === "Kustomization" &&
      d.metadata.name === name &&
      (d.metadata.namespace === undefined || d.metadata.namespace === namespace)
    )
  }) as Json | undefined
  if (found === undefined)
    return yield* fail(
      `failed find kustomization with name '${name}' and namespace '${namespace}' in file '${file}'`,
    )
  const metadata = { ...(found.metadata as Json), namespace }
  return yield* decodeKustomization({ ...found, metadata }).pipe(
    Effect.mapError((e) => fail(`${file}: ${e.message}`)),
  )
})

/** The decryption Secret of a manifest (`data` base64, `stringData` plain), as the Decryptor reads Secrets. */
export const secretFromFile = Effect.fn("secretFromFile")(function* (file: string) {
  const docs = (yield* documents(yield* readText(file, "the decryption Secret"), file)).filter(
    (d) => d !== null && d !== undefined,
  )
  const label = file === "-" ? "stdin" : `'${file}'`
  if (docs.length !== 1)
    return yield* fail(`--decryption-secret ${label}: expected one Secret, found ${docs.length} documents`)
  const s = docs[0]
  if (!isRecord(s) || s.kind !== "Secret" || s.apiVersion !== "v1")
    return yield* fail(`--decryption-secret ${label}: not a v1 Secret`)
  const data: Record<string, string> = {}
  for (const [field, encode] of [
    ["data", false],
    ["stringData", true],
  ] as const) {
    const m = s[field]
    if (m === undefined || m === null) continue
    if (!isRecord(m)) return yield* fail(`--decryption-secret ${label}: ${field} is not a mapping`)
    for (const [k, v] of Object.entries(m)) {
      if (typeof v !== "string")
        return yield* fail(`--decryption-secret ${label}: ${field}.${k} is not a string`)
      data[k] = encode ? Buffer.from(v).toString("base64") : v
    }
  }
  const metadata = isRecord(s.metadata) ? s.metadata : {}
  return {
    name: typeof metadata.name === "string" ? metadata.name : "",
    namespace: typeof metadata.namespace === "string" ? metadata.namespace : "",
    data,
  }
})

/** A Kustomization with nothing set: what is built without a manifest (decryption with the given keys on). */
const defaultSpec = (relPath: string): BuildSpec => ({ path: relPath, decryption: { provider: "sops" } })

const kustomizationResourceRef = {
  group: "kustomize.toolkit.fluxcd.io",
  version: "v1",
  plural: "kustomizations",
  namespaced: true,
  kind: "Kustomization",
} as const

/**
 * The client of `--dry-run`, which contacts no cluster: the key providers take one only for workload identity
 * (`spec.decryption.serviceAccountName`, refused by the CLI), so a call is a defect, never a request.
 */
const noCluster = new Proxy({} as KubeClient["Service"], {
  get: (_target, prop) =>
    prop === "server"
      ? "(none: --dry-run)"
      : () => Effect.die(new Error("kustodian build --dry-run makes no API call")),
})

/** What both commands work from. */
export interface Built {
  readonly objects: ReadonlyArray<KubeObject>
  /** The Kustomization whose spec was built (from the file, the cluster, or undefined: defaults). */
  readonly kustomization: Kustomization | undefined
  /** The live Kustomization, when the cluster has one (its status holds the inventory). */
  readonly live: KubeObject | undefined
  readonly namespace: string
  /** Decrypted and substituteFrom values: never printed. */
  readonly sensitive: ReadonlyArray<string>
  /** The decrypted values alone. */
  readonly decrypted: ReadonlyArray<string>
}

/** Spec fields the CLI cannot build as the operator would: refused, naming them. */
const refused = (k: Kustomization | undefined): string | undefined => {
  if (k?.spec.decryption?.serviceAccountName !== undefined)
    return "spec.decryption.serviceAccountName: the CLI cannot authenticate as the Kustomization's ServiceAccount; pass --decryption-secret or use local credentials, and leave the field out of --kustomization-file"
  return undefined
}

/**
 * Builds NAME as the operator would. `cluster` is the API client when the command may use the cluster (not
 * under `--dry-run`).
 */
export const buildKustomization = Effect.fn("buildKustomization")(function* (
  args: KustomizationArgs,
  env: NodeJS.ProcessEnv,
  cwd: string,
  cluster: KubeClient["Service"] | undefined,
  note: (line: string) => void,
) {
  let kustomization: Kustomization | undefined
  let namespace = args.namespace
  let live: KubeObject | undefined
  if (args.kustomizationFile !== undefined) {
    kustomization = yield* kustomizationFromFile(args.kustomizationFile, args.name, args.namespace)
    namespace = kustomization.metadata.namespace ?? namespace
  }
  if (cluster !== undefined) {
    const found = yield* cluster
      .getOption<KubeObject>(kustomizationResourceRef, args.name, namespace)
      .pipe(
        Effect.mapError((e) =>
          fail(`failed to get kustomization object '${namespace}/${args.name}': ${e.message}`),
        ),
      )
    live = Option.getOrUndefined(found)
    if (kustomization === undefined && live !== undefined) {
      kustomization = yield* decodeKustomization(live).pipe(
        Effect.mapError((e) => fail(`the cluster's Kustomization: ${e.message}`)),
      )
      note(`building with the spec of Kustomization ${namespace}/${args.name} from the cluster`)
    }
  }
  const why = refused(kustomization)
  if (why !== undefined) return yield* fail(why)

  const root = sourceRoot(args.path, cwd)
  const relPath = `./${path.relative(root, args.path).split(path.sep).join("/")}`
  const spec: BuildSpec =
    kustomization === undefined ? defaultSpec(relPath) : { ...kustomization.spec, path: relPath }

  // Keys: the Secret's manifest stands for the cluster's decryption Secret; else the local key sources.
  const secretFile = args.decryptionSecret
  if (secretFile !== undefined && spec.decryption === undefined)
    return yield* fail(
      `--decryption-secret: the Kustomization in '${args.kustomizationFile}' has no spec.decryption, so the operator would not decrypt; add spec.decryption or leave out --decryption-secret`,
    )
  const secret = secretFile === undefined ? undefined : yield* secretFromFile(secretFile)
  const secretRefName = spec.decryption?.secretRef?.name ?? secret?.name ?? "decryption-secret"
  const decryption =
    spec.decryption === undefined
      ? undefined
      : secret !== undefined
        ? { ...spec.decryption, secretRef: { name: secretRefName } }
        : spec.decryption
  const buildSpec: BuildSpec = { ...spec, ...(decryption === undefined ? {} : { decryption }) }

  // substituteFrom: from the cluster; offline, refused unless optional.
  for (const [i, ref] of (spec.postBuild?.substituteFrom ?? []).entries()) {
    if (cluster !== undefined) continue
    const field = `spec.postBuild.substituteFrom[${i}] (${ref.kind}/${namespace}/${ref.name})`
    if (ref.optional !== true)
      return yield* fail(
        `${field} is read from the cluster, which --dry-run does not contact; run without --dry-run, or mark it optional`,
      )
    note(`${field} is optional and not read under --dry-run: its variables are unset`)
  }
  if (cluster !== undefined && (spec.postBuild?.substituteFrom?.length ?? 0) > 0)
    note(`postBuild.substituteFrom read from the cluster (${cluster.server})`)

  const decryptionSecret: SecretData | undefined =
    secret === undefined
      ? undefined
      : { namespace, name: secretRefName, uid: "", resourceVersion: "cli", data: secret.data }
  const serve = (fromCluster: ConfigLookup["Service"] | undefined) =>
    ConfigLookup.of({
      secret: (ns, n) =>
        decryptionSecret !== undefined && ns === namespace && n === decryptionSecret.name
          ? Effect.succeed(Option.some(decryptionSecret))
          : fromCluster === undefined
            ? Effect.succeed(Option.none())
            : fromCluster.secret(ns, n),
      configMap: (ns, n) =>
        fromCluster === undefined ? Effect.succeed(Option.none()) : fromCluster.configMap(ns, n),
    })
  const lookup =
    cluster === undefined
      ? Layer.succeed(ConfigLookup, serve(undefined))
      : Layer.effect(
          ConfigLookup,
          Effect.gen(function* () {
            return serve(yield* ConfigLookup)
          }),
        ).pipe(Layer.provide(ConfigLookup.layerKube), Layer.provide(Layer.succeed(KubeClient, cluster)))
  // The operator's key providers: the Secret's `sops.aws-kms`, `sops.gcp-kms`, `sops.azure-kv`,
  // `sops.vault-token` entries, else the invocation's own credentials (as the controller's environment).
  const providers = KeyProviders.layer({ objectLevelWorkloadIdentity: false, env }).pipe(
    Layer.provide(Layer.succeed(KubeClient, cluster ?? noCluster)),
  )
  const baseDecryptor = Decryptor.layer({ macPolicy: "warn", limits: defaultLimits }).pipe(
    Layer.provide(Layer.merge(lookup, providers)),
  )
  // Without --decryption-secret: the keyring of `kustodian decrypt`, whatever secretRef the spec names.
  const decryptor =
    secret !== undefined
      ? baseDecryptor
      : Layer.effect(
          Decryptor,
          Effect.gen(function* () {
            const d = yield* Decryptor
            const keyring = cliKeyring(env)
            return Decryptor.of({
              ...d,
              keys: () =>
                Effect.succeed({
                  keyring,
                  ignored: [],
                  providers: (keyring.providers ?? []).map((p) => p.type as ProviderType),
                  decrypted: { values: 0 },
                }),
            })
          }),
        ).pipe(Layer.provide(baseDecryptor))
  const kustomize = Kustomize.layer({
    sandbox: "auto",
    remoteBases: true,
    maxOutputSize: defaultLimits.maxBuildOutputSize,
    maxObjects: defaultLimits.maxBuildObjects,
  })
  const builder = Builder.layer({
    strictSubstitution: true,
    maxObjects: defaultLimits.maxBuildObjects,
    maxSubstitutedSize: defaultLimits.maxSubstitutedSize,
  }).pipe(
    Layer.provide(
      Layer.mergeAll(
        decryptor,
        kustomize,
        lookup,
        ArtifactTrees.layer().pipe(Layer.provide(localSourceUnpacker)),
      ),
    ),
  )
  const result = yield* Effect.gen(function* () {
    const b = yield* Builder
    return yield* b.build({
      namespace,
      name: args.name,
      spec: buildSpec,
      artifact: { url: root, digest: "", revision: "local" },
    })
  }).pipe(
    Effect.provide(builder),
    Effect.mapError((e: unknown) =>
      fail(String((e as { message?: unknown }).message ?? e).split("\n")[0] ?? ""),
    ),
  )
  for (const w of result.warnings) note(w.message)
  return {
    objects: result.objects,
    kustomization,
    live,
    namespace,
    sensitive: result.sensitive,
    decrypted: result.decrypted,
  } satisfies Built
})
