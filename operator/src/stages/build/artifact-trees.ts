/**
 * Extracted artifacts shared by every build that needs them: one tree per artifact digest, extracted once,
 * read-only, reference-counted. A build holds its tree for the length of its scope and copies only what its
 * kustomization graph reads into its private view (`view.ts`), so N Kustomizations on one repository cost one
 * extraction, not N.
 *
 * A tree nobody holds is kept while it is the newest digest seen for its source (the next reconcile of any
 * Kustomization on that source finds it ready) and removed as soon as a newer digest of the same source is
 * acquired, or when more than {@link ArtifactTreesOptions.retain} idle trees are kept (least recently used
 * first). Decrypted files never enter a tree: decryption writes into the build's view only, and the build's own
 * kustomization file (generated or edited from the spec) is written there from memory.
 *
 * An artifact without a digest (a local directory standing in for one, as the CLI builds a checkout) may
 * change under the same name, so its tree is private to the build that acquired it and removed with it.
 *
 * Every tree is checked once, right after extraction, for symbolic links leaving it (a local directory may
 * hold them; extracted artifacts hold none), so builds need not walk the whole tree again.
 *
 * @module
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Context, Deferred, Effect, Exit, Layer, type Scope } from "effect"
import { type ArtifactRef, ArtifactUnpacker } from "./artifact.ts"
import { refuseEscapingSymlinks } from "./confinement.ts"
import { ArtifactFailed, type BuildFailed } from "./errors.ts"
import { scratchParent } from "./workdir.ts"

/** Directory name prefix of trees, for the start-up sweep of trees a killed process left behind. */
export const treePrefix = "kustodian-tree-"

export interface ArtifactTreesOptions {
  /** Idle trees kept at most (the newest digest of each source, least recently used dropped first). */
  readonly retain?: number
}

interface Tree {
  /** {@link treeKey}; undefined for a private tree. */
  readonly key: string | undefined
  readonly digest: string
  readonly source: string
  readonly dir: Deferred.Deferred<string, ArtifactFailed | BuildFailed>
  holders: number
  lastUsed: number
}

const sourceKey = (a: ArtifactRef) => `${a.kind ?? "GitRepository"}/${a.namespace ?? ""}/${a.name ?? ""}`

/** Trees are shared by digest (and URL: a digest names content, a URL where it came from); none without one. */
const treeKey = (a: ArtifactRef) => (a.digest === "" ? undefined : `${a.digest} ${a.url}`)

/** Makes every directory of the tree writable again so it can be removed, then removes it. */
const removeTree = async (dir: string) => {
  const walk = async (d: string) => {
    await fs.chmod(d, 0o700).catch(() => undefined)
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => []))
      if (e.isDirectory()) await walk(path.join(d, e.name))
  }
  await walk(dir)
  await fs.rm(dir, { recursive: true, force: true, maxRetries: 3 })
}

/** Directories 0500, files 0400: a build that tried to write into the shared tree would fail loudly. */
const makeReadOnly = async (dir: string) => {
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) await makeReadOnly(p)
    else if (e.isFile()) await fs.chmod(p, 0o400)
  }
  await fs.chmod(dir, 0o500)
}

/** The shared, read-only trees of artifacts. */
export class ArtifactTrees extends Context.Service<
  ArtifactTrees,
  {
    /** The tree of `artifact`: a read-only directory, valid until the caller's scope closes. */
    readonly acquire: (
      artifact: ArtifactRef,
    ) => Effect.Effect<string, ArtifactFailed | BuildFailed, Scope.Scope>
    /** Digests extracted right now (for tests and metrics). */
    readonly digests: () => ReadonlyArray<string>
  }
