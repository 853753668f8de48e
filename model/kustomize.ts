/**
 * Kustomize-related spec types shared by Flux's APIs (fluxcd/pkg apis/kustomize): object selectors, patches,
 * image overrides and CEL health checks.
 */
import { Schema } from "effect"

/** Selects objects by GVK, namespace, name and label/annotation selectors (all conditions must match). */
export const Selector = Schema.Struct({
  group: Schema.optionalKey(Schema.String.annotate({ description: "API group of the objects." })),
  version: Schema.optionalKey(Schema.String.annotate({ description: "API version of the objects." })),
  kind: Schema.optionalKey(Schema.String.annotate({ description: "Kind of the objects." })),
  namespace: Schema.optionalKey(Schema.String.annotate({ description: "Namespace of the objects." })),
  name: Schema.optionalKey(
    Schema.String.annotate({ description: "Name of the objects (a regular expression)." }),
  ),
  annotationSelector: Schema.optionalKey(
    Schema.String.annotate({ description: "Label-selector expression matched against the annotations." }),
  ),
  labelSelector: Schema.optionalKey(
    Schema.String.annotate({ description: "Label-selector expression matched against the labels." }),
  ),
}).annotate({ description: "Selects Kubernetes objects; all given conditions must match." })
export type Selector = typeof Selector.Type

/** An inline strategic-merge or JSON6902 patch and the objects it applies to. */
export const Patch = Schema.Struct({
  patch: Schema.String.annotate({
    description: "Inline strategic merge patch, or JSON6902 patch as a YAML/JSON list of operations.",
  }),
  target: Schema.optionalKey(Selector.annotate({ description: "Objects the patch applies to." })),
}).annotate({ description: "A patch and its target." })
export type Patch = typeof Patch.Type

/** Replaces an image's name, tag or digest. */
export const Image = Schema.Struct({
  name: Schema.String.annotate({ description: "Image name without tag, as it appears in the manifests." }),
  newName: Schema.optionalKey(Schema.String.annotate({ description: "Replacement image name." })),
  newTag: Schema.optionalKey(Schema.String.annotate({ description: "Replacement tag." })),
  digest: Schema.optionalKey(
    Schema.String.annotate({ description: "Replacement digest; overrides newTag." }),
  ),
}).annotate({ description: "Image name, tag or digest override." })
export type Image = typeof Image.Type

/** CEL expressions deciding the health of objects of one kind. */
export const CustomHealthCheck = Schema.Struct({
  apiVersion: Schema.String.annotate({
    description: "API version of the objects (group matched, version ignored).",
  }),
  kind: Schema.String.annotate({ description: "Kind of the objects." }),
  inProgress: Schema.optionalKey(
    Schema.String.annotate({ description: "CEL expression; true while the object is progressing." }),
  ),
  failed: Schema.optionalKey(
    Schema.String.annotate({ description: "CEL expression; true when the object failed." }),
  ),
  current: Schema.String.annotate({ description: "CEL expression; true when the object is healthy." }),
}).annotate({ description: "Health check of custom resources with CEL expressions." })
export type CustomHealthCheck = typeof CustomHealthCheck.Type
