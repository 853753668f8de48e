/**
 * `Kustomization` in `kustomize.toolkit.fluxcd.io/v1`: build a path of a source with kustomize, decrypt, apply,
 * prune and health-check the result.
 *
 * The schemas are the single source of the API: the operator decodes objects with them and `synth/` generates the
 * CRD from `KustomizationSpec`/`KustomizationStatus`. Run-time defaults Flux computes (timeout, retry interval,
 * deletion policy) are the functions at the end.
 */
import { Schema } from "effect"
import type { ApiResource } from "./api-resource.ts"
import { readyColumns } from "./api-resource.ts"
import { Condition } from "./condition.ts"
import { withDefault } from "./defaults.ts"
import { Duration, parseDuration } from "./duration.ts"
import { History } from "./history.ts"
import { ResourceInventory } from "./inventory.ts"
import { CustomHealthCheck, Image, Patch, Selector } from "./kustomize.ts"
import { ObjectMeta } from "./object-meta.ts"
import {
  CrossNamespaceSourceReference,
  DependencyReference,
  KubeConfigReference,
  LocalObjectReference,
  NamespacedObjectKindReference,
} from "./reference.ts"

/** Served names of Kustomization. */
export const kustomizationResource: ApiResource = {
  group: "kustomize.toolkit.fluxcd.io",
  version: "v1",
  kind: "Kustomization",
  listKind: "KustomizationList",
  plural: "kustomizations",
  singular: "kustomization",
  shortNames: ["ks"],
  categories: ["all", "fluxcd", "fluxcd-appliers"],
  printerColumns: readyColumns,
}

/** Valid postBuild variable names (`^[_[:alpha:]][_[:alpha:][:digit:]]*$`). */
export const substituteVariableNamePattern = /^[_a-zA-Z][_a-zA-Z0-9]*$/u

/** How decryption is configured. */
export const Decryption = Schema.Struct({
  provider: Schema.Literals(["sops"]).annotate({ description: "Decryption engine; only sops." }),
  secretRef: Schema.optionalKey(
    LocalObjectReference.annotate({
      description:
        "Secret with the keys: *.asc (PGP), *.agekey (age), sops.vault-token, sops.aws-kms, sops.azure-kv, sops.gcp-kms.",
    }),
  ),
  serviceAccountName: Schema.optionalKey(
    Schema.String.annotate({
      description: "ServiceAccount used for secret-less authentication to cloud KMS.",
    }),
  ),
}).annotate({ description: "Decryption of SOPS-encrypted manifests before they are applied." })
export type Decryption = typeof Decryption.Type

/** Labels and annotations set on every applied object. */
export const CommonMetadata = Schema.Struct({
  annotations: Schema.optionalKey(
    Schema.Record(Schema.String, Schema.String).annotate({
      description: "Annotations added to every object.",
    }),
  ),
  labels: Schema.optionalKey(
    Schema.Record(Schema.String, Schema.String).annotate({ description: "Labels added to every object." }),
  ),
}).annotate({ description: "Labels and annotations applied to all objects, overriding existing keys." })
export type CommonMetadata = typeof CommonMetadata.Type

/** A ConfigMap or Secret whose data are postBuild variables. */
export const SubstituteReference = Schema.Struct({
  kind: Schema.Literals(["Secret", "ConfigMap"]).annotate({ description: "Kind of the referent." }),
  name: Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(253))).annotate({
    description: "Name of the referent, in the namespace of the Kustomization.",
  }),
  optional: Schema.Boolean.annotate({
    description: "Tolerate a missing referent as if it were empty.",
  }).pipe(withDefault<Schema.Boolean>(false)),
}).annotate({ description: "Reference to variables for substitution." })
export type SubstituteReference = typeof SubstituteReference.Type

/** Variable substitution on the built manifests. */
export const PostBuild = Schema.Struct({
  substitute: Schema.optionalKey(
    Schema.Record(Schema.String, Schema.String).annotate({
      description: "Variables and their values; they win over substituteFrom.",
    }),
  ),
  substituteFrom: Schema.optionalKey(
    Schema.Array(SubstituteReference).annotate({
      description: "ConfigMaps and Secrets holding variables; later entries override earlier ones.",
    }),
  ),
  substituteStrategy: Schema.optionalKey(
    Schema.Literals(["WithVariables", "Always"]).annotate({
      description:
        "WithVariables (default) substitutes only when variables are defined; Always substitutes always.",
    }),
  ),
}).annotate({ description: "Actions performed on the manifests after the kustomize build." })
export type PostBuild = typeof PostBuild.Type

