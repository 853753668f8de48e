/**
 * One interface for every way tests get a Kubernetes API server: start (inside a Scope) → a kubeconfig; closing the
 * scope stops whatever was started. Providers: `local` (etcd + kube-apiserver processes, the default), `kind`
 * (testcontainers, needs Docker), `kubeconfig` (an existing cluster).
 */
import type { Effect, Scope } from "effect"
import { Data } from "effect"
import type { ProcessError } from "../support/process.ts"

export type ProviderName = "local" | "kind" | "kubeconfig"

/** A running cluster as tests see it. */
export interface TestCluster {
  readonly provider: ProviderName
  /** Admin kubeconfig (full access: system:masters or the cluster's own admin). */
  readonly kubeconfigPath: string
  /** API server URL. */
  readonly server: string
  /** Process groups this provider started (empty for providers that start no local processes). */
  readonly pids: ReadonlyArray<number>
}

export interface StartOptions {
  /**
   * Where state (certificates, etcd data, logs, kubeconfig) goes. Default: a fresh temp dir removed on stop.
   * A given directory is kept (for `cluster:up`), but its contents are replaced.
   */
  readonly stateDir?: string
  /**
   * Stop everything when this pid disappears, even if no cleanup code runs (runner SIGKILLed). Default: the
   * current process. `"none"` lets the cluster outlive its starter (`cluster:up`).
   */
  readonly ownerPid?: number | "none"
  /** How long to wait for readiness (default 120 s: starts took up to 50 s here at a load average of 17 on 2 cores). */
  readonly startTimeoutMs?: number
  /**
   * Also run kube-controller-manager, kube-scheduler and kwok's simulated nodes, so Deployments roll out, Pods
   * become Ready, Namespaces finish deleting and garbage collection runs (local provider; kind and an existing
   * cluster have their own). Default false: etcd and kube-apiserver only.
   */
  readonly workloads?: boolean
}

/** A cluster could not be started or reached. */
export class ClusterError extends Data.TaggedError("ClusterError")<{
  readonly provider: ProviderName
  readonly reason: string
}> {
  override get message(): string {
    return `test cluster (${this.provider}): ${this.reason}`
  }
}

export interface ClusterProvider {
  readonly name: ProviderName
  readonly start: (opts: StartOptions) => Effect.Effect<TestCluster, ClusterError | ProcessError, Scope.Scope>
}
