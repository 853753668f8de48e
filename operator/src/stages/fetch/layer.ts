/**
 * The fetch stage wired for the operator's main: storage directory, artifact HTTP server, git and the
 * GitSource service, configured like Flux's source-controller flags.
 */
import { hostname } from "node:os"
import { Layer } from "effect"
import { defaultLimits, type Limits } from "../../limits.ts"
import { ArtifactServer } from "./artifact-server.ts"
import { Git } from "./git.ts"
import { GitSource } from "./git-source.ts"
import { ArtifactFetcher } from "./source-artifact.ts"
import { ArtifactStorage } from "./storage.ts"

/** Flux's flags, same names: `--storage-path`, `--storage-addr`, `--storage-adv-addr`, `--artifact-retention-records`. */
export interface SourceConfig {
  /** Directory of the artifacts (Flux default `/data`; ours: `$TMPDIR/kustodian-artifacts` when unset). */
  readonly storagePath: string
  /** `[host]:port` the artifact server listens on; default `:9090`. */
  readonly storageAddr?: string | undefined
  /**
   * `host[:port]` written into artifact URLs; default: this host's name with the listen port (Flux defaults to
   * `source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local.`; the Deployment sets it to its Service).
   */
  readonly storageAdvAddr?: string | undefined
  /** Artifacts kept per object, the current one included; default 2 as in Flux. */
  readonly retention?: number | undefined
}

/** Splits `[host]:port` / `:port` / `host:port`. */
export const parseListenAddress = (addr: string): { host: string | undefined; port: number } => {
  const i = addr.lastIndexOf(":")
  const host = i <= 0 ? undefined : addr.slice(0, i).replace(/^\[|\]$/g, "")
  const port = Number(addr.slice(i + 1))
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid listen address '${addr}'`)
  return { host: host === "" ? undefined : host, port }
}

/**
 * Everything the GitRepository controller needs (GitSource, ArtifactStorage) plus the artifact server and the
 * consumer-side ArtifactFetcher (which reads local storage directly), as one layer.
 */
export const sourceLayer = (config: SourceConfig, limits: Limits = defaultLimits) => {
  const listen = parseListenAddress(config.storageAddr ?? ":9090")
  const storage = ArtifactStorage.layer({
    root: config.storagePath,
    advertisedAddress: config.storageAdvAddr ?? `${hostname()}:${listen.port}`,
    retention: config.retention ?? 2,
    maxArtifactSize: limits.maxArtifactSize,
  })
  return Layer.mergeAll(
    GitSource.layerWith(limits).pipe(Layer.provide(Git.layerWith(limits))),
    ArtifactServer.layer({ port: listen.port, ...(listen.host === undefined ? {} : { host: listen.host }) }),
    ArtifactFetcher.layerWith(limits),
  ).pipe(Layer.provideMerge(storage))
}
