/**
 * `kustodian controller`: runs the operator. Flags follow Flux's controllers where Flux has one, so the
 * synthesized Deployment reads like theirs.
 */
import { parseArgs } from "node:util"
import { Cause, Effect, Exit } from "effect"
import type { KubeConfigSource } from "../kube/connection.ts"
import { defaultLimits, formatLimit, type Limits, limitFlags, parseLimit } from "../limits.ts"
import { type FluxLogLevel, fluxLoggerLayer, type LogEncoding, logEntry } from "../metrics/flux-logger.ts"
import { type OperatorOptions, runOperator } from "../operator.ts"
import { invalidCidrs } from "../stages/build/ip-ranges.ts"
import { portOf } from "../stages/build/sandbox.ts"
import { defaultAdvertisedAddress, defaultStorageAddr, parseListenAddress } from "../stages/fetch/layer.ts"
import { sweepStaleTempRoots } from "../temp-root.ts"
import { UsageError } from "./args.ts"
import { reportUsage } from "./command.ts"
import { parseGrace, runUntilSignal } from "./shutdown.ts"

/**
 * Without --graceful-shutdown-timeout: exit by 8 s, inside the 10 s grace period Kubernetes gives a pod by
 * default (the install passes 55s inside its own 60 s).
 */
const defaultGraceMs = 8_000
/** Of the grace period, what is left for the lease release and the last status writes after reconciles. */
const releaseMarginMs = 3_000

export const controllerUsage = `kustodian controller [flags]
  --kubeconfig PATH                 kubeconfig to use (default: in-cluster, else $KUBECONFIG / ~/.kube/config)
  --metrics-addr :8080              /metrics, and /healthz and /readyz unless --health-addr names another address
  --health-addr ADDR                /healthz and /readyz (default: the --metrics-addr port)
  --storage-addr 127.0.0.1:9090     artifact server; loopback by default, since the only consumer is this
                                    process (set :9090 to serve other consumers)
  --storage-path DIR                artifact storage (default /data)
  --storage-adv-addr HOST[:PORT]    address written into artifact URLs (default: the --storage-addr host, or
                                    localhost when it binds all interfaces, and its port)
  --artifact-retention N            artifacts kept per GitRepository (default 2)
  --watch-all-namespaces[=BOOL]     default true; false watches $RUNTIME_NAMESPACE only
  --concurrent N                    reconciles at once per kind (default 4)
  --requeue-dependency D            how soon a Kustomization waiting on a dependency looks again (default 30s)
  --events-addr URL                 also POST every Event to Flux's notification-controller at URL
                                    (e.g. http://notification-controller.flux-system.svc.cluster.local./)
  --enable-leader-election          only one replica reconciles (Lease in $RUNTIME_NAMESPACE)
  --leader-election-id NAME         the Lease's name (default kustodian-leader, one per --watch-label-selector)
  --leader-pod-label                while leading, label this Pod ($POD_NAME in $RUNTIME_NAMESPACE)
                                    kustodian.io/leader=true, so the artifact Service selects the leader only
  --watch-label-selector SELECTOR   reconcile only GitRepositories/Kustomizations matching it (sharding)
  --sops-mac-policy strict|warn|ignore   MAC check of encrypted files before the build (default warn)
  --sops-age-secret NAME            Secret in $RUNTIME_NAMESPACE whose *.agekey entries decrypt for
                                    Kustomizations with spec.decryption but no secretRef (as Flux's flag)
  --default-service-account NAME    impersonated when a Kustomization names no serviceAccountName
  --feature-gates G=BOOL[,…]        Flux's gates, with Flux's defaults: ObjectLevelWorkloadIdentity (false:
                                    spec.decryption.serviceAccountName authenticates to AWS KMS through a
                                    TokenRequest and STS web identity), CancelHealthCheckOnNewRevision (false:
                                    a new source revision cancels a waiting health check),
                                    AdditiveCELDependencyCheck (false: dependsOn readyExpr also needs Ready),
                                    StrictPostBuildSubstitutions (true: an unset variable without a default fails)
  --default-decryption-service-account NAME   the decryption ServiceAccount when a Kustomization names none
                                    (needs ObjectLevelWorkloadIdentity, as in Flux)
  --token-cache-max-size N          workload-identity credentials cached (default 100; 0 turns the cache off)
  --token-cache-max-duration D      longest a credential is cached (default 1h, at most 1h)
  --no-cross-namespace-refs         refuse sources and dependencies in other namespaces
  --no-remote-bases                 refuse kustomize bases outside the source (e.g. remote Git URLs)
  --insecure-kubeconfig-exec        allow exec credential plugins in spec.kubeConfig kubeconfigs (runs them here)
  --insecure-kubeconfig-tls         allow insecure-skip-tls-verify in spec.kubeConfig kubeconfigs
  --service-cidr CIDR[,CIDR]        the cluster's service network: refused as a remote-base host (repeatable)
  --trusted-remote-prefix URL/      remote-base URLs under it skip the address checks, e.g. an in-cluster
                                    git mirror over http (repeatable; admin-set, never from a repository)
  --kustomize-sandbox MODE          auto|required|off: run kustomize under Linux Landlock (default auto)
  --graceful-shutdown-timeout D     SIGTERM to exit, forced when exceeded (default 8s; in-flight reconciles get D-3s)
  --log-level LEVEL                 trace|debug|info|error (default info)
  --log-encoding ENC                json|console (default json): Flux's log lines either way
  --otlp-endpoint URL               OpenTelemetry traces over OTLP/HTTP (default $OTEL_EXPORTER_OTLP_ENDPOINT)
${limitFlags.map((f) => `  --${`${f.flag} N`.padEnd(32)}${f.help} (default ${formatLimit(f.key, defaultLimits[f.key])})`).join("\n")}

Boolean flags take Flux's forms: --flag, --flag=true, --flag=false. Flags of Flux's controllers that Kustodian
does not implement (e.g. --kube-api-qps, --feature-gates, --concurrent-ssa) are refused, naming the flag.`

