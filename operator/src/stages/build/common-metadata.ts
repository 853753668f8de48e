/**
 * `spec.commonMetadata`: labels and annotations set on every built object, overriding what the build
 * produced for the same keys (Flux applies them after the build, not through kustomize, so selectors and
 * templates are left alone).
 *
 * @module
 */

import type { KubeObject } from "../../kube/object.ts"
import type { BuildSpec } from "./spec.ts"

export const applyCommonMetadata = (
  objects: ReadonlyArray<KubeObject>,
  common: BuildSpec["commonMetadata"],
): ReadonlyArray<KubeObject> => {
  const labels = common?.labels ?? {}
  const annotations = common?.annotations ?? {}
  if (Object.keys(labels).length === 0 && Object.keys(annotations).length === 0) return objects
  return objects.map((o) => ({
    ...o,
    metadata: {
      ...o.metadata,
      ...(Object.keys(labels).length > 0 ? { labels: { ...o.metadata.labels, ...labels } } : {}),
      ...(Object.keys(annotations).length > 0
        ? { annotations: { ...o.metadata.annotations, ...annotations } }
        : {}),
    },
  }))
}
