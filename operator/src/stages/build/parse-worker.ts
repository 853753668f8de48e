/**
 * The worker side of `parse-pool.ts`: parses one kustomize output per message and posts the objects back
 * (structured clone), or the error's message. It holds no state between messages.
 *
 * @module
 */
import { parentPort } from "node:worker_threads"
import { type KubeObject, parseObjects, printObjects, TooManyObjects } from "./objects.ts"

/** What the pool sends. */
export type ParseJob =
  | { readonly op: "parse"; readonly text: string; readonly maxObjects?: number | undefined }
  | { readonly op: "print"; readonly objects: ReadonlyArray<KubeObject> }

/** What the worker answers. */
export type ParseReply =
  | { readonly ok: true; readonly objects: KubeObject[] }
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly message: string; readonly tooMany: boolean }

parentPort?.on("message", (job: ParseJob) => {
  let reply: ParseReply
  try {
    reply =
      job.op === "parse"
        ? { ok: true, objects: parseObjects(job.text, { maxObjects: job.maxObjects }) }
        : { ok: true, text: printObjects(job.objects) }
  } catch (e) {
    reply = { ok: false, message: (e as Error).message, tooMany: e instanceof TooManyObjects }
  }
  parentPort?.postMessage(reply)
})
