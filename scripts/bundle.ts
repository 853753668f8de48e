/**
 * Builds the shipped JavaScript: `operator/bin/kustodian.ts` and everything it imports, bundled by esbuild into
 * `.build/kustodian/` (ES modules, one chunk per lazily loaded library, source maps). The image and the
 * published package run this, never TypeScript through type stripping: start-up parses less, and the operator
 * pays only for the code it runs (OpenPGP and the kubeconfig library load when first needed). Every library is
 * inside the bundle, so the package has no dependencies to install (every library is a devDependency); it
 * targets Node 22: the package's `engines` admit 22.19 and later, what the bundled undici and
 * @effect/platform-node require (`npm pack` runs this through `prepack`, into `dist/cli/` without source maps).
 *
 *   node scripts/bundle.ts [--outdir DIR] [--no-sourcemap]
 *
 * `sharedOptions` is also what `scripts/sea.ts` bundles the single-file executable with.
 */
import { rmSync } from "node:fs"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"
import * as esbuild from "esbuild"

export const root = resolve(import.meta.dirname, "..")

/** What every build of the CLI shares: Node as the platform, the oldest supported Node as the target. */
export const sharedOptions = {
  bundle: true,
  platform: "node",
  target: "node22",
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
} as const satisfies esbuild.BuildOptions

export const bundle = async (outdir: string, sourcemap: boolean) => {
  rmSync(outdir, { recursive: true, force: true })
  const result = await esbuild.build({
    ...sharedOptions,
    entryPoints: {
      kustodian: join(root, "operator/bin/kustodian.ts"),
      // Loaded by URL from workers/pool.ts; kept at the top of outdir, where every chunk is.
      worker: join(root, "operator/src/workers/worker.ts"),
    },
    outdir,
    splitting: true,
    format: "esm",
    outExtension: { ".js": ".mjs" },
    sourcemap,
    // A few CommonJS dependencies call require(); ES module output needs it defined.
    banner: {
      js: "import { createRequire as __kustodianRequire } from 'node:module'; const require = __kustodianRequire(import.meta.url);",
    },
    // CommonJS dependencies that read __dirname at load (google-gax) get the chunk's directory.
    define: { __dirname: "import.meta.dirname", __filename: "import.meta.filename" },
  })
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0)
  return { files: Object.keys(result.metafile.outputs).length, bytes }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { outdir: { type: "string" }, "no-sourcemap": { type: "boolean", default: false } },
  })
  const outdir = resolve(values.outdir ?? join(root, ".build/kustodian"))
  const { files, bytes } = await bundle(outdir, !values["no-sourcemap"])
  console.log(`bundled into ${outdir}: ${files} files, ${(bytes / 1048576).toFixed(1)} MiB`)
}
