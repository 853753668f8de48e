/**
 * The operator as users run it: `kustodian controller` in a process of its own, against the test control plane,
 * with its artifact server and probes on free loopback ports. Stopped with the scope (SIGTERM first, so the
 * graceful shutdown runs too).
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { freePort } from "./ports.ts"
import { daemon, waitReady } from "./process.ts"
import { repoRoot, toolPath } from "./tools.ts"

export interface OperatorProcessOptions {
  readonly kubeconfig: string
  /** Watch this namespace only (`--watch-all-namespaces=false`); all namespaces when unset. */
  readonly namespace?: string | undefined
  /** Extra flags, e.g. `--sops-mac-policy=strict`. */
  readonly flags?: ReadonlyArray<string> | undefined
  /** Where its JSON logs go (default: a file in its temp dir). */
  readonly logFile?: string | undefined
  /** Extra environment (e.g. `POD_NAME`, a wrapped `KUSTODIAN_SANDBOX`); wins over the defaults below. */
  readonly env?: Readonly<Record<string, string>> | undefined
  /**
   * The program: the TypeScript entry point (default, run with type stripping) or the bundle the image ships
   * (`.build/kustodian/kustodian.mjs` from `npm run bundle`), run with the image's heap flag.
   */
  readonly entry?: "source" | { readonly bundle: string } | undefined
}

export interface OperatorProcess {
  readonly pid: number
  readonly logFile: string
  /** `http://127.0.0.1:<port>`: /metrics, /healthz, /readyz. */
  readonly probeUrl: string
}

/** Starts `kustodian controller` and waits until it is ready (leading, caches synced). */
export const operatorProcess = (options: OperatorProcessOptions) =>
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), "kustodian-operator-"))),
      (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
    )
    const [probePort, storagePort] = yield* Effect.promise(() => Promise.all([freePort(), freePort()]))
    const logFile = options.logFile ?? join(dir, "operator.log")
    const entry = options.entry ?? "source"
    const args = [
      ...(entry === "source"
        ? [join(repoRoot, "operator/bin/kustodian.ts")]
        : ["--max-old-space-size-percentage=75", entry.bundle]),
      "controller",
      `--kubeconfig=${options.kubeconfig}`,
      `--metrics-addr=127.0.0.1:${probePort}`,
      `--storage-addr=127.0.0.1:${storagePort}`,
      `--storage-adv-addr=127.0.0.1:${storagePort}`,
      `--storage-path=${join(dir, "storage")}`,
      ...(options.namespace === undefined ? [] : ["--watch-all-namespaces=false"]),
      // Every test operator runs kustomize under the real Landlock sandbox: a kernel without it fails loudly.
      "--kustomize-sandbox=required",
      ...(options.flags ?? []),
    ]
    const d = yield* daemon({
      name: "kustodian controller",
      command: process.execPath,
      args,
      logFile,
      env: {
        ...process.env,
        ...(options.namespace === undefined ? {} : { RUNTIME_NAMESPACE: options.namespace }),
        KUSTODIAN_KUSTOMIZE: toolPath("kustomize"),
        KUSTODIAN_SANDBOX: toolPath("kustodian-sandbox"),
        // The operator never falls back to a gpg keyring of its host: keys come from decryption Secrets only.
        GNUPGHOME: join(dir, "no-gnupg"),
        ...options.env,
      },
    })
    const probeUrl = `http://127.0.0.1:${probePort}`
    yield* waitReady(
      d,
      async () => (await fetch(`${probeUrl}/readyz`).catch(() => undefined))?.ok === true,
      60_000,
      "ready",
    )
    return { pid: d.pid, logFile, probeUrl } satisfies OperatorProcess
  })
