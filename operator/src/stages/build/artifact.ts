/**
 * Where the build's files come from. In the operator, the fetch stage's `ArtifactFetcher`
 * (`stages/fetch/source-artifact.ts`) downloads the source artifact (or reads it from the operator's own
 * storage), verifies its digest and unpacks it; this module only adapts it to the build. A local directory
 * can stand in for an artifact (the CLI building a checkout), copied with its symlinks so that the build's
 * confinement checks see them.
 *
 * @module
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Context, Effect, Layer } from "effect"
import { ArtifactFetcher, type SourceArtifact } from "../fetch/source-artifact.ts"
import { ArtifactFailed } from "./errors.ts"

/**
 * What the build needs to know about a source's artifact (the `status.artifact` of GitRepository & co).
 * The fetch stage's `SourceArtifact` is one.
 */
export interface ArtifactRef {
  /** Where the tarball is served (or, for {@link ArtifactUnpacker.layerLocalDirectory}, a directory path). */
  readonly url: string
  /** `sha256:<hex>` of the tarball. */
  readonly digest: string
  /** Opaque revision string, e.g. `main@sha1:…`; only carried through. */
  readonly revision: string
  /** Source identity and storage path, when known (lets the fetch stage read its own storage directly). */
  readonly kind?: string
  readonly namespace?: string
  readonly name?: string
  readonly path?: string
  readonly lastUpdateTime?: string
}

const toSource = (a: ArtifactRef): SourceArtifact => ({
  kind: a.kind ?? "GitRepository",
  namespace: a.namespace ?? "",
  name: a.name ?? "",
  revision: a.revision,
  digest: a.digest,
  url: a.url,
  path: a.path ?? "",
  lastUpdateTime: a.lastUpdateTime ?? "",
})

/** Puts an artifact's files into a build directory. */
export class ArtifactUnpacker extends Context.Service<
  ArtifactUnpacker,
  {
    /** Unpack `artifact` into the existing, empty directory `dir`. */
    readonly unpack: (artifact: ArtifactRef, dir: string) => Effect.Effect<void, ArtifactFailed>
  }
>()("kustodian/stages/build/ArtifactUnpacker") {
  /** Through the fetch stage's fetcher: download or local storage, digest verified, safe extraction. */
  static readonly layer = Layer.effect(
    ArtifactUnpacker,
    Effect.gen(function* () {
      const fetcher = yield* ArtifactFetcher
      return ArtifactUnpacker.of({
        unpack: Effect.fn("ArtifactUnpacker.unpack")(function* (artifact: ArtifactRef, dir: string) {
          yield* fetcher.fetch(toSource(artifact), dir).pipe(
            // Retries already happened inside the fetcher; what is left may still heal with a later revision.
            Effect.mapError((e) => new ArtifactFailed({ message: e.message, terminal: false })),
          )
        }),
      })
    }),
  )

  /** `artifact.url` names a local directory, copied as is (symlinks included, for the confinement checks). */
  static readonly layerLocalDirectory = Layer.succeed(
    ArtifactUnpacker,
    ArtifactUnpacker.of({
      unpack: Effect.fn("ArtifactUnpacker.unpackDirectory")(function* (artifact: ArtifactRef, dir: string) {
        yield* Effect.tryPromise({
          try: async () => {
            const src = path.resolve(artifact.url)
            if (!(await fs.stat(src)).isDirectory()) throw new Error(`'${artifact.url}' is not a directory`)
            await fs.cp(src, dir, { recursive: true, verbatimSymlinks: true, force: true })
          },
          catch: (e) =>
            new ArtifactFailed({
              message: `failed to copy the source: ${(e as Error).message}`,
              terminal: true,
            }),
        })
      }),
    }),
  )
}
