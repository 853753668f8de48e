/**
 * The operator program: both controllers under one manager, with every service they need composed here — the
 * one edge where Layers meet. `kustodian controller` runs it in a cluster; the demo and the e2e tests run it
 * as a local process against the test control plane.
 */
import { hostname } from "node:os"
import { Effect, Layer } from "effect"
import { makeGitRepositoryController } from "./controllers/gitrepository.ts"
import { makeKustomizationController } from "./controllers/kustomization.ts"
import { KubeClient } from "./kube/client.ts"
import type { KubeConfigSource } from "./kube/connection.ts"
import { RESTMapper } from "./kube/restmapper.ts"
import type { Limits } from "./limits.ts"
import { telemetryLayer } from "./metrics/telemetry.ts"
import { runManager } from "./runtime/manager.ts"
import { KubeAccess } from "./stages/apply/impersonation.ts"
import { Applier } from "./stages/apply/staged-apply.ts"
import { ArtifactUnpacker } from "./stages/build/artifact.ts"
import { Builder } from "./stages/build/builder.ts"
import { ConfigLookup } from "./stages/build/config-lookup.ts"
import { Kustomize } from "./stages/build/kustomize.ts"
import type { SandboxMode } from "./stages/build/sandbox.ts"
import { Decryptor } from "./stages/decrypt/decryptor.ts"
import { KeyProviders } from "./stages/decrypt/providers.ts"
import { type SourceConfig, sourceLayer } from "./stages/fetch/layer.ts"
import { HealthChecker } from "./stages/health/health-check.ts"
import { Pruner } from "./stages/prune/prune.ts"

/** The flags of `kustodian controller` (Flux's names where Flux has the flag). */
export interface OperatorOptions {
  readonly kubeconfig: KubeConfigSource
  /** `--metrics-addr` (alias `--health-addr`): where /metrics, /healthz and /readyz are served. */
  readonly probes: { readonly host?: string | undefined; readonly port: number }
  /** `--storage-path`, `--storage-addr`, `--storage-adv-addr`, `--artifact-retention`. */
  readonly source: SourceConfig
  /** `--watch-all-namespaces=false` limits the controllers to this namespace. */
  readonly namespace?: string | undefined
  /** `--concurrent`. */
  readonly workers: number
  /** `--enable-leader-election`: the Lease lives in this namespace. */
  readonly leaderElectionNamespace?: string | undefined
  /** `--sops-mac-policy`. */
  readonly macPolicy: "strict" | "warn" | "ignore"
  readonly defaultServiceAccount?: string | undefined
  readonly noCrossNamespaceRefs: boolean
  /** `--no-remote-bases`: kustomizations may only use files of their own source. */
  readonly noRemoteBases: boolean
  /** OTLP/HTTP endpoint for traces (OTEL_EXPORTER_OTLP_ENDPOINT). */
  readonly otlpEndpoint?: string | undefined
  readonly instance?: string | undefined
  /** `--kustomize-sandbox`: run kustomize under Landlock (`auto` when the kernel has it, `required`, `off`). */
  readonly kustomizeSandbox: SandboxMode
  /** The `--max-…` flags: bounds on what a repository can make the operator do. */
  readonly limits: Limits
}

/** Every service the two controllers use, built once for the process. */
export const operatorLayer = (options: OperatorOptions) => {
  const kube = Layer.mergeAll(KubeClient.layer(options.kubeconfig), KubeAccess.layer(options.kubeconfig))
  const mapper = RESTMapper.layer.pipe(Layer.provideMerge(kube))
  const source = sourceLayer(options.source)
  const lookup = ConfigLookup.layerKube
  const decryptor = Decryptor.layer({ macPolicy: options.macPolicy }).pipe(
    Layer.provide(KeyProviders.none),
    Layer.provide(lookup),
  )
  const build = Builder.layer({ noRemoteBases: options.noRemoteBases }).pipe(
    Layer.provide(
      Layer.mergeAll(
        decryptor,
        Kustomize.layer({
          sandbox: options.kustomizeSandbox,
          remoteBases: !options.noRemoteBases,
          maxOutputSize: options.limits.maxBuildOutputSize,
        }),
        lookup,
        ArtifactUnpacker.layer,
      ),
    ),
    Layer.provide(source),
  )
  const stages = Layer.mergeAll(Applier.layer, Pruner.layer, HealthChecker.layer)
  return Layer.mergeAll(build, stages, source).pipe(
    Layer.provideMerge(mapper),
    Layer.provideMerge(telemetryLayer({ serviceName: "kustodian", otlpEndpoint: options.otlpEndpoint })),
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
      { ...(yield* makeGitRepositoryController({ instance })), namespace: options.namespace },
      { ...(yield* makeKustomizationController({ ...access, instance })), namespace: options.namespace },
    ]
    return yield* runManager({
      controllers,
      probes: options.probes,
      run: { workers: options.workers, instance },
      leaderElection:
        options.leaderElectionNamespace === undefined
          ? undefined
          : { namespace: options.leaderElectionNamespace, name: "kustodian-leader", identity: instance },
    })
  }).pipe(Effect.provide(operatorLayer(options)))
