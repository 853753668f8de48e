/**
 * `kustodian controller` for the adversarial suite: like e2e/support/operator-process.ts (a real process against
 * the test control plane, Landlock sandbox required), plus what these tests need and that helper hides: its own
 * TMPDIR (so a test can see every temporary tree it leaves behind), fixed ports and storage across a restart, and
 * the process itself, to SIGKILL it in the middle of a build.
 */
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { freePort } from "../../support/ports.ts"
import { type Daemon, startDetached, stopGroup, waitReady } from "../../support/process.ts"
import { repoRoot, toolPath } from "../../support/tools.ts"

export interface OperatorConfig {
  readonly kubeconfig: string
  /** The one namespace it watches (`--watch-all-namespaces=false`). */
  readonly namespace: string
  /** A directory of its own: its TMPDIR, artifact storage and log live below it. */
  readonly dir: string
  readonly flags?: ReadonlyArray<string>
}

export interface RunningOperator {
  readonly daemon: Daemon
  /** `http://127.0.0.1:<port>`: /healthz, /readyz, /metrics. */
  readonly probeUrl: string
  /** The TMPDIR it was given: its `kustodian-tmp-<pid>-*` root is created here. */
  readonly tmpDir: string
  readonly logFile: string
  /** SIGTERM (then SIGKILL after the grace period) to its whole process group. */
  readonly stop: () => Promise<void>
  /** SIGKILL to its whole process group, as the kernel does on an OOM kill or `kubectl delete pod --force`. */
  readonly kill: () => void
  /** A new process with the same ports, storage and TMPDIR (after {@link kill} or {@link stop}). */
  readonly restart: () => Promise<RunningOperator>
}

const launch = async (
  config: OperatorConfig,
  ports: { readonly probe: number; readonly storage: number },
  generation: number,
): Promise<RunningOperator> => {
  const tmpDir = join(config.dir, "tmp")
  mkdirSync(tmpDir, { recursive: true })
  const logFile = join(config.dir, `operator-${generation}.log`)
  const daemon = startDetached({
    name: `kustodian controller (${config.namespace})`,
    command: process.execPath,
    args: [
      join(repoRoot, "operator/bin/kustodian.ts"),
      "controller",
      `--kubeconfig=${config.kubeconfig}`,
      `--metrics-addr=127.0.0.1:${ports.probe}`,
      `--storage-addr=127.0.0.1:${ports.storage}`,
      `--storage-adv-addr=127.0.0.1:${ports.storage}`,
      `--storage-path=${join(config.dir, "storage")}`,
      "--watch-all-namespaces=false",
      "--kustomize-sandbox=required",
      ...(config.flags ?? []),
    ],
    logFile,
    env: {
      ...process.env,
      RUNTIME_NAMESPACE: config.namespace,
      TMPDIR: tmpDir,
      KUSTODIAN_KUSTOMIZE: toolPath("kustomize"),
      KUSTODIAN_SANDBOX: toolPath("kustodian-sandbox"),
      GNUPGHOME: join(config.dir, "no-gnupg"),
    },
  })
  const probeUrl = `http://127.0.0.1:${ports.probe}`
  await Effect.runPromise(
    waitReady(
      daemon,
      async () => (await fetch(`${probeUrl}/readyz`).catch(() => undefined))?.ok === true,
      90_000,
      "ready",
    ),
  )
  const self: RunningOperator = {
    daemon,
    probeUrl,
    tmpDir,
    logFile,
    stop: () => stopGroup(daemon.pid, daemon.startTime),
    kill: () => {
      try {
        process.kill(-daemon.pid, "SIGKILL")
      } catch {
        // already gone
      }
    },
    restart: () => launch(config, ports, generation + 1),
  }
  return self
}

/** Starts the operator and waits until it is ready (leading, caches synced). */
export const startOperator = async (config: OperatorConfig): Promise<RunningOperator> => {
  const [probe, storage] = await Promise.all([freePort(), freePort()])
  return launch(config, { probe, storage }, 1)
}
