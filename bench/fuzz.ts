/**
 * `npm run bench:fuzz -- [--inputs=N] [--from=F] [--target=NAME] [--seed=S] [--index=I]`: runs every fuzz target of
 * `bench/fuzz/*.ts` (each module that exports `target`, see `bench/fuzz/target.ts`) on N generated inputs
 * (default 1,000,000) and prints, per target, the inputs run, the failures (property violations, with the
 * input index to replay them), the slowest input and the throughput.
 *
 * Input `i` of a target gets its own PRNG seeded from (seed, target name, i), so `--index=I` replays exactly
 * one input — the failing one a run reported — without running the others, and `--from=F` runs inputs F…F+N-1: two
 * processes with `--from=0 --inputs=N` and `--from=N --inputs=N` run exactly the inputs of one `--inputs=2N` run,
 * on two cores. Exit code 1 when anything failed.
 *
 * @module
 */
import { readdirSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { pathToFileURL } from "node:url"
import type { FuzzTarget } from "./fuzz/target.ts"

const args = new Map(
  process.argv.slice(2).map((a) => {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a)
    if (!m)
      throw new Error(`unknown argument ${a} (use --inputs=N --from=F --target=NAME --seed=S --index=I)`)
    return [m[1]!, m[2] ?? "true"] as const
  }),
)
const inputs = Number(args.get("inputs") ?? 1_000_000)
const seed = Number(args.get("seed") ?? 1)
const from = Number(args.get("from") ?? 0)
if (!Number.isSafeInteger(from) || from < 0) throw new Error("--from must be a non-negative integer")
const only = args.get("target")
const index = args.has("index") ? Number(args.get("index")) : undefined
if (!Number.isSafeInteger(inputs) || inputs < 1) throw new Error("--inputs must be a positive integer")

/** 32-bit FNV-1a of a string: mixes the seed, the target name and the input index into one PRNG seed. */
const fnv = (s: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/** sfc32: small, fast, well distributed; `[0, 1)` like Math.random. */
const prng = (a: number): (() => number) => {
  let b = 0x9e3779b9
  let c = 0x243f6a88
  let d = 0xb7e15162
  const next = () => {
    a |= 0
    b |= 0
    c |= 0
    d |= 0
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
  for (let i = 0; i < 12; i++) next()
  return next
}
const rngFor = (name: string, i: number) => prng(fnv(`${seed}/${name}/${i}`))

const dir = join(import.meta.dirname, "fuzz")
const targets: Array<FuzzTarget> = []
for (const file of readdirSync(dir).sort()) {
  if (!file.endsWith(".ts") || file === "target.ts" || file.endsWith(".test.ts")) continue
  const mod = (await import(pathToFileURL(join(dir, file)).href)) as { target?: FuzzTarget }
  if (mod.target === undefined) continue
  if (only !== undefined && mod.target.name !== only && !mod.target.name.includes(only)) continue
  targets.push(mod.target)
}
if (targets.length === 0) throw new Error(`no fuzz target${only ? ` matches '${only}'` : ""} in ${dir}`)

interface Failure {
  readonly index: number
  readonly message: string
}
interface Report {
  readonly name: string
  readonly asserted: string
  readonly inputs: number
  readonly failures: number
  readonly examples: ReadonlyArray<Failure>
  readonly slowest: { readonly index: number; readonly ms: number }
  readonly seconds: number
}

const describe = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).slice(0, 400)

const runTarget = async (t: FuzzTarget): Promise<Report> => {
  const indices = index === undefined ? undefined : [index]
  const count = indices?.length ?? inputs
  let failures = 0
  const examples: Array<Failure> = []
  let slowest = { index: -1, ms: -1 }
  const start = performance.now()
  let lastReport = start
  for (let n = 0; n < count; n++) {
    const i = indices?.[n] ?? from + n
    const t0 = performance.now()
    try {
      await t.run(rngFor(t.name, i), i)
    } catch (e) {
      failures++
      if (examples.length < 10) examples.push({ index: i, message: describe(e) })
    }
    const t1 = performance.now()
    if (t1 - t0 > slowest.ms) slowest = { index: i, ms: t1 - t0 }
    if (t1 - lastReport > 30_000) {
      lastReport = t1
      const rate = (n + 1) / ((t1 - start) / 1000)
      process.stderr.write(
        `${t.name}: ${n + 1}/${count} inputs, ${failures} failures, ${rate.toFixed(0)}/s, slowest #${slowest.index} ${slowest.ms.toFixed(1)} ms\n`,
      )
    }
  }
  return {
    name: t.name,
    asserted: t.asserted,
    inputs: count,
    failures,
    examples,
    slowest,
    seconds: (performance.now() - start) / 1000,
  }
}

console.log(
  `fuzz: ${targets.map((t) => t.name).join(", ")}; ${index === undefined ? `${inputs} inputs each${from > 0 ? ` from #${from}` : ""}` : `input #${index}`}, seed ${seed}; ` +
    `${cpus().length} cores (${cpus()[0]?.model ?? "?"}), load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}; node ${process.version}; ${new Date().toISOString()}`,
)
const reports: Array<Report> = []
for (const t of targets) {
  const r = await runTarget(t)
  reports.push(r)
  console.log(`\n${r.name}: ${r.asserted}`)
  console.log(
    `  inputs ${r.inputs}, failures ${r.failures}, slowest input #${r.slowest.index} ${r.slowest.ms.toFixed(1)} ms, ` +
      `${r.seconds.toFixed(1)} s (${(r.inputs / r.seconds).toFixed(0)} inputs/s)`,
  )
  for (const f of r.examples) console.log(`  FAIL #${f.index}: ${f.message}`)
}
console.log("\n| target | inputs | failures | slowest input | time |")
console.log("|---|---|---|---|---|")
for (const r of reports)
  console.log(
    `| ${r.name} | ${r.inputs} | ${r.failures} | #${r.slowest.index}: ${r.slowest.ms.toFixed(1)} ms | ${r.seconds.toFixed(0)} s |`,
  )
process.exitCode = reports.some((r) => r.failures > 0) ? 1 : 0
