/**
 * How the build reads the Secrets and ConfigMaps a Kustomization names (decryption keys, `substituteFrom`).
 * A small interface so the controller can serve it from its cache; {@link ConfigLookup.layerKube} reads the
 * API server directly.
 *
 * @module
 */
import { Context, Effect, Layer, Option } from "effect"
import { KubeClient } from "../../kube/client.ts"
import type { KubeError } from "../../kube/errors.ts"
import type { KubeObject } from "../../kube/object.ts"
import { CoreResources } from "../../kube/resource.ts"

/** A Secret as the build needs it: identity (for cache scoping) and base64 `data`. */
export interface SecretData {
  readonly namespace: string
  readonly name: string
  readonly uid: string
  readonly resourceVersion: string
  /** Values are base64, as the API server returns them. */
  readonly data: Readonly<Record<string, string>>
}

/** A ConfigMap's string data (binaryData is not used for substitution). */
export interface ConfigMapData {
  readonly namespace: string
  readonly name: string
  /** Tells a changed ConfigMap from an unchanged one (the controller's incremental reconcile). */
  readonly resourceVersion?: string
  readonly data: Readonly<Record<string, string>>
}

/** Reads Secrets and ConfigMaps; `None` when the object does not exist. */
export class ConfigLookup extends Context.Service<
  ConfigLookup,
  {
    readonly secret: (namespace: string, name: string) => Effect.Effect<Option.Option<SecretData>, KubeError>
    readonly configMap: (
      namespace: string,
      name: string,
    ) => Effect.Effect<Option.Option<ConfigMapData>, KubeError>
  }
>()("kustodian/stages/build/ConfigLookup") {
  /** Reads from the API server through {@link KubeClient}. */
  static readonly layerKube = Layer.effect(
    ConfigLookup,
    Effect.gen(function* () {
      const kube = yield* KubeClient
      const toSecret = (o: KubeObject): SecretData => ({
        namespace: o.metadata.namespace ?? "",
        name: o.metadata.name,
        uid: o.metadata.uid ?? "",
        resourceVersion: o.metadata.resourceVersion ?? "",
        data: (o.data as Record<string, string> | undefined) ?? {},
      })
      const toConfigMap = (o: KubeObject): ConfigMapData => ({
        namespace: o.metadata.namespace ?? "",
        name: o.metadata.name,
        resourceVersion: o.metadata.resourceVersion ?? "",
        data: (o.data as Record<string, string> | undefined) ?? {},
      })
      return ConfigLookup.of({
        secret: Effect.fn("ConfigLookup.secret")(function* (namespace: string, name: string) {
          return Option.map(yield* kube.getOption(CoreResources.secret, name, namespace), toSecret)
        }),
        configMap: Effect.fn("ConfigLookup.configMap")(function* (namespace: string, name: string) {
          return Option.map(yield* kube.getOption(CoreResources.configMap, name, namespace), toConfigMap)
        }),
      })
    }),
  )

  /** Serves a fixed set of objects: for callers that already hold them (the CLI, tests without a cluster). */
  static fromObjects(objects: {
    readonly secrets?: ReadonlyArray<SecretData>
    readonly configMaps?: ReadonlyArray<ConfigMapData>
  }) {
    const find = <T extends { namespace: string; name: string }>(
      list: ReadonlyArray<T> | undefined,
      ns: string,
      n: string,
    ) => Effect.succeed(Option.fromNullishOr(list?.find((o) => o.namespace === ns && o.name === n)))
    return Layer.succeed(
      ConfigLookup,
      ConfigLookup.of({
        secret: (ns, n) => find(objects.secrets, ns, n),
        configMap: (ns, n) => find(objects.configMaps, ns, n),
      }),
    )
  }
}