const listenAddress = (flag: string, value: string) => {
  try {
    return parseListenAddress(value)
  } catch {
    throw new UsageError(`--${flag}: expected [host]:port, got ${value}`)
  }
}

/**
 * Boolean flags that also take `=true`/`=false`, as Flux's manifests write them (`--no-cross-namespace-refs=true`);
 * `parseArgs` refuses a value for a boolean option, so such arguments are rewritten first (the last one wins).
 */
const booleanFlags: ReadonlySet<string> = new Set([
  "enable-leader-election",
  "leader-pod-label",
  "no-cross-namespace-refs",
  "no-remote-bases",
  "insecure-kubeconfig-exec",
  "insecure-kubeconfig-tls",
])

/** Booleans whose default is true: parsed as strings, so the bare flag reads as `=true`. */
const trueByDefault: ReadonlySet<string> = new Set(["watch-all-namespaces"])

/**
 * Flags of Flux's kustomize-controller and source-controller that Kustodian does not implement: refused by name
 * (rather than as an unknown option), so a Deployment copied from Flux fails with a line saying which flag to drop.
 */
const fluxOnlyFlags: ReadonlySet<string> = new Set([
  "kube-api-qps",
  "kube-api-burst",
  "leader-election-lease-duration",
  "leader-election-renew-deadline",
  "leader-election-retry-period",
  "leader-election-release-on-cancel",
  "min-retry-delay",
  "max-retry-delay",
  "interval-jitter-percentage",
  "concurrent-ssa",
  "http-retry",
  "sops-vault-configmap",
  "override-manager",
  "custom-apply-stage-kinds",
  "default-kubeconfig-service-account",
  "artifact-retention-ttl",
  "artifact-retention-records",
  "artifact-digest-algo",
  "helm-cache-max-size",
  "helm-cache-ttl",
  "helm-cache-purge-interval",
  "helm-index-max-size",
  "helm-chart-max-size",
  "helm-chart-file-max-size",
  "ssh-kex-algos",
  "ssh-hostkey-algos",
])

