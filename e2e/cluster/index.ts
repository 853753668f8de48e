/**
 * Picks and runs a cluster provider. `KUSTODIAN_TEST_CLUSTER=local|kind|kubeconfig` (default `local`).
 * Use {@link startCluster} from plain async code (vitest global setup, the cluster:up CLI); Effect code can call
 * `provider.start` inside its own Scope.
 */
import { Cause, Effect, Exit, Scope } from "effect"
import { kindProvider } from "./kind.ts"
import { kubeconfigProvider } from "./kubeconfig-provider.ts"
import { localProvider } from "./local.ts"
import {
  ClusterError,
  type ClusterProvider,
  type ProviderName,
  type StartOptions,
  type TestCluster,
} from "./provider.ts"

export type { ClusterProvider, ProviderName, StartOptions, TestCluster } from "./provider.ts"
export { ClusterError } from "./provider.ts"

const providers: Record<ProviderName, ClusterProvider> = {
  local: localProvider,
  kind: kindProvider,
  kubeconfig: kubeconfigProvider,
}

/** The provider named by `KUSTODIAN_TEST_CLUSTER` (default `local`). */
export const providerFromEnv = (env: NodeJS.ProcessEnv = process.env): ClusterProvider => {
  const name = (env.KUSTODIAN_TEST_CLUSTER || "local") as ProviderName
  const p = providers[name]
  if (p === undefined)
    throw new ClusterError({
      provider: "local",
      reason: `KUSTODIAN_TEST_CLUSTER=${name} is not one of ${Object.keys(providers).join(", ")}`,
    })
  return p
}

/** A started cluster and the function that stops everything it started (idempotent). */
export interface RunningCluster {
  readonly cluster: TestCluster
  readonly stop: () => Promise<void>
}

/** Starts a cluster; on failure everything already started is stopped before the error is thrown. */
export const startCluster = async (
  opts: StartOptions = {},
  provider: ClusterProvider = providerFromEnv(),
): Promise<RunningCluster> => {
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(provider.start(opts).pipe(Scope.provide(scope)))
  if (Exit.isFailure(exit)) {
    await Effect.runPromise(Scope.close(scope, exit))
    throw Cause.squash(exit.cause)
  }
  let stopped: Promise<void> | undefined
  const stop = () => {
    stopped ??= Effect.runPromise(Scope.close(scope, Exit.void))
    return stopped
  }
  return { cluster: exit.value, stop }
}
