/**
 * What a user waits for per `kustodian` command, by install route: the TypeScript sources under Node 24 (type
 * stripping, a checkout), the published package's bundle (`scripts/bundle.ts` as `prepack` builds it) under
 * Node 24 and Node 22 (`bash scripts/tools.sh node22`), and the single-file executable (`scripts/sea.ts`).
 * Wall time of `--version` and of `decrypt` of a one-value age file, each a fresh process, run in turn.
 * `npm run bench:startup [-- --runs=N]`; results in docs/benchmarks.md.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { hasTool, toolPath } from "../e2e/support/tools.ts"
import { bundle, root } from "../scripts/bundle.ts"
import { buildSea } from "../scripts/sea.ts"

const { values } = parseArgs({ options: { runs: { type: "string", default: "15" } } })
const runs = Number(values.runs)
const work = mkdtempSync(join(tmpdir(), "kustodian-bench-startup-"))
try {
  const load0 = loadavg()[0]!
  await bundle(join(work, "cli"), false)
  const sea = join(work, "kustodian-sea")
  await buildSea(sea)
  const mjs = join(work, "cli/kustodian.mjs")
  const routes: Array<{ name: string; argv: ReadonlyArray<string> }> = [
    {
      name: "sources, Node 24 (type stripping)",
      argv: [process.execPath, join(root, "operator/bin/kustodian.ts")],
    },
    { name: "npm package, Node 24", argv: [process.execPath, mjs] },
    ...(hasTool("node22") ? [{ name: "npm package, Node 22", argv: [toolPath("node22"), mjs] }] : []),
    { name: "single-file executable", argv: [sea] },
  ]
  const key = spawnSync(process.execPath, [mjs, "keygen", "age", "-o", join(work, "key.txt")], {
    encoding: "utf8",
  })
  const recipient = /Public key: (\S+)/.exec(key.stderr)![1]!
  writeFileSync(join(work, "s.yaml"), "apiVersion: v1\nkind: Secret\nstringData:\n    password: change-me\n")
  const enc = spawnSync(process.execPath, [mjs, "encrypt", `--age=${recipient}`, join(work, "s.yaml")], {
    encoding: "utf8",
  })
  writeFileSync(join(work, "s.enc.yaml"), enc.stdout)
  const commands = [["--version"], ["decrypt", join(work, "s.enc.yaml")]]
  const times = new Map<string, number[]>()
  for (let i = 0; i < runs; i++)
    for (const route of routes)
      for (const command of commands) {
        const start = performance.now()
        const r = spawnSync(route.argv[0]!, [...route.argv.slice(1), ...command], {
          env: { SOPS_AGE_KEY_FILE: join(work, "key.txt"), HOME: work },
          encoding: "utf8",
        })
        const ms = performance.now() - start
        if (r.status !== 0) throw new Error(`${route.name} ${command[0]}: exit ${r.status}: ${r.stderr}`)
        const k = `${route.name}\t${command[0]}`
        times.set(k, [...(times.get(k) ?? []), ms])
      }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  console.log(
    `${new Date().toISOString()}, Node ${process.version}, ${runs} runs each, load ${load0.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}`,
  )
  console.log(`single-file executable: ${(statSync(sea).size / 1048576).toFixed(1)} MiB`)
  console.log("| route | `--version` p50 ms | min | `decrypt` p50 ms | min |\n|---|---|---|---|---|")
  for (const route of routes) {
    const v = times.get(`${route.name}\t--version`)!
    const d = times.get(`${route.name}\tdecrypt`)!
    const f = (x: number) => x.toFixed(0)
    console.log(
      `| ${route.name} | ${f(median(v))} | ${f(Math.min(...v))} | ${f(median(d))} | ${f(Math.min(...d))} |`,
    )
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}
