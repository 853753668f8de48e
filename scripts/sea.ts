/**
 * Builds the single-file executable for machines without Node (`npm run build:sea`): Node 24's single executable
 * application. The CLI is bundled by esbuild into one CommonJS file (Node 24's SEA runs a CommonJS main script
 * only, and `require` there loads built-in modules only: every library is inside), the worker of
 * `workers/pool.ts` into a second one embedded as the asset `worker.cjs`; `node --experimental-sea-config` turns
 * both into a blob and postject injects it into a copy of this Node binary:
 *
 *   dist/kustodian-<platform>-<arch>   (dist/kustodian-linux-x64 here; intermediate files in sea/ beside it)
 *
 *   node scripts/sea.ts [--output FILE]
 */
import { execFileSync } from "node:child_process"
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join, resolve } from "node:path"
import { parseArgs } from "node:util"
import * as esbuild from "esbuild"
import { root, sharedOptions } from "./bundle.ts"

/** The sentinel Node's binary carries for the SEA blob (documented in Node's single-executable-applications). */
const seaFuse = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"

// postject ships CommonJS without type declarations.
const { inject } = createRequire(import.meta.url)("postject") as {
  inject: (file: string, name: string, data: Buffer, options: { sentinelFuse: string }) => Promise<void>
}

/** CommonJS output: `import.meta` has no meaning there, so the few uses get the script's own path. */
const commonJs = {
  ...sharedOptions,
  format: "cjs",
  define: {
    "import.meta.url": "__kustodianUrl",
    "import.meta.dirname": "__dirname",
    "import.meta.filename": "__filename",
  },
  banner: { js: 'var __kustodianUrl = require("node:url").pathToFileURL(__filename).href;' },
} as const satisfies esbuild.BuildOptions

/** The executable's main script: `operator/bin/kustodian.ts` without its top-level await (CommonJS has none). */
const main = `import { run } from "./operator/src/cli/main.ts"
run(process.argv.slice(2)).then((code) => { process.exitCode = code })
`

export const buildSea = async (output: string) => {
  const work = join(dirname(output), "sea")
  rmSync(work, { recursive: true, force: true })
  mkdirSync(work, { recursive: true })
  await esbuild.build({
    ...commonJs,
    stdin: { contents: main, resolveDir: root, loader: "ts", sourcefile: "sea-main.ts" },
    outfile: join(work, "kustodian.cjs"),
  })
  await esbuild.build({
    ...commonJs,
    entryPoints: [join(root, "operator/src/workers/worker.ts")],
    outfile: join(work, "worker.cjs"),
  })
  const config = join(work, "sea-config.json")
  const blob = join(work, "sea-prep.blob")
  writeFileSync(
    config,
    JSON.stringify({
      main: join(work, "kustodian.cjs"),
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      assets: { "worker.cjs": join(work, "worker.cjs") },
    }),
  )
  execFileSync(process.execPath, ["--experimental-sea-config", config], {
    stdio: ["ignore", "ignore", "inherit"],
  })
  rmSync(output, { force: true })
  copyFileSync(process.execPath, output)
  chmodSync(output, 0o755)
  await inject(output, "NODE_SEA_BLOB", readFileSync(blob), { sentinelFuse: seaFuse })
  return statSync(output).size
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { output: { type: "string" } } })
  const output = resolve(values.output ?? join(root, `dist/kustodian-${process.platform}-${process.arch}`))
  const bytes = await buildSea(output)
  console.log(`built ${output}: ${(bytes / 1048576).toFixed(1)} MiB (Node ${process.version})`)
}
