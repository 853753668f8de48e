/**
 * Builds the shipped JavaScript: `operator/bin/kustodian.ts` and everything it imports, bundled by esbuild into
 * `.build/kustodian/` (ES modules, one chunk per lazily loaded library, source maps). The image and the
 * published package run this, never TypeScript through type stripping: start-up parses less, and the operator
 * pays only for the code it runs (OpenPGP and the kubeconfig library load when first needed).
 *
 *   node scripts/bundle.ts [--outdir DIR]
 */
import { rmSync } from "node:fs"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"
import * as esbuild from "esbuild"

const { values } = parseArgs({ options: { outdir: { type: "string" } } })
const root = resolve(import.meta.dirname, "..")
const outdir = resolve(values.outdir ?? join(root, ".build/kustodian"))
rmSync(outdir, { recursive: true, force: true })

const result = await esbuild.build({
  entryPoints: {
    kustodian: join(root, "operator/bin/kustodian.ts"),
    // Loaded by URL from workers/pool.ts; kept at the top of outdir, where every chunk is.
    worker: join(root, "operator/src/workers/worker.ts"),
  },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node22",
  outExtension: { ".js": ".mjs" },
  sourcemap: true,
  // A few CommonJS dependencies call require(); ES module output needs it defined.
  banner: {
    js: "import { createRequire as __kustodianRequire } from 'node:module'; const require = __kustodianRequire(import.meta.url);",
  },
  // CommonJS dependencies that read __dirname at load (google-gax) get the chunk's directory.
  define: { __dirname: "import.meta.dirname", __filename: "import.meta.filename" },
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
})
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0)
console.log(
  `bundled into ${outdir}: ${Object.keys(result.metafile.outputs).length} files, ${(bytes / 1048576).toFixed(1)} MiB`,
)
