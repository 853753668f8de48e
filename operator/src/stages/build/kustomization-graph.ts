/**
 * The path resolver: the graph of kustomization files a build reads, with every path, directory and URL
 * their fields name resolved and checked before kustomize runs. kustomize runs with `LoadRestrictionsNone`
 * (as Flux does, so patches and generator inputs may sit in sibling directories), which means kustomize
 * itself would read any absolute or `../` path, follow any link and fetch any URL: this walk is what keeps
 * it inside the artifact root.
 *
 * What is walked, mirroring kustomize v5.8 (api/internal/target/kusttarget.go):
 * - the root kustomization and, recursively, every local directory named in `resources`/`bases` or
 *   `components`;
 * - every field naming a file (`kustomization-file.ts` lists them), resolved against its kustomization's
 *   directory;
 * - `generators`/`transformers`/`validators` entries, each as inline YAML *and* as a path (kustomize tries
 *   inline first; checking both readings cannot miss the one it takes): a file of plugin configs, or a
 *   kustomization directory whose resources are plugin configs. Configs are scanned by `plugin-config.ts`
 *   and their paths resolved against the directory of the kustomization that *lists* them, as kustomize's
 *   plugin loader does. A directory may only list resources and set metadata (see
 *   {@link pluginDirectoryFields}): anything that could rewrite the configs before kustomize reads them is
 *   refused, since we could not resolve its result statically.
 *
 * Every local path must be inside the root lexically and after resolving symbolic links (of the path or of
 * its nearest existing ancestor); devices, FIFOs and sockets are refused. URLs follow `remote-url.ts`.
 * Refusals are terminal `BuildFailed` errors naming the kustomization file (root-relative), the field and the
 * offending path or URL; never file content.
 *
 * @module
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
import { BuildFailed } from "./errors.ts"
import {
  fieldEntries,
  foldKey,
  isEmptyValue,
  isRecord,
  parseDocuments,
  records,
  shownName,
} from "./go-json-keys.ts"
import { makeAddressPolicy } from "./ip-ranges.ts"
import {
  findKustomizationFile,
  type KustomizationDoc,
  parseKustomizationStrict,
  type Reference,
  scanKustomization,
} from "./kustomization-file.ts"
import { scanPluginConfigs } from "./plugin-config.ts"
import { checkRemote, isRemoteFile, looksLikeUrl, parseGitUrl, type RemotePolicy } from "./remote-url.ts"

/** A reference resolved against the directory of its kustomization file. */
export interface ResolvedReference {
  readonly ref: Reference
  /** Absolute path, lexically resolved (inside the root; its link resolution is inside the root too). */
  readonly abs: string
  /** What is at `abs`. Remote references are never read locally. */
  readonly kind: "file" | "dir" | "missing" | "remote"
}

/** One kustomization file of the graph. */
export interface KustomizationNode {
  readonly dir: string
  readonly file: string
  readonly doc: KustomizationDoc
  readonly refs: ReadonlyArray<ResolvedReference>
}

export interface ResolverOptions {
  /** `--no-remote-bases`: every URL in every field is refused (default false). */
  readonly noRemoteBases?: boolean
  /** The cluster's service network CIDRs, refused as URL hosts like loopback (default none). */
  readonly serviceCidrs?: ReadonlyArray<string>
  /**
   * URL prefixes trusted as they are (e.g. an in-cluster git mirror over http): a URL starting with one skips
   * the scheme and address checks, not `noRemoteBases` (default none). Each must end with `/` (others are
   * ignored).
   */
  readonly trustedRemotePrefixes?: ReadonlyArray<string>
  /** Largest kustomization or plugin config file parsed (default 5 MiB, Flux's decryption limit). */
  readonly maxFileSize?: number
  /** Most references one graph may hold, plugin paths included (default 100 000). */
  readonly maxReferences?: number
  /**
   * The build's own kustomization file for `start` (generated, or edited from the Kustomization's spec), read
   * instead of `start`'s file on disk: the shared artifact tree is never written to.
   */
  readonly entry?: KustomizationEntry
}

