/**
 * A controller implementation `bench:reconcile` runs the workload against: Kustodian, or Flux's real
 * source-controller + kustomize-controller, as local processes against the bench's fresh control plane; or
 * Kustodian's image in a container (bench/peers/kustodian-image.ts).
 */
import type { Effect, Scope } from "effect"
import type { ContainerCgroup } from "./cgroup.ts"

export interface PeerContext {
  readonly kubeconfig: string
  /** A scratch directory removed with the run. */
  readonly work: string
  /** TMPDIR (and storage) for the peer's processes: on /dev/shm with `--tmpfs`, else under `work`. */
  readonly tmpdir: string
  /** The control plane's process-group list: groups appended here die with it even if the bench is SIGKILLed. */
  readonly groupsFile: string
  readonly concurrent: number
  readonly namespace: string
}

export interface RunningPeer {
  /** The long-running processes; their descendants (kustomize, git) are sampled and counted with them. */
  readonly pids: ReadonlyArray<number>
  /** Kustomization reconciles so far, from the peer's own /metrics (`controller_runtime_reconcile_total`). */
  readonly kustomizationReconciles: Effect.Effect<number>
  /** kustomize processes spawned so far; `undefined` when the peer builds in process (Flux). */
  readonly kustomizeRuns: () => number | undefined
  /**
   * A peer in a container: its cgroup, measured as a kubelet does (memory incl. tmpfs and page cache; CPU of all it
   * ran). Its CPU replaces the /proc sums of `pids`; `pids` (the container's init) still give the RSS columns.
   */
  readonly cgroup?: ContainerCgroup | undefined
  /** The flags it runs with, for the report. */
  readonly commandLines: ReadonlyArray<string>
}

export interface Peer {
  readonly name: string
  /** Applied before `start`: Flux's controllers exit when a kind they watch has no CRD. */
  readonly crdFiles: () => ReadonlyArray<string>
  /** Starts the processes (stopped with the scope) and waits until they serve /readyz. */
  readonly start: (ctx: PeerContext) => Effect.Effect<RunningPeer, unknown, Scope.Scope>
}
