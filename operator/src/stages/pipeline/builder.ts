/**
 * The build stage of a Kustomization reconcile: the artifact's shared read-only tree → generated/edited root
 * kustomization (in memory) → the resolved, confined kustomization graph → a private view of exactly what it
 * reads → pre-build decryption (into the view) → kustomize → post-build decryption → refusal of anything
 * still encrypted → postBuild substitution → commonMetadata. The view is removed when the build ends,
 * whatever happened; the tree when no build and no current revision needs it.
 *
 * @module
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Context, Effect, Layer } from "effect"
import type { KubeObject } from "../../kube/object.ts"
import type { ArtifactRef } from "../build/artifact.ts"
import { ArtifactTrees } from "../build/artifact-trees.ts"
import { applyCommonMetadata } from "../build/common-metadata.ts"
import { ConfigLookup } from "../build/config-lookup.ts"
import { readSet } from "../build/confinement.ts"
import { ArtifactFailed, type BuildError } from "../build/errors.ts"
import { generatedKustomization } from "../build/generate.ts"
import { isWithin, walkKustomizations } from "../build/kustomization-graph.ts"
import { Kustomize } from "../build/kustomize.ts"
import { refuseObjectExplosion } from "../build/object-estimate.ts"
import { printObjectsOffThread } from "../build/parse-pool.ts"
import type { BuildSpec } from "../build/spec.ts"
import { transformedKustomization } from "../build/spec-transforms.ts"
import { makeView } from "../build/view.ts"
import { privateWorkdir } from "../build/workdir.ts"
import type { MacWarning } from "../decrypt/decryptor.ts"
import { Decryptor } from "../decrypt/decryptor.ts"
import { decryptResources } from "../decrypt/resources.ts"
import { decryptSources } from "../decrypt/sources.ts"
import { refuseStillEncrypted } from "../decrypt/still-encrypted.ts"
import { substitute } from "../substitute/substitute.ts"

/** What the controller asks to build. */
export interface BuildRequest {
  /** The Kustomization's namespace: decryption Secret and substituteFrom objects are read from it. */
  readonly namespace: string
  readonly name: string
  readonly spec: BuildSpec
  readonly artifact: ArtifactRef
}

/** The built, decrypted, substituted objects, ready for apply. */
export interface BuildResult {
  readonly revision: string
  readonly objects: ReadonlyArray<KubeObject>
  /** `sha256:<hex>` of the built YAML (Flux's history digest); computed after substitution. */
  readonly digest: string
  /** MAC mismatches tolerated under `--sops-mac-policy=warn`: each becomes a Warning event. */
  readonly warnings: ReadonlyArray<MacWarning>
  /** Artifact-relative files decrypted before the build (names only). */
  readonly decryptedFiles: ReadonlyArray<string>
  /**
   * Every decrypted value and every value read from `postBuild.substituteFrom`: what redaction masks in the
   * messages of the stages after the build. In memory only, for this reconcile.
   */
  readonly sensitive: ReadonlyArray<string>
  /** The decrypted values alone (a subset of `sensitive`): what `kustodian build` masks outside Secrets. */
  readonly decrypted: ReadonlyArray<string>
}

export interface BuilderOptions {
  /** Flux's `StrictPostBuildSubstitutions` (on by default since Flux 2.5). */
  readonly strictSubstitution?: boolean
  /**
   * Flux's `--no-remote-bases`: refuse remote resources before the build. Worth setting on multi-tenant
   * clusters: files of a remote base are read by kustomize outside the confinement checks of the artifact.
   */
  readonly noRemoteBases?: boolean
  /** `--service-cidr`: the cluster's service network, refused as a remote host like loopback. */
  readonly serviceCidrs?: ReadonlyArray<string>
  /**
   * `--trusted-remote-prefix`: remote URLs under these prefixes (an in-cluster git mirror over http, say) skip
   * the scheme and address checks, and the sandbox opens their ports. Set by the cluster admin, never a tenant.
   */
  readonly trustedRemotePrefixes?: ReadonlyArray<string>
  /** `--max-build-objects`: a graph that would build far more (a kustomize "diamond") is refused before kustomize runs. */
  readonly maxObjects?: number
  /** `--max-substituted-size`: what postBuild substitution may produce for one object. */
  readonly maxSubstitutedSize?: number
}

