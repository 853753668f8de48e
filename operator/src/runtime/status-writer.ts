/**
 * The status write of a controller: server-side apply of the status subresource under the controller's field
 * manager, and what this process wrote last, which is fresher than the cache until the watch catches up.
 *
 * @module
 */
import { Effect } from "effect"
import type { ReconcileStatus } from "../../../model/projection.ts"
import { KubeClient } from "../kube/client.ts"
import { apiVersionOf, type KubeObject, keyOf, type ObjectKey, type ResourceRef } from "../kube/resource.ts"

export const statusOf = (obj: KubeObject): ReconcileStatus =>
  (obj.status as ReconcileStatus | undefined) ?? {}

export const makeStatusWriter = (resource: ResourceRef, fieldManager: string) =>
  Effect.gen(function* () {
    const client = yield* KubeClient
    const apiVersion = apiVersionOf(resource)
    const written = new Map<ObjectKey, { uid: string | undefined; status: ReconcileStatus }>()

    /** Writes `status`; an object that is gone already is settled by its next watch event. */
    const write = (obj: KubeObject, status: ReconcileStatus) =>
      client
        .applyStatus(
          resource,
          {
            apiVersion,
            kind: resource.kind,
            metadata: {
              name: obj.metadata.name,
              ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
            },
            status,
          },
          { fieldManager },
        )
        .pipe(
          Effect.tap(() => Effect.sync(() => written.set(keyOf(obj), { uid: obj.metadata.uid, status }))),
          Effect.asVoid,
          Effect.catchTag("KubeApiError", (e) => (e.isNotFound ? Effect.void : Effect.fail(e))),
        )

    /** The status the API server holds, as far as this process knows. */
    const observed = (obj: KubeObject): ReconcileStatus => {
      const mine = written.get(keyOf(obj))
      return mine !== undefined && mine.uid === obj.metadata.uid ? mine.status : statusOf(obj)
    }

    const forget = (key: ObjectKey) => void written.delete(key)

    return { write, observed, forget }
  })

export type StatusWriter = Effect.Success<ReturnType<typeof makeStatusWriter>>
