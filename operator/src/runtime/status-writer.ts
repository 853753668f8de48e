/**
 * The status write of a controller: server-side apply of the status subresource under the controller's field
 * manager, and what this process wrote last, which is fresher than the cache until the watch catches up.
 *
 * @module
 */
import { Effect } from "effect"
import { type ReconcileStatus, statusEquals } from "../../../model/projection.ts"
import { KubeClient } from "../kube/client.ts"
import { apiVersionOf, type KubeObject, keyOf, type ObjectKey, type ResourceRef } from "../kube/resource.ts"

export const statusOf = (obj: KubeObject): ReconcileStatus =>
  (obj.status as ReconcileStatus | undefined) ?? {}

export const makeStatusWriter = (resource: ResourceRef, fieldManager: string) =>
  Effect.gen(function* () {
    const client = yield* KubeClient
    const apiVersion = apiVersionOf(resource)
    const written = new Map<
      ObjectKey,
      {
        uid: string | undefined
        status: ReconcileStatus
        /** The last statuses this process wrote (progress and outcome), newest last: a watch event carrying
         * one of them is this process's own write, however late the watch delivers it. */
        recent: ReadonlyArray<ReconcileStatus>
      }
    >()
    /**
     * Status writes still waiting for their answer, per object. The watch can deliver a write's event before the
     * write's own HTTP answer is read (a busy event loop reads sockets in any order), so an event that arrives
     * while a write is in flight is not judged: it is this process's echo, or a hand edit racing a write that
     * puts the status back anyway.
     */
    const inFlight = new Map<ObjectKey, number>()
    const track = (key: ObjectKey, by: 1 | -1) =>
      Effect.sync(() => {
        const n = (inFlight.get(key) ?? 0) + by
        if (n > 0) inFlight.set(key, n)
        else inFlight.delete(key)
      })

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
          Effect.tap((stored) =>
            Effect.sync(() => {
              const key = keyOf(obj)
              const before = written.get(key)
              const recent = before !== undefined && before.uid === obj.metadata.uid ? before.recent : []
              // As the server stored it (defaults, pruning, number forms): what its watch events will carry.
              written.set(key, {
                uid: obj.metadata.uid,
                status,
                recent: [...recent.slice(-3), statusOf(stored)],
              })
            }),
          ),
          Effect.asVoid,
          Effect.catchTag("KubeApiError", (e) => (e.isNotFound ? Effect.void : Effect.fail(e))),
          (written) =>
            Effect.acquireUseRelease(
              track(keyOf(obj), 1),
              () => written,
              () => track(keyOf(obj), -1),
            ),
        )

    /** The status the API server holds, as far as this process knows. */
    const observed = (obj: KubeObject): ReconcileStatus => {
      const mine = written.get(keyOf(obj))
      return mine !== undefined && mine.uid === obj.metadata.uid ? mine.status : statusOf(obj)
    }

    const forget = (key: ObjectKey) => void written.delete(key)

    /**
     * Whether a watch event shows the status changed by someone else (edited or deleted by hand): it is none
     * of the statuses this process wrote last. Only objects this process has written are judged.
     */
    const changedByOthers = (obj: KubeObject): boolean => {
      if (inFlight.has(keyOf(obj))) return false
      const mine = written.get(keyOf(obj))
      if (mine === undefined || mine.uid !== obj.metadata.uid) return false
      const seen = statusOf(obj)
      if (mine.recent.some((s) => statusEquals(s, seen))) return false
      written.delete(keyOf(obj))
      return true
    }

    return { write, observed, forget, changedByOthers }
  })

export type StatusWriter = Effect.Success<ReturnType<typeof makeStatusWriter>>
