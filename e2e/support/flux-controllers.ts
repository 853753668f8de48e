/**
 * Flux's real source-controller and kustomize-controller (v1.9.x, what Flux 2.9 ships, built from the Go module
 * proxy by `scripts/tools.sh flux-controllers`) as local processes against a control plane: the peers the e2e
 * tests compare Kustodian with and migrate from, and the bench's `--peer=flux`. They run with the flags of Flux's
 * install manifests where those apply outside a cluster: no leader election, metrics/health/artifact server on
 * free loopback ports, no notification-controller (`--events-addr=`; Kubernetes Events are still recorded).
 * Stopped with the scope (SIGTERM, then SIGKILL).
 */
import { mkdirSync, readdirSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { Effect } from "effect"
import { applyYaml, installFluxCrds, waitForCrds } from "./cluster.ts"
import { freePort } from "./ports.ts"
import { type Daemon, daemon, waitReady } from "./process.ts"
import { toolPath } from "./tools.ts"

export interface FluxControllersOptions {
  readonly kubeconfig: string
  /** Scratch space: the artifact storage and both controllers' TMPDIR (kustomize-controller builds there). */
  readonly tmpdir: string
  /** Where `source-controller.log` and `kustomize-controller.log` go. */
  readonly logDir: string
  /** Watch this namespace only; all namespaces when unset. */
  readonly namespace?: string | undefined
  /** `RUNTIME_NAMESPACE` when watching all namespaces (default `flux-system`). */
  readonly runtimeNamespace?: string | undefined
  readonly concurrent?: number | undefined
  /** Flags for both controllers, after the defaults. */
  readonly flags?: ReadonlyArray<string> | undefined
  /** Appends both process groups to this file, for a reaper that outlives the test runner. */
  readonly groupsFile?: string | undefined
}

export interface FluxControllers {
  readonly source: Daemon
  readonly kustomize: Daemon
  /** `http://127.0.0.1:<port>/metrics` of kustomize-controller. */
  readonly kustomizeMetricsUrl: string
  /** Both command lines, for reports. */
  readonly commandLines: ReadonlyArray<string>
}

/** The CRDs of both controllers, from the same module zips the binaries were built from (sorted paths). */
export const fluxCrdFiles = (): ReadonlyArray<string> => {
  const dir = join(dirname(toolPath("source-controller")), "crds")
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => join(dir, f))
}

/**
 * Makes the shared test control plane fit for Flux's controllers: Kustodian's own CRDs for the two kinds it serves
 * (`installFluxCrds`, which every e2e file applies: replacing them with Flux's would change them under the other
 * files), and Flux's CRDs for the kinds it does not serve (Bucket, HelmChart, …), without which source-controller
 * and kustomize-controller exit at start. Flux's controllers reconciling through Kustodian's CRDs is itself a check
 * that the schemas agree: a field Kustodian's CRD lacked would be pruned from what they write.
 */
export const installCrdsForFlux = async (): Promise<void> => {
  await installFluxCrds()
  const served = new Set([
    "source.toolkit.fluxcd.io_gitrepositories.yaml",
    "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
  ])
  const others = fluxCrdFiles().filter((f) => !served.has(basename(f)))
  await applyYaml((await Promise.all(others.map((f) => readFile(f, "utf8")))).join("\n---\n"))
  await waitForCrds(others.map((f) => basename(f, ".yaml").replace(/^([^_]+)_(.+)$/, "$2.$1")))
}

/** Starts source-controller, then kustomize-controller, each once it serves /readyz. */
export const fluxControllers = (options: FluxControllersOptions) =>
  Effect.gen(function* () {
    const [scMetrics, scHealth, scStorage, kcMetrics, kcHealth] = yield* Effect.promise(() =>
      Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]),
    )
    const storage = join(options.tmpdir, "source-controller-storage")
    mkdirSync(storage, { recursive: true })
    const env = {
      ...process.env,
      KUBECONFIG: options.kubeconfig,
      RUNTIME_NAMESPACE: options.namespace ?? options.runtimeNamespace ?? "flux-system",
      // kustomize-controller extracts artifacts and builds under os.TempDir().
      TMPDIR: options.tmpdir,
    }
    const common = [
      `--concurrent=${options.concurrent ?? 4}`,
      `--watch-all-namespaces=${options.namespace === undefined}`,
      "--enable-leader-election=false",
      "--log-level=info",
      "--log-encoding=json",
      "--events-addr=",
    ]
    const sourceArgs = [
      ...common,
      `--metrics-addr=127.0.0.1:${scMetrics}`,
      `--health-addr=127.0.0.1:${scHealth}`,
      `--storage-addr=127.0.0.1:${scStorage}`,
      `--storage-adv-addr=127.0.0.1:${scStorage}`,
      `--storage-path=${storage}`,
      ...(options.flags ?? []),
    ]
    const kustomizeArgs = [
      ...common,
      `--metrics-addr=127.0.0.1:${kcMetrics}`,
      `--health-addr=127.0.0.1:${kcHealth}`,
      ...(options.flags ?? []),
    ]
    const start = (name: "source-controller" | "kustomize-controller", args: Array<string>, health: number) =>
      Effect.gen(function* () {
        const d = yield* daemon({
          name,
          command: toolPath(name),
          args,
          env,
          logFile: join(options.logDir, `${name}.log`),
          groupsFile: options.groupsFile,
        })
        yield* waitReady(
          d,
          async () => (await fetch(`http://127.0.0.1:${health}/readyz`).catch(() => undefined))?.ok === true,
          60_000,
          "ready",
        )
        return d
      })
    const source = yield* start("source-controller", sourceArgs, scHealth)
    const kustomize = yield* start("kustomize-controller", kustomizeArgs, kcHealth)
    return {
      source,
      kustomize,
      kustomizeMetricsUrl: `http://127.0.0.1:${kcMetrics}/metrics`,
      commandLines: [
        `source-controller ${sourceArgs.join(" ")}`.replaceAll(options.tmpdir, "$TMP"),
        `kustomize-controller ${kustomizeArgs.join(" ")}`,
      ],
    } satisfies FluxControllers
  })