const normalizeBooleanFlags = (argv: ReadonlyArray<string>): Array<string> => {
  const out: Array<string> = []
  for (const arg of argv) {
    const flag = /^--([a-z-]+)/su.exec(arg)?.[1]
    if (flag !== undefined && fluxOnlyFlags.has(flag))
      throw new UsageError(`--${flag}: a flag of Flux's controllers that Kustodian does not implement`)
    if (flag !== undefined && trueByDefault.has(flag) && arg === `--${flag}`) {
      out.push(`--${flag}=true`)
      continue
    }
    const m = /^--([a-z-]+)=(.*)$/su.exec(arg)
    const name = m?.[1]
    if (m === null || name === undefined || !booleanFlags.has(name)) {
      out.push(arg)
      continue
    }
    const value = m[2]
    if (value !== "true" && value !== "false")
      throw new UsageError(`--${name}: expected true or false, got ${value}`)
    const bare = `--${name}`
    for (let i = out.indexOf(bare); i !== -1; i = out.indexOf(bare)) out.splice(i, 1)
    if (value === "true") out.push(bare)
  }
  return out
}

const bool = (flag: string, value: string | boolean | undefined, fallback: boolean): boolean => {
  if (value === undefined) return fallback
  if (typeof value === "boolean") return value
  if (value === "true" || value === "") return true
  if (value === "false") return false
  throw new UsageError(`--${flag}: expected true or false, got ${value}`)
}

const hourMs = 3_600_000

/** Go's duration syntax with hours too (`1h`, `1h30m`, `45m`, `90s`). */
const parseHours = (text: string): number | undefined => {
  const m = /^(?:(\d+)h)?(.*)$/.exec(text)
  if (m === null) return undefined
  const hours = m[1] === undefined ? 0 : Number(m[1]) * hourMs
  if (m[2] === "") return hours > 0 ? hours : undefined
  const rest = parseGrace(m[2]!)
  return rest === undefined ? undefined : hours + rest
}

/** The feature gates this controller implements; any other is refused by name (none is silently ignored). */
const knownGates = [
  "ObjectLevelWorkloadIdentity",
  "CancelHealthCheckOnNewRevision",
  "AdditiveCELDependencyCheck",
  "StrictPostBuildSubstitutions",
] as const

/** `--feature-gates=A=true,B=false` (repeatable), as Flux's controllers take it. */
const featureGates = (
  texts: ReadonlyArray<string>,
): Partial<Record<(typeof knownGates)[number], boolean>> => {
  const out: Record<string, boolean> = {}
  for (const part of texts
    .flatMap((t) => t.split(","))
    .map((p) => p.trim())
    .filter((p) => p !== "")) {
    const [name = "", value = "true"] = part.split("=", 2)
    if (!(knownGates as ReadonlyArray<string>).includes(name))
      throw new UsageError(`--feature-gates: unknown feature gate ${name} (known: ${knownGates.join(", ")})`)
    out[name] = bool(`feature-gates ${name}`, value, true)
  }
  return out
}