/** A kustomization file's path and the text to use for it. */
export interface KustomizationEntry {
  readonly file: string
  readonly text: string
}

/** `p` relative to `root`, with forward slashes; what errors show. */
export const relativeTo = (root: string, p: string) => path.relative(root, p).split(path.sep).join("/") || "."

/** True when `p` is `root` or below it. */
export const isWithin = (root: string, p: string) => {
  const rel = path.relative(root, p)
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel))
}

/**
 * The top-level fields a kustomization directory used as a `generators`/`transformers`/`validators` source
 * may set: resources and fields that only touch metadata with kustomize's default field specs. Everything
 * else (patches, transformers, generators, replacements, configurations, crds, components, …) could rewrite
 * the plugin configs it emits, so it is refused there.
 */
export const pluginDirectoryFields: ReadonlySet<string> = new Set([
  "apiversion",
  "kind",
  "metadata",
  "resources",
  "bases",
  "namespace",
  "nameprefix",
  "namesuffix",
  "commonlabels",
  "commonannotations",
  "labels",
  "buildmetadata",
  "sortoptions",
])

const fieldOf = (ref: Reference) => ref.field ?? ref.use

/** A path or URL as messages show it: one line, at most 200 characters. */
const shown = (s: string) => shownName(s, 200)

type Kind = "file" | "dir" | "missing" | "special"

const kindOf = async (p: string): Promise<Kind> => {
  try {
    const st = await fs.stat(p)
    return st.isDirectory() ? "dir" : st.isFile() ? "file" : "special"
  } catch {
    return "missing"
  }
}

/**
 * Where `abs` leads after resolving links: its realpath, or for a missing path the realpath of its nearest
 * existing ancestor joined with the rest. `undefined` when something on the way exists but cannot be
 * resolved (a dangling or looping link).
 */
const realOf = async (abs: string): Promise<string | undefined> => {
  try {
    return await fs.realpath(abs)
  } catch {
    // fall through: find the nearest ancestor that resolves
  }
  let cur = abs
  const rest: string[] = []
  for (;;) {
    const exists = await fs.lstat(cur).then(
      () => true,
      () => false,
    )
    if (exists) return undefined
    const parent = path.dirname(cur)
    if (parent === cur) return cur
    rest.unshift(path.basename(cur))
    cur = parent
    const real = await fs.realpath(cur).catch(() => undefined)
    if (real !== undefined) return path.join(real, ...rest)
  }
}

/**
 * True when kustomize takes the entry as inline YAML rather than as a path (plugin sources and
 * `patchesStrategicMerge` entries are tried inline first), so a missing file of that name is no error.
 */
const isInlineYaml = (ref: Reference) => {
  if (ref.use !== "plugin-source" && ref.use !== "patch") return false
  try {
    return parseDocuments(ref.path).some(isRecord)
  } catch {
    return false
  }
}