/** Parts of objects left alone by drift detection and apply. */
export const IgnoreRule = Schema.Struct({
  paths: Schema.Array(Schema.String).annotate({
    description: "JSON pointers (RFC 6901) of the ignored fields.",
  }),
  target: Schema.optionalKey(
    Selector.annotate({ description: "Objects the rule applies to; all when unset." }),
  ),
}).annotate({ description: "Fields to ignore in drift detection." })
export type IgnoreRule = typeof IgnoreRule.Type

/** What to do with applied objects when the Kustomization is deleted. */
export const DeletionPolicy = Schema.Literals([
  "MirrorPrune",
  "Delete",
  "WaitForTermination",
  "Orphan",
]).annotate({
  description:
    "On deletion: MirrorPrune (default) deletes objects when prune is true, Delete always, WaitForTermination deletes and waits, Orphan keeps them.",
})
export type DeletionPolicy = typeof DeletionPolicy.Type

/** Desired state of a Kustomization. */
export const KustomizationSpec = Schema.Struct({
  commonMetadata: Schema.optionalKey(CommonMetadata),
  dependsOn: Schema.optionalKey(
    Schema.Array(DependencyReference).annotate({
      description: "Kustomizations that must be ready before this one is reconciled.",
    }),
  ),
  decryption: Schema.optionalKey(Decryption),
  interval: Duration.annotate({ description: "How often the Kustomization is reconciled." }),
  retryInterval: Schema.optionalKey(
    Duration.annotate({ description: "How soon a failed reconciliation is retried; interval when unset." }),
  ),
  kubeConfig: Schema.optionalKey(KubeConfigReference),
  path: Schema.optionalKey(
    Schema.String.annotate({
      description:
        "Directory in the source with a kustomization.yaml or plain manifests; the root when unset.",
    }),
  ),
  postBuild: Schema.optionalKey(PostBuild),
  prune: Schema.Boolean.annotate({
    description: "Delete objects that were applied before and are gone now.",
  }),
  deletionPolicy: Schema.optionalKey(DeletionPolicy),
  healthChecks: Schema.optionalKey(
    Schema.Array(NamespacedObjectKindReference).annotate({
      description: "Objects whose health is assessed.",
    }),
  ),
  namePrefix: Schema.optionalKey(
    Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(200))).annotate({
      description: "Prefix added to the names of all objects.",
    }),
  ),
  nameSuffix: Schema.optionalKey(
    Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(200))).annotate({
      description: "Suffix added to the names of all objects.",
    }),
  ),
  patches: Schema.optionalKey(
    Schema.Array(Patch).annotate({ description: "Strategic merge and JSON6902 patches with their targets." }),
  ),
  images: Schema.optionalKey(
    Schema.Array(Image).annotate({ description: "Image name, tag and digest overrides." }),
  ),
  serviceAccountName: Schema.optionalKey(
    Schema.String.annotate({ description: "ServiceAccount impersonated to apply, prune and health-check." }),
  ),
  sourceRef: CrossNamespaceSourceReference,
  suspend: Schema.optionalKey(Schema.Boolean.annotate({ description: "Suspends reconciliation." })),
  targetNamespace: Schema.optionalKey(
    Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(63))).annotate({
      description: "Namespace set on all namespaced objects.",
    }),
  ),
  timeout: Schema.optionalKey(
    Duration.annotate({
      description: "Timeout of build, apply and health checks; interval - 30s when unset.",
    }),
  ),
  force: Schema.Boolean.annotate({
    description: "Recreate objects whose update fails on an immutable field.",
  }).pipe(withDefault<Schema.Boolean>(false)),
  wait: Schema.optionalKey(
    Schema.Boolean.annotate({
      description: "Health-check all applied objects; healthChecks are then ignored.",
    }),
  ),
  components: Schema.optionalKey(
    Schema.Array(Schema.String).annotate({ description: "Kustomize components, relative to path." }),
  ),
  ignoreMissingComponents: Schema.optionalKey(
    Schema.Boolean.annotate({ description: "Leave out components that are missing from the source." }),
  ),
  healthCheckExprs: Schema.optionalKey(
    Schema.Array(CustomHealthCheck).annotate({ description: "CEL health checks of custom resources." }),
  ),
  ignore: Schema.optionalKey(
    Schema.Array(IgnoreRule).annotate({ description: "Fields excluded from drift detection and apply." }),
  ),
  buildMetadata: Schema.optionalKey(
    Schema.Array(Schema.Literals(["originAnnotations", "transformerAnnotations"])).annotate({
      description: "Kustomize build metadata added to the objects.",
    }),
  ),
}).annotate({ description: "Desired state of a Kustomization." })
export type KustomizationSpec = typeof KustomizationSpec.Type