/** Parses the flags of `kustodian controller` into operator options. */
export const parseControllerFlags = (
  argv: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv,
): OperatorOptions => {
  const { values } = parseArgs({
    args: normalizeBooleanFlags(argv),
    strict: true,
    options: {
      kubeconfig: { type: "string" },
      "metrics-addr": { type: "string" },
      "health-addr": { type: "string" },
      "storage-addr": { type: "string" },
      "storage-path": { type: "string" },
      "storage-adv-addr": { type: "string" },
      "artifact-retention": { type: "string" },
      "watch-all-namespaces": { type: "string" },
      concurrent: { type: "string" },
      "requeue-dependency": { type: "string" },
      "events-addr": { type: "string" },
      "log-encoding": { type: "string" },
      "enable-leader-election": { type: "boolean" },
      "leader-election-id": { type: "string" },
      "leader-pod-label": { type: "boolean" },
      "watch-label-selector": { type: "string" },
      "sops-mac-policy": { type: "string" },
      "sops-age-secret": { type: "string" },
      "default-service-account": { type: "string" },
      "feature-gates": { type: "string", multiple: true },
      "default-decryption-service-account": { type: "string" },
      "token-cache-max-size": { type: "string" },
      "token-cache-max-duration": { type: "string" },
      "no-cross-namespace-refs": { type: "boolean" },
      "no-remote-bases": { type: "boolean" },
      "insecure-kubeconfig-exec": { type: "boolean" },
      "insecure-kubeconfig-tls": { type: "boolean" },
      "kustomize-sandbox": { type: "string" },
      "service-cidr": { type: "string", multiple: true },
      "trusted-remote-prefix": { type: "string", multiple: true },
      "log-level": { type: "string" },
      "graceful-shutdown-timeout": { type: "string" },
      "otlp-endpoint": { type: "string" },
      ...Object.fromEntries(limitFlags.map((f) => [f.flag, { type: "string" as const }])),
    },
  })
  const runtimeNamespace = env.RUNTIME_NAMESPACE
  const kubeconfig: KubeConfigSource =
    values.kubeconfig !== undefined
      ? { _tag: "File", path: values.kubeconfig }
      : env.KUBERNETES_SERVICE_HOST !== undefined
        ? { _tag: "InCluster" }
        : { _tag: "Default" }
  const macPolicy = values["sops-mac-policy"] ?? "warn"
  if (macPolicy !== "strict" && macPolicy !== "warn" && macPolicy !== "ignore")
    throw new UsageError(`--sops-mac-policy: expected strict, warn or ignore, got ${macPolicy}`)
  const sopsAgeSecret = values["sops-age-secret"] || undefined
  // Flux ignores the flag without RUNTIME_NAMESPACE; a flag that silently does nothing is refused here.
  if (sopsAgeSecret !== undefined && runtimeNamespace === undefined)
    throw new UsageError("RUNTIME_NAMESPACE must be set with --sops-age-secret (the Secret's namespace)")
  const serviceCidrs = (values["service-cidr"] ?? []).flatMap((v) => v.split(",")).filter((v) => v !== "")
  const badCidrs = invalidCidrs(serviceCidrs)
  if (badCidrs.length > 0) throw new UsageError(`--service-cidr: not a CIDR: ${badCidrs.join(", ")}`)
  const trustedRemotePrefixes = values["trusted-remote-prefix"] ?? []
  for (const p of trustedRemotePrefixes)
    if (!p.endsWith("/") || portOf(p) === undefined)
      throw new UsageError(`--trusted-remote-prefix: expected an http(s) or ssh URL ending in '/', got ${p}`)
  const kustomizeSandbox = values["kustomize-sandbox"] ?? "auto"
  if (kustomizeSandbox !== "auto" && kustomizeSandbox !== "required" && kustomizeSandbox !== "off")
    throw new UsageError(`--kustomize-sandbox: expected auto, required or off, got ${kustomizeSandbox}`)
  const storageAddr = values["storage-addr"] ?? defaultStorageAddr
  const storageListen = listenAddress("storage-addr", storageAddr)
  const workers = Number(values.concurrent ?? "4")
  const retention = Number(values["artifact-retention"] ?? "2")
  if (!Number.isInteger(workers) || workers < 1)
    throw new UsageError("--concurrent: expected a positive integer")
  if (!Number.isInteger(retention) || retention < 1)
    throw new UsageError("--artifact-retention: expected a positive integer")
  const allNamespaces = bool("watch-all-namespaces", values["watch-all-namespaces"], true)
  if ((!allNamespaces || values["enable-leader-election"]) && runtimeNamespace === undefined)
    throw new UsageError(
      "RUNTIME_NAMESPACE must be set with --watch-all-namespaces=false or --enable-leader-election",
    )
  if (values["leader-pod-label"] && (runtimeNamespace === undefined || !env.POD_NAME))
    throw new UsageError(
      "POD_NAME and RUNTIME_NAMESPACE must be set with --leader-pod-label (the Pod to label)",
    )
  const logLevel = values["log-level"] ?? "info"
  if (logLevel !== "trace" && logLevel !== "debug" && logLevel !== "info" && logLevel !== "error")
    throw new UsageError(`--log-level: expected trace, debug, info or error, got ${logLevel}`)
  const logEncoding = values["log-encoding"] ?? "json"
  if (logEncoding !== "json" && logEncoding !== "console")
    throw new UsageError(`--log-encoding: expected json or console, got ${logEncoding}`)
  const eventsAddr = values["events-addr"] || undefined
  if (eventsAddr !== undefined && !/^https?:\/\/[^/\s]+/u.test(eventsAddr))
    throw new UsageError(`--events-addr: expected an http(s) URL, got ${eventsAddr}`)
  const requeueText = values["requeue-dependency"]
  const requeueDependencyMs = requeueText === undefined ? undefined : parseGrace(requeueText)
  if (requeueText !== undefined && requeueDependencyMs === undefined)
    throw new UsageError(`--requeue-dependency: expected a duration such as 30s, got ${requeueText}`)
  const metricsAddr = values["metrics-addr"] ?? ":8080"
  const healthAddr = values["health-addr"]
  const graceText = values["graceful-shutdown-timeout"]
  const graceMs = graceText === undefined ? defaultGraceMs : parseGrace(graceText)
  if (graceMs === undefined)
    throw new UsageError(`--graceful-shutdown-timeout: expected a duration such as 8s, got ${graceText}`)
  const gates = featureGates(values["feature-gates"] ?? [])
  const objectLevelWorkloadIdentity = gates.ObjectLevelWorkloadIdentity === true
  const defaultDecryptionServiceAccount = values["default-decryption-service-account"] || undefined
  // Flux refuses to start with a default ServiceAccount for workload identity but the gate off.
  if (defaultDecryptionServiceAccount !== undefined && !objectLevelWorkloadIdentity)
    throw new UsageError(
      "--default-decryption-service-account needs --feature-gates=ObjectLevelWorkloadIdentity=true",
    )
  const tokenCacheSize = Number(values["token-cache-max-size"] ?? "100")
  if (!Number.isInteger(tokenCacheSize) || tokenCacheSize < 0)
    throw new UsageError("--token-cache-max-size: expected a non-negative integer")
  const durationText = values["token-cache-max-duration"]
  const tokenCacheMaxMs = durationText === undefined ? hourMs : parseHours(durationText)
  if (tokenCacheMaxMs === undefined)
    throw new UsageError(
      `--token-cache-max-duration: expected a duration such as 30m or 1h, got ${durationText}`,
    )
  const limits: { -readonly [K in keyof Limits]: Limits[K] } = { ...defaultLimits }
  for (const f of limitFlags) {
    const text = (values as Record<string, string | boolean | undefined>)[f.flag]
    if (typeof text !== "string") continue
    const n = parseLimit(f.unit, text)
    if (n === undefined)
      throw new UsageError(
        `--${f.flag}: expected a positive ${f.unit === "bytes" ? "size (e.g. 5Mi)" : "integer"}, got ${text}`,
      )
    limits[f.key] = n
  }
  return {
    kubeconfig,
    limits,
    // One port for everything unless --health-addr names another one (Flux's default layout: :8080 and :9440).
    probes: listenAddress(
      healthAddr === undefined ? "metrics-addr" : "health-addr",
      healthAddr ?? metricsAddr,
    ),
    metrics:
      healthAddr === undefined || healthAddr === metricsAddr
        ? undefined
        : listenAddress("metrics-addr", metricsAddr),
    logs: { level: logLevel as FluxLogLevel, encoding: logEncoding as LogEncoding },
    eventsAddr,
    requeueDependencyMs,
    source: {
      storagePath: values["storage-path"] ?? "/data",
      storageAddr,
      storageAdvAddr: values["storage-adv-addr"] ?? defaultAdvertisedAddress(storageListen),
      retention,
    },
    namespace: allNamespaces ? undefined : runtimeNamespace,
    workers,
    leaderElectionNamespace: values["enable-leader-election"] ? runtimeNamespace : undefined,
    leaderElectionId: values["leader-election-id"],
    leaderPod: values["leader-pod-label"]
      ? { namespace: runtimeNamespace as string, name: env.POD_NAME as string }
      : undefined,
    watchLabelSelector: values["watch-label-selector"] || undefined,
    macPolicy,
    ...(sopsAgeSecret === undefined
      ? {}
      : { globalAgeSecret: { namespace: runtimeNamespace as string, name: sopsAgeSecret } }),
    defaultServiceAccount: values["default-service-account"],
    objectLevelWorkloadIdentity,
    cancelHealthCheckOnNewRevision: gates.CancelHealthCheckOnNewRevision === true,
    additiveCelDependencyCheck: gates.AdditiveCELDependencyCheck === true,
    strictPostBuildSubstitutions: gates.StrictPostBuildSubstitutions !== false,
    // Flux caps the duration at an hour whatever the flag says
    tokenCache: { maxSize: tokenCacheSize, maxDurationMs: Math.min(tokenCacheMaxMs, hourMs) },
    ...(defaultDecryptionServiceAccount === undefined ? {} : { defaultDecryptionServiceAccount }),
    noCrossNamespaceRefs: values["no-cross-namespace-refs"] === true,
    noRemoteBases: values["no-remote-bases"] === true,
    kubeConfigPolicy: {
      allowExec: values["insecure-kubeconfig-exec"] === true,
      allowInsecureTls: values["insecure-kubeconfig-tls"] === true,
    },
    kustomizeSandbox,
    serviceCidrs,
    trustedRemotePrefixes,
    otlpEndpoint: values["otlp-endpoint"] ?? env.OTEL_EXPORTER_OTLP_ENDPOINT,
    instance: env.POD_NAME,
    shutdownGraceMs: graceMs,
  }
}