/** Reads a file of the graph with a size cap (before parsing anything). */
const readCapped = async (p: string, max: number): Promise<string | { size: number }> => {
  // O_NONBLOCK: should a FIFO ever be swapped in after the type check, open must not hang the walk.
  const handle = await fs.open(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
  try {
    const st = await handle.stat()
    if (st.size > max) return { size: st.size }
    return await handle.readFile("utf8")
  } finally {
    await handle.close()
  }
}

/**
 * Walks from the kustomization in `start`, resolving and checking everything (see the module comment). The
 * first node is `start`'s; a missing kustomization in a referenced directory is left for kustomize to report.
 */
export const walkKustomizations = Effect.fn("walkKustomizations")(function* (
  root: string,
  start: string,
  options: ResolverOptions = {},
) {
  const realRoot = yield* Effect.promise(() => fs.realpath(root))
  const addresses = yield* Effect.try({
    try: () => makeAddressPolicy(options.serviceCidrs ?? []),
    catch: (e) => new BuildFailed({ message: (e as Error).message, terminal: true }),
  })
  const policy: RemotePolicy = { noRemoteBases: options.noRemoteBases ?? false, addresses, hosts: new Map() }
  // Only prefixes ending in '/' are honoured: `https://mirror` would also match `https://mirror.evil.example/`.
  const trusted = (options.trustedRemotePrefixes ?? []).filter((t) => t.endsWith("/"))
  const maxFileSize = options.maxFileSize ?? 5 * 1024 * 1024
  const maxReferences = options.maxReferences ?? 100_000
  let referenceCount = 0

  const nodes: KustomizationNode[] = []
  const seen = new Map<string, KustomizationNode | null>()
  const pluginDirsSeen = new Set<string>()
  const queue: string[] = []

  const fail = (rel: string, field: string | undefined, message: string, terminal = true) =>
    new BuildFailed({ message, file: rel, ...(field === undefined ? {} : { keyPath: field }), terminal })

  /** Refusal of a path or URL: "'<path>' in '<file>' <reason> (<field>)". */
  const refusePath = (rel: string, ref: Reference, reason: string, terminal = true) =>
    fail(rel, fieldOf(ref), `'${shown(ref.path)}' in '${rel}' ${reason} (${fieldOf(ref)})`, terminal)

  /** Reads and parses a file of the graph (kustomization or plugin configs), confined and capped. */
  const readGraphFile = (abs: string, rel: string, ref: Reference | undefined) =>
    Effect.gen(function* () {
      const text = yield* Effect.tryPromise({
        try: () => readCapped(abs, maxFileSize),
        catch: () => fail(rel, ref?.field, `failed to read '${relativeTo(root, abs)}'`, false),
      })
      if (typeof text !== "string") {
        const what = relativeTo(root, abs)
        return yield* fail(
          rel,
          ref?.field,
          `file '${what}' size (${text.size} bytes) exceeds the limit (${maxFileSize} bytes)`,
        )
      }
      return text
    })

  /** Lexical and link-resolved containment of the local reading of `ref`, and what is there. */
  const resolveLocal = (dir: string, rel: string, ref: Reference) =>
    Effect.gen(function* () {
      const abs = path.resolve(dir, ref.path)
      if (!isWithin(root, abs)) return yield* refusePath(rel, ref, "points outside the artifact root")
      const real = yield* Effect.promise(() => realOf(abs))
      if (real === undefined) return yield* refusePath(rel, ref, "is a symbolic link that cannot be resolved")
      if (!isWithin(realRoot, real))
        return yield* refusePath(rel, ref, "points outside the artifact root through a symbolic link")
      const kind = yield* Effect.promise(() => kindOf(real))
      if (kind === "special") return yield* refusePath(rel, ref, "is not a regular file or directory")
      return { abs, kind }
    })

  /** How kustomize may take `ref.path` as a URL: as an HTTP file, a git clone, or not at all. */
  const urlUse = (ref: Reference): "file" | "git" | undefined => {
    const p = ref.path
    switch (ref.use) {
      case "resource":
      case "plugin-source":
        return isRemoteFile(p) || parseGitUrl(p) !== undefined ? "git" : undefined
      case "component":
        return parseGitUrl(p) !== undefined ? "git" : undefined
      default:
        return isRemoteFile(p) ? "file" : undefined
    }
  }

  /** Resolves one reference of the kustomization in `dir` (file `rel`), checking every reading of it. */
  const resolveRef = (dir: string, rel: string, ref: Reference) =>
    Effect.gen(function* () {
      if (++referenceCount > maxReferences)
        return yield* fail(
          rel,
          fieldOf(ref),
          `the kustomization graph names more than ${maxReferences} paths`,
        )
      const use = urlUse(ref)
      if (use !== undefined || (policy.noRemoteBases && looksLikeUrl(ref.path))) {
        if (ref.use === "plugin-source")
          return yield* refusePath(rel, ref, "is refused: plugin configs from a URL cannot be checked")
        if (!trusted.some((t) => ref.path.startsWith(t)) || policy.noRemoteBases) {
          const verdict = yield* Effect.promise(() => checkRemote(ref.path, use ?? "git", policy))
          if (verdict !== undefined) {
            const reason = policy.noRemoteBases
              ? "remote bases are disabled (--no-remote-bases)"
              : verdict.reason
            return yield* refusePath(rel, ref, `is refused: ${reason}`, !verdict.retryable)
          }
        }
        // Should kustomize fall back to the local reading, it must be inside the root too.
        const local = yield* resolveLocal(dir, rel, ref)
        return { ref, abs: local.abs, kind: "remote" } satisfies ResolvedReference
      }
      const local = yield* resolveLocal(dir, rel, ref)
      if (local.kind === "missing" && !isInlineYaml(ref))
        return yield* refusePath(
          rel,
          ref,
          "does not exist in the artifact (symbolic links in Git are not kept in artifacts)",
          // Retried, as Flux retries a build that failed on a missing file.
          false,
        )
      return { ref, abs: local.abs, kind: local.kind } satisfies ResolvedReference
    })

  /** Refuses a kustomization directory used as a plugin source when it sets more than resources and metadata. */
  const checkPluginDirectory = (doc: KustomizationDoc, rel: string, field: string) =>
    Effect.gen(function* () {
      for (const [key, value] of Object.entries(doc)) {
        const folded = foldKey(key)
        const labelFields =
          folded === "labels" &&
          records(value).some((l) => fieldEntries(l, "fields").some(([, f]) => !isEmptyValue(f)))
        if ((pluginDirectoryFields.has(folded) && !labelFields) || isEmptyValue(value)) continue
        return yield* fail(
          rel,
          field,
          `'${rel}' is used as a plugin config source (${field}) and sets '${key}', which could rewrite the ` +
            "configs before kustomize reads them: only resources and metadata fields are allowed there",
        )
      }
    })

  /** Scans plugin config documents and resolves their paths against the listing kustomization's `dir`. */
  const pluginConfigs = (docs: ReadonlyArray<unknown>, label: string, dir: string, rel: string) =>
    Effect.gen(function* () {
      const scan = scanPluginConfigs(docs, label)
      if ("refused" in scan)
        return yield* fail(
          rel,
          scan.refused.field,
          `${scan.refused.reason} (${scan.refused.field} in '${rel}')`,
        )
      const out: ResolvedReference[] = []
      for (const r of scan.refs) out.push(yield* resolveRef(dir, rel, r))
      return out
    })

  /** Plugin configs in a file: every document, resolved against the listing `dir`. */
  const pluginFile = (abs: string, label: string, dir: string, rel: string, ref: Reference) =>
    Effect.gen(function* () {
      const text = yield* readGraphFile(abs, rel, ref)
      const docs = yield* Effect.try({
        try: () => parseDocuments(text),
        catch: () =>
          fail(
            rel,
            fieldOf(ref),
            `'${relativeTo(root, abs)}' is not valid YAML (${fieldOf(ref)} in '${rel}')`,
          ),
      })
      return yield* pluginConfigs(docs, `${label} '${relativeTo(root, abs)}'`, dir, rel)
    })

  /**
   * A kustomization directory of plugin configs: checked as a kustomization of its own (its fields'
   * paths), restricted to resources and metadata, and its resource files scanned as configs whose paths
   * resolve against the listing `dir`. Nested resource directories are plugin sources too.
   */
  const pluginDirectory = (
    sourceDir: string,
    label: string,
    dir: string,
    rel: string,
    ref: Reference,
  ): Effect.Effect<ResolvedReference[], BuildFailed> =>
    Effect.gen(function* () {
      const key = `${dir}\u0000${sourceDir}`
      if (pluginDirsSeen.has(key)) return []
      pluginDirsSeen.add(key)
      const node = yield* visit(sourceDir, (doc, nodeRel) => checkPluginDirectory(doc, nodeRel, fieldOf(ref)))
      if (node === undefined) return []
      const out: ResolvedReference[] = []
      for (const r of node.refs) {
        if (r.ref.use !== "resource") continue
        const at = `${label} → ${relativeTo(root, node.file)} ${fieldOf(r.ref)}`
        if (r.kind === "remote")
          return yield* fail(
            rel,
            fieldOf(ref),
            `'${shown(r.ref.path)}' is refused: plugin configs from a URL cannot be checked (${at} in '${rel}')`,
          )
        if (r.kind === "file") out.push(...(yield* pluginFile(r.abs, at, dir, rel, ref)))
        if (r.kind === "dir") out.push(...(yield* pluginDirectory(r.abs, at, dir, rel, ref)))
      }
      return out
    })

  /**
   * Visits the kustomization in `dir` once (later calls return the same node); `restrict` checks its
   * document before any reference is followed. Resource and component directories are queued.
   */
  const visit = (
    dir: string,
    restrict?: (doc: KustomizationDoc, rel: string) => Effect.Effect<void, BuildFailed>,
  ): Effect.Effect<KustomizationNode | undefined, BuildFailed> =>
    Effect.gen(function* () {
      const known = seen.get(dir)
      if (known !== undefined && restrict === undefined) return known ?? undefined
      const entry = dir === start ? options.entry : undefined
      const file = entry?.file ?? (yield* Effect.promise(() => findKustomizationFile(dir)))
      if (file === undefined) {
        seen.set(dir, null)
        return undefined
      }
      const rel = relativeTo(root, file)
      if (entry === undefined) {
        const real = yield* Effect.promise(() => realOf(file))
        if (real === undefined || !isWithin(realRoot, real))
          return yield* fail(rel, undefined, `kustomization file '${rel}' points outside the artifact root`)
      }
      const text = entry?.text ?? (yield* readGraphFile(file, rel, undefined))
      const doc = yield* parseKustomizationStrict(text, rel)
      if (restrict !== undefined) yield* restrict(doc, rel)
      if (known !== undefined) return known ?? undefined
      const refs: ResolvedReference[] = []
      const node: KustomizationNode = { dir, file, doc, refs }
      seen.set(dir, node)
      nodes.push(node)
      const scan = scanKustomization(doc)
      if (scan.refused !== undefined)
        return yield* fail(
          rel,
          scan.refused.field,
          `${scan.refused.reason} ('${scan.refused.field}' in '${rel}')`,
        )
      for (const ref of scan.refs) {
        if (ref.path === "") continue // kustomize reads nothing for an empty entry (it fails instead)
        const resolved = yield* resolveRef(dir, rel, ref)
        refs.push(resolved)
        if (resolved.kind === "dir" && (ref.use === "resource" || ref.use === "component"))
          queue.push(resolved.abs)
        if (ref.use === "plugin-source") {
          // The inline reading: YAML that parses to mappings is taken as configs by kustomize.
          const inline = (() => {
            try {
              return parseDocuments(ref.path)
            } catch {
              return undefined
            }
          })()
          if (inline?.some(isRecord))
            refs.push(...(yield* pluginConfigs(inline, `${fieldOf(ref)} (inline)`, dir, rel)))
          if (resolved.kind === "file")
            refs.push(...(yield* pluginFile(resolved.abs, fieldOf(ref), dir, rel, ref)))
          if (resolved.kind === "dir")
            refs.push(
              ...(yield* pluginDirectory(
                resolved.abs,
                `${fieldOf(ref)} '${shown(ref.path)}'`,
                dir,
                rel,
                ref,
              )),
            )
        }
      }
      return node
    })

  queue.push(start)
  while (queue.length > 0) yield* visit(queue.shift()!)
  return nodes as ReadonlyArray<KustomizationNode>
})

/** Fails on the first remote reference of the graph (`--no-remote-bases`, for graphs walked without it). */
export const refuseRemoteBases = (root: string, nodes: ReadonlyArray<KustomizationNode>) => {
  for (const node of nodes) {
    const remote = node.refs.find((r) => r.kind === "remote")
    if (remote) {
      const rel = relativeTo(root, node.file)
      return Effect.fail(
        new BuildFailed({
          message: `remote bases are disabled (--no-remote-bases): '${remote.ref.path}' in '${rel}'`,
          file: rel,
          keyPath: fieldOf(remote.ref),
          terminal: true,
        }),
      )
    }
  }
  return Effect.void
}
