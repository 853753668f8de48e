/**
 * The /healthz poller as a process of its own, so that what it measures is the operator and not the test
 * runner's event loop (which is busy building repositories and running kubectl). Asks once a second, each
 * request with a 4 s budget, and rewrites a JSON summary after every answer:
 * `node healthz-poller-main.ts <url> <summary.json>`. Stops by itself when its parent is gone.
 */
import { renameSync, writeFileSync } from "node:fs"

const [url, out] = process.argv.slice(2)
if (url === undefined || out === undefined) {
  process.stderr.write("usage: healthz-poller-main.ts URL SUMMARY_FILE\n")
  process.exit(2)
}
const parent = process.ppid
const started = Date.now()
let lastOk = started
let longestGapMs = 0
let answered = 0
let failed = 0
let lastFailure = ""
/** The longest silences (over 2 s), with when they ended, to line them up with the operator's log. */
const stalls: Array<{ readonly gapMs: number; readonly endedAt: string }> = []

const write = () => {
  const now = Date.now()
  const summary = {
    startedAt: new Date(started).toISOString(),
    answered,
    failed,
    lastFailure,
    // The gap still open counts too: an operator that stopped answering must not look healthy.
    longestGapMs: Math.max(longestGapMs, now - lastOk),
    stalls,
    writtenAt: new Date(now).toISOString(),
  }
  writeFileSync(`${out}.tmp`, JSON.stringify(summary))
  renameSync(`${out}.tmp`, out)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

for (;;) {
  const t0 = Date.now()
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(4_000) })
    await res.arrayBuffer()
    if (res.ok) {
      const now = Date.now()
      longestGapMs = Math.max(longestGapMs, now - lastOk)
      if (now - lastOk > 2_000) stalls.push({ gapMs: now - lastOk, endedAt: new Date(now).toISOString() })
      lastOk = now
      answered++
    } else {
      failed++
      lastFailure = `HTTP ${res.status}`
    }
  } catch (e) {
    failed++
    lastFailure = e instanceof Error ? e.message : String(e)
  }
  write()
  try {
    process.kill(parent, 0)
  } catch {
    process.exit(0)
  }
  await sleep(Math.max(0, 1_000 - (Date.now() - t0)))
}
