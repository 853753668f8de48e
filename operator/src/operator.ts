/**
 * The operator program: both controllers under one manager, with every service they need composed here — the
 * one edge where Layers meet. `kustodian controller` runs it in a cluster; the demo and the e2e tests run it
 * as a local process against the test control plane.
 */
import { createHash } from "node:crypto"
import { hostname } from "node:os"
import { Effect, Layer } from "effect"
import { makeGitRepositoryController } from "./controllers/gitrepository.ts"
import { makeKustomizationController } from "./controllers/kustomization.ts"
import { KubeClient } from "./kube/client.ts"
import type { KubeConfigSource } from "./kube/connection.ts"
import { RESTMapper } from "./kube/restmapper.ts"
import type { KubeConfigPolicy } from "./kube/untrusted-kubeconfig.ts"
import type { Limits } from "./limits.ts"
import type { LogOptions } from "./metrics/flux-logger.ts"
import { telemetryLayer } from "./metrics/telemetry.ts"
import { EventForwarder } from "./runtime/event-forwarder.ts"
import { runManager } from "./runtime/manager.ts"
import { Applier } from "./stages/apply/staged-apply.ts"
import { ArtifactUnpacker } from "./stages/build/artifact.ts"
import { ArtifactTrees } from "./stages/build/artifact-trees.ts"
import { ConfigLookup } from "./stages/build/config-lookup.ts"
import { Kustomize } from "./stages/build/kustomize.ts"
import { portOf, type SandboxMode } from "./stages/build/sandbox.ts"
import { KubeAccess } from "./stages/cluster/impersonation.ts"
import { Decryptor } from "./stages/decrypt/decryptor.ts"
import { KeyProviders } from "./stages/decrypt/providers.ts"
import { type SourceConfig, sourceLayer } from "./stages/fetch/layer.ts"
import { HealthChecker } from "./stages/health/health-check.ts"
import { Builder } from "./stages/pipeline/builder.ts"
import { Pruner } from "./stages/prune/prune.ts"

/** The flags of `kustodian controller` (Flux's names where Flux has the flag). */
export interface OperatorOptions {
  readonly kubeconfig: KubeConfigSource
  /** `--health-addr`: where /healthz and /readyz are served (and /metrics, unless `metrics` is set). */
  readonly probes: { readonly host?: string | undefined; readonly port: number }
  /** `--metrics-addr` when it differs from `--health-addr`: /metrics on a port of its own, as in Flux. */
  readonly metrics?: { readonly host?: string | undefined; readonly port: number } | undefined
  /** `--log-level`, `--log-encoding`. */
  readonly logs?: LogOptions | undefined
  /** `--events-addr`: where Events are also POSTed (Flux's notification-controller). */
  readonly eventsAddr?: string | undefined
  /** `--requeue-dependency`: how soon a Kustomization waiting on a dependency looks again. */
  readonly requeueDependencyMs?: number | undefined
  /** `--storage-path`, `--storage-addr`, `--storage-adv-addr`, `--artifact-retention`. */
  readonly source: SourceConfig
  /** `--watch-all-namespaces=false` limits the controllers to this namespace. */
  readonly namespace?: string | undefined
  /** `--concurrent`. */
  readonly workers: number
  /** `--enable-leader-election`: the Lease lives in this namespace. */
  readonly leaderElectionNamespace?: string | undefined
  /** `--leader-election-id`: the Lease's name (default: one per shard, see {@link leaseName}). */
  readonly leaderElectionId?: string | undefined
  /** `--leader-pod-label`: this Pod, labelled `kustodian.io/leader=true` while it leads (`runtime/leader-pod.ts`). */
  readonly leaderPod?: { readonly namespace: string; readonly name: string } | undefined
  /** `--watch-label-selector`: reconcile only GitRepositories and Kustomizations with these labels. */
  readonly watchLabelSelector?: string | undefined
  /** `--sops-mac-policy`. */
  readonly macPolicy: "strict" | "warn" | "ignore"
  /** `--sops-age-secret`: the Secret of global age keys, in the operator's namespace. */
  readonly globalAgeSecret?: { readonly namespace: string; readonly name: string } | undefined
  readonly defaultServiceAccount?: string | undefined
  /** `--feature-gates=ObjectLevelWorkloadIdentity=true`: `spec.decryption.serviceAccountName` is honoured. */
  readonly objectLevelWorkloadIdentity?: boolean | undefined
  /** `--feature-gates=CancelHealthCheckOnNewRevision=true`: a new source revision cancels a waiting health check. */
  readonly cancelHealthCheckOnNewRevision?: boolean | undefined
  /** `--feature-gates=AdditiveCELDependencyCheck=true`: `readyExpr` adds to the Ready check, not replaces it. */
  readonly additiveCelDependencyCheck?: boolean | undefined
  /** `--feature-gates=StrictPostBuildSubstitutions` (default true): an unset variable without a default fails. */
  readonly strictPostBuildSubstitutions?: boolean | undefined
  /** `--default-decryption-service-account`. */
  readonly defaultDecryptionServiceAccount?: string | undefined
  /** `--token-cache-max-size` (0: off) and `--token-cache-max-duration`. */
  readonly tokenCache?: { readonly maxSize: number; readonly maxDurationMs: number } | undefined
  readonly noCrossNamespaceRefs: boolean
  /** `--insecure-kubeconfig-exec`, `--insecure-kubeconfig-tls`: what `spec.kubeConfig` kubeconfigs may use. */
  readonly kubeConfigPolicy?: KubeConfigPolicy | undefined
  /** `--no-remote-bases`: kustomizations may only use files of their own source. */
  readonly noRemoteBases: boolean
  /** `--service-cidr`: the cluster's service network, refused as a remote-base host. */
  readonly serviceCidrs?: ReadonlyArray<string> | undefined
  /** `--trusted-remote-prefix`: remote-base URL prefixes exempt from the address checks (admin-set). */
  readonly trustedRemotePrefixes?: ReadonlyArray<string> | undefined
  /** OTLP/HTTP endpoint for traces (OTEL_EXPORTER_OTLP_ENDPOINT). */
  readonly otlpEndpoint?: string | undefined
  readonly instance?: string | undefined
  /** `--kustomize-sandbox`: run kustomize under Landlock (`auto` when the kernel has it, `required`, `off`). */
  readonly kustomizeSandbox: SandboxMode
  /** The `--max-…` flags: bounds on what a repository can make the operator do. */
  readonly limits: Limits
  /** How long in-flight reconciles may finish on SIGTERM (`--graceful-shutdown-timeout` minus a margin). */
  readonly shutdownGraceMs?: number | undefined
}