/**
 * Runs the operator until SIGTERM or SIGINT, then shuts down gracefully (in-flight reconciles finish within
 * the grace period, the leader lease is released), and exits by force if that takes longer than
 * `--graceful-shutdown-timeout` (`shutdown.ts`). First of all it sweeps the temp trees a killed predecessor
 * left (`temp-root.ts`: decrypted build trees, git credentials, checkouts). Resolves with the exit code.
 */
export const controllerCommand = async (
  argv: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv,
): Promise<number> => {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${controllerUsage}\n`)
    return 0
  }
  let options: OperatorOptions
  try {
    options = parseControllerFlags(argv, env)
  } catch (e) {
    // A usage mistake is one line on stderr and exit code 2, as for Flux's controllers; not a stack trace.
    const message = e instanceof UsageError ? e.message : String((e as Error).message)
    return reportUsage("controller", message)
  }
  const graceMs = options.shutdownGraceMs ?? defaultGraceMs
  const main = Effect.gen(function* () {
    const swept = yield* sweepStaleTempRoots()
    if (swept.length > 0)
      yield* Effect.logInfo("removed temporary trees of a previous process").pipe(
        Effect.annotateLogs({ directories: swept.join(",") }),
      )
    return yield* runOperator({ ...options, shutdownGraceMs: Math.max(0, graceMs - releaseMarginMs) })
  })
  const logs = fluxLoggerLayer(options.logs)
  // What the shutdown watchdog says goes out as a Flux log line too, so log tooling does not skip it.
  const log = (line: string) =>
    process.stderr.write(
      `${JSON.stringify(logEntry({ level: "Error", date: new Date(), message: line, annotations: {} }))}\n`,
    )
  const exit = await runUntilSignal(main.pipe(Effect.provide(logs)), { graceMs, log })
  if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return 0
  process.stderr.write(`kustodian: controller failed: ${Cause.pretty(exit.cause).split("\n")[0]}\n`)
  return 1
}
