/**
 * A local checkout as the artifact of `kustodian build`/`diff`: the files a GitRepository's artifact would hold
 * (Flux's exclusions — VCS files, images, archives, CI config, `.sops.yaml` — and every `.sourceignore`, by the
 * fetch stage's own rules), copied with their symbolic links so the build's confinement checks see them, within
 * the operator's checkout bounds (`--max-checkout-files`, `--max-checkout-size` defaults). The root is the git
 * work tree holding `--path` (else the current directory when it holds it, else `--path` itself), so `../base`
 * references resolve as they do in the repository.
 *
 * @module
 */
import { existsSync } from "node:fs"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import { defaultLimits, formatLimit, limitFlag } from "../limits.ts"
import { type ArtifactRef, ArtifactUnpacker } from "../stages/build/artifact.ts"
import { ArtifactFailed } from "../stages/build/errors.ts"
import { SourceIgnore, sourceIgnoreFile } from "../stages/fetch/source-ignore.ts"

/** The artifact root for `dir` (absolute): its git work tree, else `cwd` when it holds `dir`, else `dir`. */
export const sourceRoot = (dir: string, cwd: string): string => {
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, ".git"))) return d
    if (path.dirname(d) === d) break
  }
  const rel = path.relative(cwd, dir)
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel)) ? cwd : dir
}

const failed = (message: string) => new ArtifactFailed({ message, terminal: true })

/** Copies `src` into `dst` as the fetch stage would package it. */
const copySource = async (src: string, dst: string) => {
  let files = 0
  let bytes = 0
  const walk = async (rel: string, ignore: SourceIgnore) => {
    const from = path.join(src, rel)
    const entries = await fs.readdir(from, { withFileTypes: true })
    const own = entries.find((e) => e.name === sourceIgnoreFile && e.isFile())
    const rules = own
      ? ignore.withFile(rel.split(path.sep).join("/"), await fs.readFile(path.join(from, own.name), "utf8"))
      : ignore
    for (const e of entries) {
      const r = rel === "" ? e.name : path.join(rel, e.name)
      const posix = r.split(path.sep).join("/")
      if (rules.ignores(e.isDirectory() ? `${posix}/` : posix)) continue
      const to = path.join(dst, r)
      if (e.isDirectory()) {
        await fs.mkdir(to, { mode: 0o700 })
        await walk(r, rules)
        continue
      }
      if (++files > defaultLimits.maxCheckoutFiles)
        throw new Error(
          `more than ${formatLimit("maxCheckoutFiles", defaultLimits.maxCheckoutFiles)} files (the operator's ${limitFlag("maxCheckoutFiles")})`,
        )
      if (e.isSymbolicLink()) await fs.symlink(await fs.readlink(path.join(src, r)), to)
      else if (e.isFile()) {
        bytes += (await fs.stat(path.join(src, r))).size
        if (bytes > defaultLimits.maxCheckoutSize)
          throw new Error(
            `more than ${formatLimit("maxCheckoutSize", defaultLimits.maxCheckoutSize)} of files (the operator's ${limitFlag("maxCheckoutSize")})`,
          )
        await fs.copyFile(path.join(src, r), to)
      }
    }
  }
  await walk("", SourceIgnore.forSpec(undefined))
}

/** `artifact.url` names a local checkout. */
export const localSourceUnpacker = Layer.succeed(
  ArtifactUnpacker,
  ArtifactUnpacker.of({
    unpack: Effect.fn("ArtifactUnpacker.unpackLocalSource")(function* (artifact: ArtifactRef, dir: string) {
      yield* Effect.tryPromise({
        try: () => copySource(path.resolve(artifact.url), dir),
        catch: (e) =>
          failed(
            `cannot read the source '${artifact.url}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
          ),
      })
    }),
  }),
)
