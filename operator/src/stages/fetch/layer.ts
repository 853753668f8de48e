/**
 * The fetch stage wired for the operator's main: storage directory, artifact HTTP server, git and the
 * GitSource service, configured like Flux's source-controller flags.
 */
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
  /** `[host]:port` the artifact server listens on; default {@link defaultStorageAddr}. */
  readonly storageAddr?: string | undefined
  /**
   * `host[:port]` written into artifact URLs; default {@link defaultAdvertisedAddress} (Flux defaults to
   * `source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local.`, because its artifacts are downloaded by other
   * pods; ours are read from the storage directory by the same process).
   */
  readonly storageAdvAddr?: string | undefined
  /** Artifacts kept per object, the current one included; default 2 as in Flux. */
  readonly retention?: number | undefined
}

/**
 * Loopback, unlike Flux's `:9090`: in Kustodian the only consumer of artifacts is the Kustomization controller in
 * the same process, which reads them from the storage directory, so nothing outside the pod needs the server
 * (`kubectl port-forward` still reaches it). Serving another consumer takes `--storage-addr=:9090` and a Service.
 */
export const defaultStorageAddr = "127.0.0.1:9090"

/** Splits `[host]:port` / `:port` / `host:port`. */
export const parseListenAddress = (addr: string): { host: string | undefined; port: number } => {
  const i = addr.lastIndexOf(":")
  const host = i <= 0 ? undefined : addr.slice(0, i).replace(/^\[|\]$/g, "")
  const port = Number(addr.slice(i + 1))
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid listen address '${addr}'`)
  return { host: host === "" ? undefined : host, port }
}

/** The default `--storage-adv-addr`: the host the server binds (a client can reach it there), or localhost. */
export const defaultAdvertisedAddress = (listen: { host: string | undefined; port: number }): string => {
  const host = listen.host
  if (host === undefined || host === "0.0.0.0" || host === "::") return `localhost:${listen.port}`
  return host.includes(":") ? `[${host}]:${listen.port}` : `${host}:${listen.port}`
}

/**
 * Everything the GitRepository controller needs (GitSource, ArtifactStorage) plus the artifact server and the
 * consumer-side ArtifactFetcher (which reads local storage directly), as one layer.
 */
export const sourceLayer = (config: SourceConfig, limits: Limits = defaultLimits) => {
  const listen = parseListenAddress(config.storageAddr ?? defaultStorageAddr)
  const storage = ArtifactStorage.layer({
    root: config.storagePath,
    advertisedAddress: config.storageAdvAddr ?? defaultAdvertisedAddress(listen),
    retention: config.retention ?? 2,
    maxArtifactSize: limits.maxArtifactSize,
  })
  return Layer.mergeAll(
    GitSource.layerWith(limits).pipe(Layer.provide(Git.layerWith(limits))),
    ArtifactServer.layer({ port: listen.port, ...(listen.host === undefined ? {} : { host: listen.host }) }),
    ArtifactFetcher.layerWith(limits),
  ).pipe(Layer.provideMerge(storage))
}