/**
 * The leader Lease: `--leader-election-id` when given; else `kustodian-leader`, suffixed with a digest of
 * `--watch-label-selector` so that the shards of a fleet (one Deployment per selector) never contend for one
 * lease by accident.
 */
export const leaseName = (options: Pick<OperatorOptions, "leaderElectionId" | "watchLabelSelector">) =>
  options.leaderElectionId ??
  (options.watchLabelSelector === undefined
    ? "kustodian-leader"
    : `kustodian-leader-${createHash("sha256").update(options.watchLabelSelector).digest("hex").slice(0, 10)}`)

/** Every service the two controllers use, built once for the process. */
export const operatorLayer = (options: OperatorOptions) => {
  const kube = Layer.mergeAll(KubeClient.layer(options.kubeconfig), KubeAccess.layer(options.kubeconfig))
  const mapper = RESTMapper.layer.pipe(Layer.provideMerge(kube))
  const source = sourceLayer(options.source, options.limits)
  const lookup = ConfigLookup.layerKube
  const decryptor = Decryptor.layer({
    macPolicy: options.macPolicy,
    limits: options.limits,
    ...(options.globalAgeSecret ? { globalAgeSecret: options.globalAgeSecret } : {}),
  }).pipe(
    Layer.provide(
      KeyProviders.layer({
        objectLevelWorkloadIdentity: options.objectLevelWorkloadIdentity === true,
        defaultDecryptionServiceAccount: options.defaultDecryptionServiceAccount,
        ...(options.tokenCache === undefined ? {} : { tokenCache: options.tokenCache }),
      }),
    ),
    Layer.provide(lookup),
  )
  const build = Builder.layer({
    noRemoteBases: options.noRemoteBases,
    strictSubstitution: options.strictPostBuildSubstitutions !== false,
    maxObjects: options.limits.maxBuildObjects,
    maxSubstitutedSize: options.limits.maxSubstitutedSize,
    serviceCidrs: options.serviceCidrs ?? [],
    trustedRemotePrefixes: options.trustedRemotePrefixes ?? [],
  }).pipe(
    Layer.provide(
      Layer.mergeAll(
        decryptor,
        Kustomize.layer({
          sandbox: options.kustomizeSandbox,
          remoteBases: !options.noRemoteBases,
          maxOutputSize: options.limits.maxBuildOutputSize,
          maxObjects: options.limits.maxBuildObjects,
          remotePorts: (options.trustedRemotePrefixes ?? []).flatMap((p) => portOf(p) ?? []),
        }),
        lookup,
        ArtifactTrees.layer().pipe(Layer.provide(ArtifactUnpacker.layer)),
      ),
    ),
    Layer.provide(source),
  )
  const stages = Layer.mergeAll(Applier.layer, Pruner.layer, HealthChecker.layer)
  const events =
    options.eventsAddr === undefined ? Layer.empty : EventForwarder.layer({ url: options.eventsAddr })
  return Layer.mergeAll(build, stages, source, lookup, events).pipe(
    Layer.provideMerge(mapper),
    Layer.provideMerge(
      telemetryLayer({ serviceName: "kustodian", otlpEndpoint: options.otlpEndpoint, logs: options.logs }),
    ),
  )
}

/** Runs both controllers until interrupted; interruption is the graceful shutdown (see `runManager`). */
export const runOperator = (options: OperatorOptions) =>
  Effect.gen(function* () {
    const instance = options.instance ?? process.env.POD_NAME ?? hostname()
    const access = {
      defaultServiceAccount: options.defaultServiceAccount,
      noCrossNamespaceRefs: options.noCrossNamespaceRefs,
    }
    const controllers = [
      {
        ...(yield* makeGitRepositoryController({ instance })),
        namespace: options.namespace,
        labelSelector: options.watchLabelSelector,
      },
      {
        ...(yield* makeKustomizationController({
          ...access,
          instance,
          kubeConfig: options.kubeConfigPolicy,
          requeueDependencyMs: options.requeueDependencyMs,
          cancelHealthCheckOnNewRevision: options.cancelHealthCheckOnNewRevision === true,
          additiveCelDependencyCheck: options.additiveCelDependencyCheck === true,
        })),
        namespace: options.namespace,
        labelSelector: options.watchLabelSelector,
      },
    ]
    return yield* runManager({
      controllers,
      shutdownGraceMs: options.shutdownGraceMs,
      probes: options.probes,
      metrics: options.metrics,
      run: { workers: options.workers, instance },
      leaderPod: options.leaderPod,
      leaderElection:
        options.leaderElectionNamespace === undefined
          ? undefined
          : { namespace: options.leaderElectionNamespace, name: leaseName(options), identity: instance },
    })
  }).pipe(Effect.provide(operatorLayer(options)))
