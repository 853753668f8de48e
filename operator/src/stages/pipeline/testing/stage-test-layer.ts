/**
 * For `*.e2e.test.ts` of the apply, prune and health stages: the three services wired to the run's test
 * cluster (admin credentials; impersonation through KubeAccess), plus small helpers to poke at objects
 * the way users and other controllers do.
 */
import { Effect, Layer, Option } from "effect"
import { testKubeconfigPath } from "../../../../../e2e/support/cluster.ts"
import { KubeClient } from "../../../kube/client.ts"
import type { KubeConfigSource } from "../../../kube/connection.ts"
import type { KubeObject, KubeObject as WireObject } from "../../../kube/object.ts"
import { RESTMapper } from "../../../kube/restmapper.ts"
import { Applier } from "../../apply/staged-apply.ts"
import { KubeAccess } from "../../cluster/impersonation.ts"
import { HealthChecker } from "../../health/health-check.ts"
import { Pruner } from "../../prune/prune.ts"

const source = (): KubeConfigSource => ({ _tag: "File", path: testKubeconfigPath() })

/** Applier, Pruner, HealthChecker, and the admin KubeClient/RESTMapper to inspect the cluster with. */
export const stageTestLayer = Layer.unwrap(
  Effect.sync(() => {
    const client = KubeClient.layer(source())
    const base = Layer.mergeAll(KubeAccess.layer(source()), RESTMapper.layer.pipe(Layer.provideMerge(client)))
    return Layer.mergeAll(Applier.layer, Pruner.layer, HealthChecker.layer).pipe(Layer.provideMerge(base))
  }),
)

/** The live object (admin view), or undefined. */
export const getLive = (apiVersion: string, kind: string, name: string, namespace?: string) =>
  Effect.gen(function* () {
    const client = yield* KubeClient
    const mapper = yield* RESTMapper
    const r = yield* mapper.resolve(apiVersion, kind)
    const o = yield* client.getOption<WireObject>(r, name, namespace)
    return Option.getOrUndefined(o) as KubeObject | undefined
  })

/** A merge patch written as another field manager would (e.g. `kubectl-edit`), optionally on a subresource. */
export const patchAs = (
  manager: string,
  obj: { apiVersion: string; kind: string; name: string; namespace?: string; subresource?: string },
  patch: unknown,
) =>
  Effect.gen(function* () {
    const client = yield* KubeClient
    const mapper = yield* RESTMapper
    const r = yield* mapper.resolve(obj.apiVersion, obj.kind)
    const ns = r.namespaced && obj.namespace ? `/namespaces/${obj.namespace}` : ""
    const base = r.group === "" ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`
    return yield* client.request({
      method: "PATCH",
      verb: "patch",
      path: `${base}${ns}/${r.plural}/${obj.name}${obj.subresource ? `/${obj.subresource}` : ""}`,
      query: { fieldManager: manager },
      body: patch,
      contentType: "application/merge-patch+json",
    })
  })

export const configMap = (
  namespace: string,
  name: string,
  data: Record<string, string>,
  annotations?: Record<string, string>,
): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace, ...(annotations ? { annotations } : {}) },
  data,
})