/** `spec.path` joined to the root the way securejoin does: `..` cannot climb above the root. */
export const joinPath = (root: string, p: string | undefined) =>
  path.join(root, path.posix.normalize(`/${(p ?? "").replaceAll("\\", "/")}`))

const pathNotFound = (p: string | undefined) =>
  new ArtifactFailed({ message: `kustomization path not found: ${p ?? ""}`, file: p ?? ".", terminal: false })

/** Builds Kustomizations. */
export class Builder extends Context.Service<
  Builder,
  {
    readonly build: (request: BuildRequest) => Effect.Effect<BuildResult, BuildError>
  }
>()("kustodian/stages/build/Builder") {
  static layer(options: BuilderOptions = {}) {
    return Layer.effect(
      Builder,
      Effect.gen(function* () {
        const trees = yield* ArtifactTrees
        const kustomize = yield* Kustomize
        const decryptor = yield* Decryptor
        const lookup = yield* ConfigLookup
        const strict = options.strictSubstitution ?? true
        const resolver = {
          noRemoteBases: options.noRemoteBases ?? false,
          serviceCidrs: options.serviceCidrs ?? [],
          trustedRemotePrefixes: options.trustedRemotePrefixes ?? [],
        }
        return Builder.of({
          build: Effect.fn("Builder.build")(
            function* (request: BuildRequest) {
              const { spec } = request
              const work = yield* privateWorkdir()
              // The artifact's shared, read-only tree: extracted once per digest for every build on it.
              const root = yield* trees.acquire(request.artifact)

              const dir = joinPath(root, spec.path)
              const real = yield* Effect.promise(() => fs.realpath(dir).catch(() => undefined))
              const st = real ? yield* Effect.promise(() => fs.stat(real)) : undefined
              if (
                !real ||
                !st?.isDirectory() ||
                !isWithin(yield* Effect.promise(() => fs.realpath(root)), real)
              ) {
                return yield* pathNotFound(spec.path)
              }

              // Keys first: a missing decryption Secret fails before any work, as in Flux.
              const keys = spec.decryption
                ? yield* decryptor.keys(request.namespace, spec.decryption, request.name)
                : undefined

              // The build's own kustomization file, when Flux would generate or edit one: kept in memory.
              const entry = yield* transformedKustomization(
                root,
                dir,
                spec,
                yield* generatedKustomization(root, dir),
              )
              const nodes = yield* walkKustomizations(root, dir, { ...resolver, ...(entry ? { entry } : {}) })
              const files = yield* readSet(root, nodes, entry)
              if (options.maxObjects !== undefined)
                yield* refuseObjectExplosion(root, nodes, options.maxObjects)

              // From here on only the view: the checked files, private to this build. Decryption writes
              // plaintext into it, and the sandboxed kustomize can read nothing else.
              const view = path.join(work, "view")
              const home = path.join(work, "home")
              yield* Effect.promise(() => fs.mkdir(home, { mode: 0o700 }))
              const inView = yield* makeView(root, files, view, entry)
              const viewDir = inView(dir)
              const viewNodes = yield* walkKustomizations(view, viewDir, resolver)

              const pre = keys
                ? yield* decryptSources(view, viewNodes, keys)
                : { warnings: [], decrypted: [], values: [] }
              const built = yield* kustomize.build({ dir: viewDir, view, home, redact: pre.values })
              const post = keys
                ? yield* decryptResources(built, keys)
                : { objects: built, warnings: [], values: [] }
              yield* refuseStillEncrypted(post.objects)

              const substituted = yield* substitute(post.objects, request.namespace, spec.postBuild, {
                strict,
                ...(options.maxSubstitutedSize === undefined
                  ? {}
                  : { maxSubstitutedSize: options.maxSubstitutedSize }),
              }).pipe(Effect.provideService(ConfigLookup, lookup))
              const objects = applyCommonMetadata(substituted.objects, spec.commonMetadata)
              const printed = yield* printObjectsOffThread(objects)
              return {
                revision: request.artifact.revision,
                objects,
                digest: `sha256:${createHash("sha256").update(printed).digest("hex")}`,
                warnings: [...pre.warnings, ...post.warnings],
                decryptedFiles: pre.decrypted,
                sensitive: [...pre.values, ...post.values, ...substituted.sensitive],
                decrypted: [...pre.values, ...post.values],
              } satisfies BuildResult
            },
            Effect.scoped,
            Effect.provideService(Decryptor, decryptor),
          ),
        })
      }),
    )
  }
}
