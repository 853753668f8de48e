/**
 * The worker side of `pool.ts`: runs one job per message and posts the result back (structured clone), or the
 * error's message and, for a SOPS store error, its fields. It holds no state between messages but compiled CEL
 * programs (a cache by expression text).
 *
 * @module
 */
import { parentPort } from "node:worker_threads"
import { isStoreError } from "../sops/stores/errors.ts"
import { syncStoreFor } from "../sops/stores/store.ts"
import { parseObjects, printObjects, TooManyObjects } from "../stages/build/objects.ts"
import { firstTrue } from "../stages/health/cel.ts"
import type { WorkerJob, WorkerReply } from "./jobs.ts"

const run = (job: WorkerJob): WorkerReply => {
  switch (job.op) {
    case "parse":
      return { ok: true, objects: parseObjects(job.text, { maxObjects: job.maxObjects }) }
    case "print":
      return { ok: true, text: printObjects(job.objects) }
    case "cel":
      return { ok: true, first: firstTrue(job.kind, job.expressions, job.variables) }
    case "store-read": {
      const store = syncStoreFor(job.format, job.options)
      return job.encrypted
        ? { ok: true, file: store.readEncrypted(job.bytes) }
        : { ok: true, documents: store.readPlain(job.bytes) }
    }
  }
}

parentPort?.on("message", (job: WorkerJob) => {
  let reply: WorkerReply
  try {
    reply = run(job)
  } catch (e) {
    reply = isStoreError(e)
      ? {
          ok: false,
          message: e.message,
          store: {
            _tag: e._tag,
            format: e.format,
            reason: e.reason,
            line: e.line,
            column: e.column,
            path: e.path,
          },
        }
      : { ok: false, message: (e as Error).message, tooMany: e instanceof TooManyObjects }
  }
  parentPort?.postMessage(reply)
})
