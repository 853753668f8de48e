/**
 * Parsing and printing build output off the event loop, through the process's worker pool
 * (`workers/pool.ts`); small outputs inline.
 *
 * @module
 */
import { Effect } from "effect"
import type { KubeObject } from "../../kube/object.ts"
import { inlineLimit, offThread } from "../../workers/pool.ts"
import { BuildFailed } from "./errors.ts"
import { type ParseLimits, parseObjects, printObjects, TooManyObjects } from "./objects.ts"

/** Below this many characters the parse runs inline. */
export const inlineParseLimit = inlineLimit

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
  if (!reply.ok) return yield* failed(reply.message, reply.tooMany === true)
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
