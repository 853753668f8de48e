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
import { telemetryLayer } from "./metrics/telemetry.ts"
import { runManager } from "./runtime/manager.ts"
import { KubeAccess } from "./stages/apply/impersonation.ts"
import { Applier } from "./stages/apply/staged-apply.ts"
import { ArtifactUnpacker } from "./stages/build/artifact.ts"
import { Builder } from "./stages/build/builder.ts"
import { ConfigLookup } from "./stages/build/config-lookup.ts"
import { Kustomize } from "./stages/build/kustomize.ts"
import { Decryptor } from "./stages/decrypt/decryptor.ts"
import { KeyProviders } from "./stages/decrypt/providers.ts"
import { ArtifactServer } from "./stages/fetch/artifact-server.ts"
import { Git } from "./stages/fetch/git.ts"
import { GitSource } from "./stages/fetch/git-source.ts"
import { ArtifactFetcher } from "./stages/fetch/source-artifact.ts"
import { ArtifactStorage } from "./stages/fetch/storage.ts"
import { HealthChecker } from "./stages/health/health-check.ts"
import { Pruner } from "./stages/prune/prune.ts"

/** The flags of `kustodian controller` (Flux's names where Flux has the flag). */
export interface OperatorOptions {
  readonly kubeconfig: KubeConfigSource
  /** `--health-addr` / `--metrics-addr` port: /metrics, /healthz, /readyz. */
  readonly probePort: number
  /** `--storage-addr` port of the artifact server (0 picks a free one). */
  readonly storagePort: number
  /** `--storage-path`. */
  readonly storagePath: string
  /** `--storage-adv-addr`: `host[:port]` written into artifact URLs. */
  readonly storageAdvertisedAddress: string
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
  /** `--artifact-retention`: artifacts kept per GitRepository. */
  readonly artifactRetention: number
  /** OTLP/HTTP endpoint for traces (OTEL_EXPORTER_OTLP_ENDPOINT). */
  readonly otlpEndpoint?: string | undefined
  readonly instance?: string | undefined
}

/** Every service the two controllers use, built once for the process. */
export const operatorLayer = (options: OperatorOptions) => {
  const kube = Layer.mergeAll(KubeClient.layer(options.kubeconfig), KubeAccess.layer(options.kubeconfig))
  const mapper = RESTMapper.layer.pipe(Layer.provideMerge(kube))
  const storage = ArtifactStorage.layer({
    root: options.storagePath,
    advertisedAddress: options.storageAdvertisedAddress,
    retention: options.artifactRetention,
  })
  const source = Layer.mergeAll(
    GitSource.layer.pipe(Layer.provide(Git.layer)),
    ArtifactServer.layer({ port: options.storagePort }),
    ArtifactFetcher.layer,
  ).pipe(Layer.provideMerge(storage))
  const lookup = ConfigLookup.layerKube
  const decryptor = Decryptor.layer({ macPolicy: options.macPolicy }).pipe(
    Layer.provide(KeyProviders.none),
    Layer.provide(lookup),
  )
  const build = Builder.layer().pipe(
    Layer.provide(Layer.mergeAll(decryptor, Kustomize.layer, lookup, ArtifactUnpacker.layer)),
    Layer.provide(source),
  )
  const stages = Layer.mergeAll(Applier.layer, Pruner.layer, HealthChecker.layer)
  return Layer.mergeAll(build, stages, source).pipe(
    Layer.provideMerge(mapper),
    Layer.provideMerge(telemetryLayer({ serviceName: "kustodian", otlpEndpoint: options.otlpEndpoint })),
  )
}

/** Runs both controllers until interrupted (SIGTERM/SIGINT through `NodeRuntime.runMain`). */
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
      probes: { port: options.probePort },
      run: { workers: options.workers, instance },
      leaderElection:
        options.leaderElectionNamespace === undefined
          ? undefined
          : { namespace: options.leaderElectionNamespace, name: "kustodian-leader", identity: instance },
    })
  }).pipe(Effect.provide(operatorLayer(options)))
