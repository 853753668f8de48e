/**
 * Test helpers for the stores: a canonical, comparable form of a tree (bigint, floats incl. NaN, timestamps
 * and bytes made explicit) and small sync wrappers. Used by the stores' tests only.
 *
 * @module
 */
import { Cause, Effect, Exit } from "effect"
import { type Documents, isBranch, isComment, isFloat, isList, isTimestamp, type Value } from "../tree.ts"
import { type Format, type StoreError, type StoreOptions, storeFor } from "./store.ts"

/** A plain, deep-comparable form of a tree (for `toEqual`): bigint, floats, timestamps and bytes made explicit. */
export const canon = (v: Value | Documents): unknown => {
  if (Array.isArray(v)) return v.map((d) => canon(d))
  const x = v as Value
  if (x === null || typeof x === "string" || typeof x === "boolean") return x
  if (typeof x === "bigint") return { int: x.toString() }
  if (x instanceof Uint8Array) return { bytes: Buffer.from(x).toString("hex") }
  if (isFloat(x))
    return { float: Number.isNaN(x.value) ? "NaN" : Object.is(x.value, -0) ? "-0" : String(x.value) }
  if (isTimestamp(x)) return { time: x.text, ms: x.date.getTime() }
  if (isBranch(x))
    return x.items.map((it) =>
      isComment(it.key)
        ? { comment: it.key.value, inline: it.key.inline }
        : [it.key, canon(it.value as Value)],
    )
  if (isList(x))
    return { list: x.items.map((e) => (isComment(e) ? { comment: e.value, inline: e.inline } : canon(e))) }
  return { unknown: String(x) }
}

const run = <A>(e: Effect.Effect<A, StoreError>): A => Effect.runSync(e)

export const readPlain = (f: Format, b: Uint8Array | string, o?: StoreOptions) =>
  run(storeFor(f, o).readPlain(typeof b === "string" ? Buffer.from(b) : b))
export const readEncrypted = (f: Format, b: Uint8Array | string, o?: StoreOptions) =>
  run(storeFor(f, o).readEncrypted(typeof b === "string" ? Buffer.from(b) : b))
export const writePlain = (f: Format, d: Documents, o?: StoreOptions): string =>
  Buffer.from(run(storeFor(f, o).writePlain(d))).toString()

/** The outcome of a store call: "ok", the tag of a typed StoreError, or "defect" for anything thrown. */
export const outcome = <A>(e: Effect.Effect<A, StoreError>): "ok" | StoreError["_tag"] | "defect" => {
  const exit = Effect.runSyncExit(e)
  if (Exit.isSuccess(exit)) return "ok"
  const fail = exit.cause.reasons.find(Cause.isFailReason)
  return fail === undefined ? "defect" : fail.error._tag
}
