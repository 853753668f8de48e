/**
 * Object references shared by Flux's APIs (fluxcd/pkg apis/meta and the controllers' reference types).
 *
 * Use these inside the spec schemas; the CEL rule of `KubeConfigReference` is enforced both by the decoder and,
 * through the generated CRD, by the API server.
 */
import { Schema } from "effect"
import { celRule } from "./cel.ts"

/** Reference to an object in the same namespace. */
export const LocalObjectReference = Schema.Struct({
  name: Schema.String.annotate({ description: "Name of the referent." }),
}).annotate({ description: "Reference to an object in the same namespace as the referrer." })
export type LocalObjectReference = typeof LocalObjectReference.Type

/** Reference to a key of a Secret in the same namespace. */
export const SecretKeyReference = Schema.Struct({
  name: Schema.String.annotate({ description: "Name of the Secret." }),
  key: Schema.optionalKey(
    Schema.String.annotate({ description: "Key in the Secret, when not the default." }),
  ),
}).annotate({ description: "Reference to a key of a Secret in the same namespace as the referrer." })
export type SecretKeyReference = typeof SecretKeyReference.Type

/** Reference to an object in any namespace (namespace defaults to the referrer's). */
export const NamespacedObjectReference = Schema.Struct({
  name: Schema.String.annotate({ description: "Name of the referent." }),
  namespace: Schema.optionalKey(
    Schema.String.annotate({
      description: "Namespace of the referent; defaults to the referrer's namespace.",
    }),
  ),
}).annotate({ description: "Reference to an object in any namespace." })
export type NamespacedObjectReference = typeof NamespacedObjectReference.Type

/** Typed reference to an object in any namespace (used by health checks). */
export const NamespacedObjectKindReference = Schema.Struct({
  apiVersion: Schema.optionalKey(
    Schema.String.annotate({ description: "API version of the referent; the preferred version when empty." }),
  ),
  kind: Schema.String.annotate({ description: "Kind of the referent." }),
  name: Schema.String.annotate({ description: "Name of the referent." }),
  namespace: Schema.optionalKey(
    Schema.String.annotate({
      description: "Namespace of the referent; defaults to the referrer's namespace.",
    }),
  ),
}).annotate({ description: "Typed reference to an object in any namespace." })
export type NamespacedObjectKindReference = typeof NamespacedObjectKindReference.Type

/** The source kinds a Kustomization may reference. */
export const SourceKind = Schema.Literals([
  "OCIRepository",
  "GitRepository",
  "Bucket",
  "ExternalArtifact",
]).annotate({ description: "Kind of the source." })
export type SourceKind = typeof SourceKind.Type

/** Reference from a Kustomization to its source. */
export const CrossNamespaceSourceReference = Schema.Struct({
  apiVersion: Schema.optionalKey(Schema.String.annotate({ description: "API version of the referent." })),
  kind: SourceKind,
  name: Schema.String.annotate({ description: "Name of the referent." }),
  namespace: Schema.optionalKey(
    Schema.String.annotate({
      description: "Namespace of the referent; defaults to the namespace of the Kustomization.",
    }),
  ),
}).annotate({ description: "Reference to the source the Kustomization builds from." })
export type CrossNamespaceSourceReference = typeof CrossNamespaceSourceReference.Type

/** A Kustomization that must be ready before this one is reconciled. */
export const DependencyReference = Schema.Struct({
  name: Schema.String.annotate({ description: "Name of the Kustomization depended on." }),
  namespace: Schema.optionalKey(
    Schema.String.annotate({
      description: "Namespace of the dependency; defaults to the referrer's namespace.",
    }),
  ),
  readyExpr: Schema.optionalKey(
    Schema.String.annotate({
      description:
        "CEL expression (variables self and dep) that decides readiness of the dependency instead of the built-in check.",
    }),
  ),
}).annotate({ description: "Dependency on another Kustomization." })
export type DependencyReference = typeof DependencyReference.Type

/** Where to find a kubeconfig for applying to a remote cluster: exactly one of secretRef or configMapRef. */
export const KubeConfigReference = Schema.Struct({
  secretRef: Schema.optionalKey(
    SecretKeyReference.annotate({
      description: "Secret holding a kubeconfig under the key `value` or `value.yaml` unless key is set.",
    }),
  ),
  configMapRef: Schema.optionalKey(
    LocalObjectReference.annotate({
      description:
        "ConfigMap describing a cluster reached with workload identity (provider, cluster, address…).",
    }),
  ),
})
  .annotate({ description: "KubeConfig for reconciling on a remote cluster." })
  .pipe(
    Schema.check(
      celRule<{ readonly secretRef?: unknown; readonly configMapRef?: unknown }>({
        rule: "has(self.secretRef) || has(self.configMapRef)",
        message: "exactly one of secretRef or configMapRef must be specified",
        test: (self) => self.secretRef !== undefined || self.configMapRef !== undefined,
      }),
      celRule<{ readonly secretRef?: unknown; readonly configMapRef?: unknown }>({
        rule: "!has(self.secretRef) || !has(self.configMapRef)",
        message: "exactly one of secretRef or configMapRef must be specified",
        test: (self) => self.secretRef === undefined || self.configMapRef === undefined,
      }),
    ),
  )
export type KubeConfigReference = typeof KubeConfigReference.Type
