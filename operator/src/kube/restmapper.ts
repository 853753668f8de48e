import { Context, Effect, Layer } from "effect"
import { KubeClient } from "./client.ts"
import { type KubeError, UnknownKindError } from "./errors.ts"
import { splitApiVersion } from "./object.ts"
import type { ResourceRef } from "./resource.ts"

interface APIResource {
  readonly name: string
  readonly kind: string
  readonly namespaced: boolean
}

/**
 * Maps `apiVersion` + `kind` to the resource URL coordinates through discovery. Use it for objects
 * whose kind is only known at run time (applied manifests); kinds you own are plain `ResourceRef`s.
 * One discovery request per group/version, cached; a miss refetches once (a CRD may be new).
 */
export class RESTMapper extends Context.Service<
  RESTMapper,
  {
    readonly resolve: (
      apiVersion: string,
      kind: string,
    ) => Effect.Effect<ResourceRef, KubeError | UnknownKindError>
    /** Forget what discovery said (after installing CRDs). */
    readonly invalidate: (apiVersion?: string) => Effect.Effect<void>
  }
>()("kustodian/kube/RESTMapper") {
  static readonly layer = Layer.effect(
    RESTMapper,
    Effect.gen(function* () {
      const client = yield* KubeClient
      const cache = new Map<string, ReadonlyArray<APIResource>>()

      const discover = (apiVersion: string) =>
        Effect.gen(function* () {
          const { group, version } = splitApiVersion(apiVersion)
          const path = group === "" ? `/api/${version}` : `/apis/${group}/${version}`
          const body = yield* client
            .request({ method: "GET", verb: "discovery", path })
            .pipe(
              Effect.catchTag("KubeApiError", (e) =>
                e.isNotFound ? Effect.succeed({ resources: [] }) : Effect.fail(e),
              ),
            )
          const resources = ((body as { resources?: APIResource[] }).resources ?? []).filter(
            (r) => !r.name.includes("/"),
          )
          cache.set(apiVersion, resources)
          return resources
        })

      const find = (
        resources: ReadonlyArray<APIResource>,
        apiVersion: string,
        kind: string,
      ): ResourceRef | undefined => {
        const hit = resources.find((r) => r.kind === kind)
        if (hit === undefined) return undefined
        const { group, version } = splitApiVersion(apiVersion)
        return { group, version, plural: hit.name, kind, namespaced: hit.namespaced }
      }

      const resolve = Effect.fn("RESTMapper.resolve")(function* (apiVersion: string, kind: string) {
        const cached = cache.get(apiVersion)
        const fromCache = cached === undefined ? undefined : find(cached, apiVersion, kind)
        if (fromCache !== undefined) return fromCache
        const fresh = find(yield* discover(apiVersion), apiVersion, kind)
        if (fresh === undefined) return yield* new UnknownKindError({ apiVersion, kind })
        return fresh
      })

      const invalidate = (apiVersion?: string) =>
        Effect.sync(() => (apiVersion === undefined ? cache.clear() : cache.delete(apiVersion)))

      return RESTMapper.of({ resolve, invalidate: (v) => Effect.asVoid(invalidate(v)) })
    }),
  )
}
