/**
 * The variables of a Kustomization's `postBuild`: `substituteFrom` objects in order (later ones override
 * earlier ones), then the inline `substitute` map, which wins.
 *
 * @module
 */
import { Effect, Option } from "effect"
import { formatRef } from "../../kube/object.ts"
import { ConfigLookup } from "../build/config-lookup.ts"
import { BuildFailed } from "../build/errors.ts"
import type { PostBuild } from "../build/spec.ts"
import { variableName } from "./envsubst.ts"

const decodeBase64 = (v: string) => Buffer.from(v, "base64").toString("utf8")

export interface Variables {
  readonly vars: ReadonlyMap<string, string>
  /**
   * Every value read from a `substituteFrom` ConfigMap or Secret (as read and as substituted), for redaction:
   * they may be secrets, and an API error about a substituted object can echo them. In memory only.
   */
  readonly fromObjects: ReadonlyArray<string>
}

/** Loads the variables; a missing non-optional object fails, naming it. */
export const loadVariables = Effect.fn("loadVariables")(function* (namespace: string, postBuild: PostBuild) {
  const lookup = yield* ConfigLookup
  const vars = new Map<string, string>()
  const fromObjects: Array<string> = []
  // Flux drops every newline from a value (so a multi-line value stays on its YAML line).
  const put = (k: string, v: string) => {
    // Keys that cannot be referenced (`app.conf`) are simply not variables.
    if (!variableName.test(k)) return
    const value = v.replaceAll("\n", "")
    vars.set(k, value)
    fromObjects.push(v)
    if (value !== v) fromObjects.push(value)
  }
  for (const ref of postBuild.substituteFrom ?? []) {
    const what = formatRef({ kind: ref.kind, namespace, name: ref.name })
    const lookupFailed = (e: { message: string }) =>
      new BuildFailed({
        message: `substitute from '${what}' error: ${e.message}`,
        object: what,
        terminal: false,
      })
    if (ref.kind === "Secret") {
      const s = yield* lookup.secret(namespace, ref.name).pipe(Effect.mapError(lookupFailed))
      if (Option.isNone(s)) {
        if (ref.optional) continue
        return yield* new BuildFailed({
          message: `substitute from '${what}' error: secrets "${ref.name}" not found`,
          object: what,
          terminal: false,
        })
      }
      for (const [k, v] of Object.entries(s.value.data)) put(k, decodeBase64(v))
    } else {
      const c = yield* lookup.configMap(namespace, ref.name).pipe(Effect.mapError(lookupFailed))
      if (Option.isNone(c)) {
        if (ref.optional) continue
        return yield* new BuildFailed({
          message: `substitute from '${what}' error: configmaps "${ref.name}" not found`,
          object: what,
          terminal: false,
        })
      }
      for (const [k, v] of Object.entries(c.value.data)) put(k, v)
    }
  }
  for (const [k, v] of Object.entries(postBuild.substitute ?? {})) {
    if (!variableName.test(k)) {
      return yield* new BuildFailed({
        message: `'${k}' var name is invalid, must match '${variableName.source}'`,
        keyPath: `spec.postBuild.substitute.${k}`,
        terminal: true,
      })
    }
    vars.set(k, v.replaceAll("\n", ""))
  }
  return { vars, fromObjects } satisfies Variables
})
