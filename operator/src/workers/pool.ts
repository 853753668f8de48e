/**
 * CPU-heavy work on repository content off the event loop: parsing and printing kustomize's output, reading
 * large SOPS files. A 5 MiB input takes the `yaml` parser seconds; on the main thread that is seconds without
 * probes, lease renewal or any other tenant's reconcile.
 *
 * Why a worker thread and not yields between documents: yielding bounds the pause by the largest single
 * document, and one 5 MiB ConfigMap is a single document the parser cannot split. A worker bounds the pause
 * of the main thread by the structured clone of the result alone, whatever the shape of the input, and lets
 * an interrupted reconcile (`spec.timeout`, shutdown) stop the work at once by terminating the worker.
 *
 * The pool is process-wide, like libuv's thread pool: a fixed, small number of threads (a core's worth of
 * parsing must leave the other core to the event loop), started on first use, unref'd while idle so they never
 * keep the process alive. Each worker has a heap cap: a job that needs more memory kills its worker with
 * ERR_WORKER_OUT_OF_MEMORY and fails that job, instead of taking the operator down.
 *
 * Small inputs should be handled inline by the callers: a worker round trip costs more than parsing a few
 * kilobytes ({@link inlineLimit}).
 *
 * @module
 */
import { availableParallelism } from "node:os"
import { getAsset, isSea } from "node:sea"
import { Worker } from "node:worker_threads"
import { Effect } from "effect"
import type { WorkerJob, WorkerReply } from "./jobs.ts"

/** Below this many characters (or bytes) callers parse inline (well under a millisecond per kilobyte). */
export const inlineLimit = 64 * 1024

/** Heap of one worker; what it parses is capped far below what fills it (`--max-build-output-size`, 5 MiB files). */
export const workerHeapMb = 512

const size = Math.max(1, Math.min(2, availableParallelism() - 1))
// Run from source the worker is TypeScript next to this file; in the bundle (scripts/bundle.ts) it is an entry
// of its own, `worker.mjs`, beside the chunk this code lands in; in the single-file executable (scripts/sea.ts)
// there is no file beside it: the worker is a CommonJS bundle embedded as the asset `worker.cjs`, run as code.
const newWorker = (): Worker => {
  const resourceLimits = { maxOldGenerationSizeMb: workerHeapMb }
  if (isSea()) return new Worker(getAsset("worker.cjs", "utf8"), { eval: true, resourceLimits })
  const entry = new URL(import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.mjs", import.meta.url)
  return new Worker(entry, { resourceLimits })
}

interface Task {
  readonly job: WorkerJob
  readonly done: (reply: WorkerReply) => void
  /** Called when a worker takes the job (it stops waiting in the queue). */
  readonly started?: (() => void) | undefined
}

interface Slot {
  readonly worker: Worker
  task: Task | undefined
}

/** Live workers; a crashed or terminated one leaves the set at once. */
const slots = new Set<Slot>()
const queue: Task[] = []

const next = (slot: Slot) => {
  const task = queue.shift()
  slot.task = task
  // A busy worker keeps the process alive (a CLI awaiting its result has no other handle); an idle one not.
  if (task === undefined) slot.worker.unref()
  else {
    slot.worker.ref()
    slot.worker.postMessage(task.job)
    task.started?.()
  }
}

const spawn = (): Slot => {
  const worker = newWorker()
  worker.unref()
  const slot: Slot = { worker, task: undefined }
  slots.add(slot)
  worker.on("message", (reply: WorkerReply) => {
    const task = slot.task
    next(slot)
    task?.done(reply)
  })
  // A crash (out of memory, a bug) fails the task it was running; a new worker comes on demand.
  const lost = (message: string) => {
    if (!slots.delete(slot)) return
    const task = slot.task
    slot.task = undefined
    task?.done({ ok: false, message })
    if (queue.length > 0) next(spawn())
  }
  worker.on("error", (e: Error & { code?: string }) =>
    lost(
      e.code === "ERR_WORKER_OUT_OF_MEMORY"
        ? `it needs more than the worker's ${workerHeapMb} MB heap`
        : `the worker failed (${e.code ?? e.name})`,
    ),
  )
  worker.on("exit", () => lost("the worker exited"))
  return slot
}

const submit = (task: Task): (() => void) => {
  const free = [...slots].find((s) => s.task === undefined) ?? (slots.size < size ? spawn() : undefined)
  queue.push(task)
  if (free !== undefined) next(free)
  // Interruption: a queued task is dropped; a running one takes its worker with it (a synchronous parse
  // cannot be told to stop), and the queue moves on to a fresh worker.
  return () => {
    const q = queue.indexOf(task)
    if (q !== -1) {
      queue.splice(q, 1)
      return
    }
    for (const slot of slots)
      if (slot.task === task) {
        slots.delete(slot)
        slot.task = undefined
        void slot.worker.terminate()
        if (queue.length > 0) next(spawn())
      }
  }
}

/**
 * Runs `job` on a worker of the pool; interrupting the effect drops or terminates it. `started` is called when a
 * worker takes it (a caller with a deadline can tell a job that ran too long from one that waited too long).
 */
export const offThread = (job: WorkerJob, started?: () => void) =>
  Effect.callback<WorkerReply>((resume) => {
    const cancel = submit({ job, done: (reply) => resume(Effect.succeed(reply)), started })
    return Effect.sync(cancel)
  })
