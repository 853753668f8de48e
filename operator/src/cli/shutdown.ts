/**
 * Runs the operator's main effect until SIGTERM or SIGINT and guarantees the process is gone within the
 * grace period, whatever the effect does:
 *
 * 1. the first signal interrupts the main fiber: graceful shutdown (in-flight reconciles finish, the lease is
 *    released), normally well inside the grace period;
 * 2. if the process is still there at the deadline, a timer on the main thread exits it (exit code 1);
 * 3. if the main thread is blocked so that timer cannot run, a watchdog worker thread — its own event loop,
 *    armed by the signal handler — sends the process SIGKILL one second later;
 * 4. a second signal exits at once (an impatient operator, or `kubectl delete --grace-period`).
 *
 * The watchdog is started before the operator runs, so arming it under load costs one `postMessage`. The
 * signal handler itself runs as soon as the event loop turns; the worker pool (`workers/pool.ts`)
 * keeps every turn short, so a signal is seen within ~100 ms.
 *
 * @module
 */
import { Worker } from "node:worker_threads"
import { Effect, type Exit, Fiber } from "effect"

/** The watchdog's code: a worker needs no module of ours, so it is a few lines of plain JavaScript. */
const watchdogSource = `
const { parentPort } = require("node:worker_threads")
parentPort.on("message", (ms) => {
  setTimeout(() => process.kill(process.pid, "SIGKILL"), ms)
})
`

export interface ShutdownOptions {
  /** From the first signal to the forced exit (`--graceful-shutdown-timeout`). */
  readonly graceMs: number
  /** Where to say that the graceful shutdown did not finish (default stderr). */
  readonly log?: (line: string) => void
}

/** Runs `effect` until it ends or a signal stops it; resolves with its exit. */
export const runUntilSignal = async <A, E>(
  effect: Effect.Effect<A, E>,
  options: ShutdownOptions,
): Promise<Exit.Exit<A, E>> => {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const watchdog = new Worker(watchdogSource, { eval: true })
  watchdog.unref()
  const fiber = Effect.runFork(effect)
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log(`kustodian: ${signal} again: exiting now`)
      process.exit(1)
    }
    stopping = true
    watchdog.postMessage(options.graceMs + 1000)
    setTimeout(() => {
      log(`kustodian: graceful shutdown did not finish within ${options.graceMs} ms: exiting`)
      process.exit(1)
    }, options.graceMs).unref()
    Effect.runFork(Fiber.interrupt(fiber))
  }
  process.on("SIGTERM", onSignal)
  process.on("SIGINT", onSignal)
  try {
    return await Effect.runPromise(Fiber.await(fiber))
  } finally {
    process.off("SIGTERM", onSignal)
    process.off("SIGINT", onSignal)
    await watchdog.terminate()
  }
}

/** `8s`, `500ms`, `1m`, `1m30s` → milliseconds (Go's duration syntax, the units a grace period needs). */
export const parseGrace = (text: string): number | undefined => {
  const re = /(\d+)(ms|s|m)/gy
  let total = 0
  let matched = 0
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "s" ? 1000 : 60_000)
    matched = re.lastIndex
  }
  return matched === text.length && matched > 0 && total > 0 ? total : undefined
}
