/**
 * Parsing and printing build output off the event loop. A 5 MiB kustomize output takes the `yaml` parser
 * seconds; on the main thread that is seconds without probes, lease renewal or any other tenant's reconcile.
 *
 * Why a worker thread and not yields between documents: yielding bounds the pause by the largest single
 * document, and one 5 MiB ConfigMap is a single document the parser cannot split. A worker bounds the pause
 * of the main thread by the structured clone of the result alone, whatever the shape of the input, and lets
 * an interrupted reconcile (`spec.timeout`, shutdown) stop the work at once by terminating the worker.
 *
 * The pool is process-wide, like libuv's thread pool: a fixed, small number of threads (a core's worth of
 * parsing must leave the other core to the event loop), started on first use, unref'd so they never keep the
 * process alive. Each worker has a heap cap: a parse that needs more memory kills its worker with
 * ERR_WORKER_OUT_OF_MEMORY and fails that build, instead of taking the operator down.
 *
 * Small inputs are parsed inline: a worker round trip costs more than parsing a few kilobytes.
 *
 * @module
 */
import { availableParallelism } from "node:os"
import { Worker } from "node:worker_threads"
import { Effect } from "effect"
import { BuildFailed } from "./errors.ts"
import { type KubeObject, type ParseLimits, parseObjects, printObjects, TooManyObjects } from "./objects.ts"
import type { ParseJob, ParseReply } from "./parse-worker.ts"

/** Below this many characters the parse runs inline (well under a millisecond per kilobyte). */
export const inlineParseLimit = 64 * 1024

/** Heap of one parser worker; kustomize output is capped far below what fills it (`--max-build-output-size`). */
const workerHeapMb = 512

const size = Math.max(1, Math.min(2, availableParallelism() - 1))
// Run from source the worker is TypeScript next to this file; in the bundle (scripts/bundle.ts) it is an entry
// of its own, `parse-worker.mjs`, beside the chunk this code lands in.
const entry = new URL(
  import.meta.url.endsWith(".ts") ? "./parse-worker.ts" : "./parse-worker.mjs",
  import.meta.url,
)

interface Task {
  readonly job: ParseJob
  readonly done: (reply: ParseReply) => void
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
  if (task !== undefined) slot.worker.postMessage(task.job)
}

const spawn = (): Slot => {
  const worker = new Worker(entry, { resourceLimits: { maxOldGenerationSizeMb: workerHeapMb } })
  worker.unref()
  const slot: Slot = { worker, task: undefined }
  slots.add(slot)
  worker.on("message", (reply: ParseReply) => {
    const task = slot.task
    next(slot)
    task?.done(reply)
  })
  // A crash (out of memory, a bug) fails the task it was running; a new worker comes on demand.
  const lost = (message: string) => {
    if (!slots.delete(slot)) return
    const task = slot.task
    slot.task = undefined
    task?.done({ ok: false, message, tooMany: false })
    if (queue.length > 0) next(spawn())
  }
  worker.on("error", (e: Error & { code?: string }) =>
    lost(
      e.code === "ERR_WORKER_OUT_OF_MEMORY"
        ? `parsing it needs more than the parser's ${workerHeapMb} MB heap`
        : `the parser worker failed (${e.code ?? e.name})`,
    ),
  )
  worker.on("exit", () => lost("the parser worker exited"))
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

const offThread = (job: ParseJob) =>
  Effect.callback<ParseReply>((resume) => {
    const cancel = submit({ job, done: (reply) => resume(Effect.succeed(reply)) })
    return Effect.sync(cancel)
  })

const failed = (message: string, terminal: boolean) =>
  new BuildFailed({ message: `failed to parse kustomize output: ${message}`, terminal })

/**
 * Parses kustomize's output into objects, off the event loop for anything but small outputs, refusing more
 * than `limits.maxObjects` objects (counted before parsing). The cap's refusal is terminal: the same
 * revision builds the same objects.
 */
export const parseObjectsOffThread = Effect.fn("parseObjectsOffThread")(function* (
  text: string,
  limits: ParseLimits = {},
) {
  yield* Effect.annotateCurrentSpan({ "build.output.size": text.length })
  if (text.length <= inlineParseLimit)
    return yield* Effect.try({
      try: () => parseObjects(text, limits),
      catch: (e) => failed((e as Error).message, e instanceof TooManyObjects),
    })
  const reply = yield* offThread({ op: "parse", text, maxObjects: limits.maxObjects })
  if (!reply.ok) return yield* failed(reply.message, reply.tooMany)
  if (!("objects" in reply)) return yield* failed("unexpected reply", false)
  return reply.objects
})

/** {@link printObjects} off the event loop (for digests of large builds). */
export const printObjectsOffThread = Effect.fn("printObjectsOffThread")(function* (
  objects: ReadonlyArray<KubeObject>,
) {
  if (objects.length <= 16) return printObjects(objects)
  const reply = yield* offThread({ op: "print", objects })
  if (!reply.ok || !("text" in reply))
    return yield* new BuildFailed({
      message: `failed to serialise the build: ${reply.ok ? "unexpected reply" : reply.message}`,
      terminal: false,
    })
  return reply.text
})