>()("kustodian/stages/build/ArtifactTrees") {
  static layer(options: ArtifactTreesOptions = {}) {
    return Layer.effect(
      ArtifactTrees,
      Effect.gen(function* () {
        const unpacker = yield* ArtifactUnpacker
        const retain = options.retain ?? 64
        const trees = new Map<string, Tree>()
        const newest = new Map<string, string>()
        const layerScope = yield* Effect.scope

        const drop = (tree: Tree) =>
          Effect.gen(function* () {
            if (tree.key !== undefined && trees.get(tree.key) === tree) trees.delete(tree.key)
            const exit = yield* Deferred.await(tree.dir).pipe(Effect.exit)
            if (Exit.isSuccess(exit)) yield* Effect.promise(() => removeTree(path.dirname(exit.value)))
          })

        /** Idle trees that are no source's newest, and the oldest idle ones beyond `retain`. */
        const collect = Effect.gen(function* () {
          const idle = [...trees.values()].filter((t) => t.holders === 0)
          const stale = idle.filter((t) => newest.get(t.source) !== t.digest)
          const current = idle
            .filter((t) => newest.get(t.source) === t.digest)
            .sort((a, b) => a.lastUsed - b.lastUsed)
          const excess = current.slice(0, Math.max(0, current.length - retain))
          yield* Effect.forEach([...stale, ...excess], drop, { discard: true })
        })

        const extract = (artifact: ArtifactRef, tree: Tree) =>
          Effect.gen(function* () {
            const parent = yield* Effect.tryPromise({
              try: async () => fs.mkdtemp(path.join(await scratchParent(), treePrefix)),
              catch: (e) =>
                new ArtifactFailed({
                  message: `failed to create an extraction directory: ${(e as NodeJS.ErrnoException).code ?? "error"}`,
                  terminal: false,
                }),
            })
            const dir = path.join(parent, "tree")
            const result = yield* Effect.gen(function* () {
              yield* Effect.promise(() => fs.mkdir(dir, { mode: 0o700 }))
              yield* unpacker.unpack(artifact, dir)
              yield* refuseEscapingSymlinks(dir)
              yield* Effect.promise(() => makeReadOnly(dir))
              return dir
            }).pipe(Effect.tapError(() => Effect.promise(() => removeTree(parent))))
            return result
          }).pipe(
            Effect.exit,
            Effect.flatMap((exit) =>
              Effect.gen(function* () {
                // A failed extraction is forgotten at once, so the next reconcile tries again.
                if (Exit.isFailure(exit) && tree.key !== undefined && trees.get(tree.key) === tree)
                  trees.delete(tree.key)
                yield* Deferred.done(tree.dir, exit)
              }),
            ),
          )

        const release = (tree: Tree) =>
          Effect.suspend(() => {
            tree.holders--
            tree.lastUsed = Date.now()
            return tree.key === undefined ? drop(tree) : collect
          })

        yield* Effect.addFinalizer(() =>
          Effect.forEach([...trees.values()], drop, { discard: true }).pipe(Effect.ignore),
        )

        return ArtifactTrees.of({
          digests: () => [...trees.values()].map((t) => t.digest),
          acquire: Effect.fn("ArtifactTrees.acquire")(function* (artifact: ArtifactRef) {
            const tree = yield* Effect.acquireRelease(
              Effect.gen(function* () {
                const source = sourceKey(artifact)
                const key = treeKey(artifact)
                if (key !== undefined) newest.set(source, artifact.digest)
                let tree = key === undefined ? undefined : trees.get(key)
                if (tree === undefined) {
                  tree = {
                    key,
                    digest: artifact.digest,
                    source,
                    dir: yield* Deferred.make<string, ArtifactFailed | BuildFailed>(),
                    holders: 0,
                    lastUsed: Date.now(),
                  }
                  if (key !== undefined) trees.set(key, tree)
                  // Extraction belongs to the service, not to the first caller: an interrupted build does not
                  // leave the others waiting on a half-made tree.
                  yield* Effect.forkIn(extract(artifact, tree), layerScope)
                }
                tree.holders++
                return tree
              }),
              release,
            )
            yield* collect
            return yield* Deferred.await(tree.dir)
          }),
        })
      }),
    )
  }
}