/** Observed state of a Kustomization. */
export const KustomizationStatus = Schema.Struct({
  observedGeneration: Schema.optionalKey(
    Schema.Int.annotate({ description: "Last reconciled generation.", format: "int64" }),
  ),
  conditions: Schema.optionalKey(
    Schema.Array(Condition).annotate({ description: "Conditions of the object." }),
  ),
  lastAppliedRevision: Schema.optionalKey(
    Schema.String.annotate({ description: "Source revision last applied successfully." }),
  ),
  lastAppliedOriginRevision: Schema.optionalKey(
    Schema.String.annotate({ description: "Origin revision of the artifact last applied successfully." }),
  ),
  lastAttemptedRevision: Schema.optionalKey(
    Schema.String.annotate({ description: "Source revision of the last reconciliation attempt." }),
  ),
  lastHandledReconcileAt: Schema.optionalKey(
    Schema.String.annotate({
      description: "Value of the reconcile.fluxcd.io/requestedAt annotation last handled.",
    }),
  ),
  inventory: Schema.optionalKey(ResourceInventory),
  history: Schema.optionalKey(History),
}).annotate({ description: "Observed state of a Kustomization." })
export type KustomizationStatus = typeof KustomizationStatus.Type

/** The status an object has before its first reconcile (the CRD default). */
export const initialStatus = { observedGeneration: -1 } as const

/** A Kustomization object. */
export const Kustomization = Schema.Struct({
  apiVersion: Schema.Literal("kustomize.toolkit.fluxcd.io/v1"),
  kind: Schema.Literal("Kustomization"),
  metadata: ObjectMeta,
  spec: KustomizationSpec,
  status: KustomizationStatus.pipe(withDefault<typeof KustomizationStatus>(initialStatus)),
})
export type Kustomization = typeof Kustomization.Type

const minTimeout = 30_000

/** Milliseconds between successful reconciliations (before jitter). */
export const intervalMillis = (spec: KustomizationSpec): number => parseDuration(spec.interval) ?? 0

/** Milliseconds before a failed reconciliation is retried: retryInterval, else interval. */
export const retryIntervalMillis = (spec: KustomizationSpec): number =>
  (spec.retryInterval === undefined ? undefined : parseDuration(spec.retryInterval)) ?? intervalMillis(spec)

/** Timeout of build, apply and health checks: timeout, else interval − 30s; never below 30s. */
export const timeoutMillis = (spec: KustomizationSpec): number => {
  const configured = spec.timeout === undefined ? undefined : parseDuration(spec.timeout)
  return Math.max(configured ?? intervalMillis(spec) - 30_000, minTimeout)
}

/** The deletion policy in effect (MirrorPrune when unset). */
export const deletionPolicy = (spec: KustomizationSpec): DeletionPolicy =>
  spec.deletionPolicy ?? "MirrorPrune"

/** Whether deleting the Kustomization deletes the objects it applied. */
export const deletesOnDeletion = (spec: KustomizationSpec): boolean => {
  const policy = deletionPolicy(spec)
  return policy === "Delete" || policy === "WaitForTermination" || (policy === "MirrorPrune" && spec.prune)
}

/** The namespace of the source: sourceRef.namespace, else the Kustomization's. */
export const sourceNamespace = (ks: Kustomization): string =>
  ks.spec.sourceRef.namespace ?? ks.metadata.namespace ?? "default"
