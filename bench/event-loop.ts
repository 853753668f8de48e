/**
 * `npm run bench:event-loop`: the longest event-loop pause (perf_hooks.monitorEventLoopDelay) while the
 * build's worst inputs are parsed and serialised, inline and through the worker pool (`workers/pool.ts`).
 * The goal is that no pause exceeds ~100 ms; results go into docs/benchmarks.md.
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import { Effect } from "effect"
import { parseObjects, printObjects } from "../operator/src/stages/build/objects.ts"
import { parseObjectsOffThread, printObjectsOffThread } from "../operator/src/stages/build/parse-pool.ts"

const MiB = 1024 * 1024
const configMap = (i: number, value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${i}\n  namespace: default\ndata:\n  k: ${value}\n`

/** ~5 MiB of small ConfigMaps (about 50 000 objects). */
const manySmall = (() => {
  const docs: string[] = []
  let size = 0
  for (let i = 0; size < 5 * MiB; i++) {
    const d = configMap(i, "v")
    docs.push(d)
    size += d.length + 4
  }
  return docs.join("---\n")
})()
/** One ConfigMap with a 5 MiB value. */
const oneBig = configMap(0, "x".repeat(5 * MiB))

const measure = async (name: string, work: () => Promise<unknown>) => {
  // Something must want the loop for a pause to be seen: a 1 ms timer stands in for probes and leases.
  const h = monitorEventLoopDelay({ resolution: 5 })
  const tick = setInterval(() => {}, 1)
  h.enable()
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, 20))
  await work()
  const ms = performance.now() - t0
  // Let the histogram's timer fire once more: a pause is recorded when the loop comes back.
  await new Promise((r) => setTimeout(r, 20))
  h.disable()
  clearInterval(tick)
  console.log(
    `${name.padEnd(44)} max pause ${(h.max / 1e6).toFixed(0).padStart(5)} ms   total ${ms.toFixed(0).padStart(5)} ms`,
  )
}

const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(e)

const objects = parseObjects(manySmall)
console.log(
  `inputs: ${objects.length} small objects (${(manySmall.length / MiB).toFixed(1)} MiB), one 5 MiB ConfigMap`,
)
// Warm the pool so the first scenario does not measure worker start-up.
await run(parseObjectsOffThread(manySmall.slice(0, 200_000).replace(/---\n[^-]*$/, "")))

await measure("parseObjects inline, many small", async () => parseObjects(manySmall))
await measure("parseObjects off-thread, many small", () => run(parseObjectsOffThread(manySmall)))
await measure("parseObjects inline, one big ConfigMap", async () => parseObjects(oneBig))
await measure("parseObjects off-thread, one big ConfigMap", () => run(parseObjectsOffThread(oneBig)))
await measure("printObjects inline, many small", async () => printObjects(objects))
await measure("printObjects off-thread, many small", () => run(printObjectsOffThread(objects)))
await measure("JSON.stringify, many small", async () => JSON.stringify(objects))
process.exit(0)
