/**
 * `GitRepository` in `source.toolkit.fluxcd.io/v1`: which Git repository, ref and paths to turn into an artifact.
 *
 * The schemas are the single source of the API: the operator decodes objects with them and `synth/` generates the
 * CRD from `GitRepositorySpec`/`GitRepositoryStatus`.
 */
import { Schema } from "effect"
import type { ApiResource } from "./api-resource.ts"
import { readyColumns } from "./api-resource.ts"
import { Artifact } from "./artifact.ts"
import { celRule } from "./cel.ts"
import { Condition } from "./condition.ts"
import { withDefault } from "./defaults.ts"
import { Duration, gitTimeoutPattern } from "./duration.ts"
import { ObjectMeta } from "./object-meta.ts"
import { LocalObjectReference } from "./reference.ts"

/** Served names of GitRepository. */
export const gitRepositoryResource: ApiResource = {
  group: "source.toolkit.fluxcd.io",
  version: "v1",
  kind: "GitRepository",
  listKind: "GitRepositoryList",
  plural: "gitrepositories",
  singular: "gitrepository",
  shortNames: ["gitrepo"],
  categories: ["all", "fluxcd", "fluxcd-sources"],
  printerColumns: [{ name: "URL", type: "string", jsonPath: ".spec.url" }, ...readyColumns],
}

/** URLs Flux accepts: http, https and ssh (no scp-style `git@host:path`). */
export const gitUrlPattern = /^(http|https|ssh):\/\/.*$/u

/** Authentication providers. */
export const GitProvider = Schema.Literals(["generic", "aws", "azure", "github"]).annotate({
  description: "Authentication provider: generic (secretRef credentials, the default), aws, azure or github.",
})
export type GitProvider = typeof GitProvider.Type

/** The branch checked out when `ref` names nothing. */
export const DefaultBranch = "master"

/** Which Git reference to check out; precedence commit > name > semver > tag > branch. */
export const GitRepositoryRef = Schema.Struct({
  branch: Schema.optionalKey(
    Schema.String.annotate({ description: "Branch to check out; 'master' when no other field is set." }),
  ),
  tag: Schema.optionalKey(
    Schema.String.annotate({ description: "Tag to check out; takes precedence over branch." }),
  ),
  semver: Schema.optionalKey(
    Schema.String.annotate({ description: "SemVer range of tags to check out; takes precedence over tag." }),
  ),
  name: Schema.optionalKey(
    Schema.String.annotate({
      description:
        "Full reference to check out, e.g. refs/heads/main or refs/pull/420/head; precedence over semver.",
    }),
  ),
  commit: Schema.optionalKey(
    Schema.String.annotate({
      description:
        "Commit SHA to check out; takes precedence over all other fields, combined with branch it is looked up there.",
    }),
  ),
}).annotate({ description: "Git reference to resolve and watch." })
export type GitRepositoryRef = typeof GitRepositoryRef.Type

/** Which Git objects must carry a trusted signature. */
export const GitVerificationMode = Schema.Literals(["head", "HEAD", "Tag", "TagAndHEAD"]).annotate({
  description:
    "Objects to verify: HEAD (or head) the checked-out commit, Tag the tag object, TagAndHEAD both.",
})
export type GitVerificationMode = typeof GitVerificationMode.Type

/** Signature verification of commits and tags. */
export const GitRepositoryVerification = Schema.Struct({
  mode: GitVerificationMode.pipe(withDefault<typeof GitVerificationMode>("HEAD")),
  secretRef: LocalObjectReference.annotate({
    description: "Secret with trusted public keys: PGP under *.asc keys, SSH under *.sshpub keys.",
  }),
}).annotate({ description: "Verification of Git commit and tag signatures." })
export type GitRepositoryVerification = typeof GitRepositoryVerification.Type

/** Another GitRepository whose artifact is copied into this one. */
export const GitRepositoryInclude = Schema.Struct({
  repository: LocalObjectReference.annotate({ description: "The GitRepository to include." }),
  fromPath: Schema.optionalKey(
    Schema.String.annotate({
      description: "Path in the included artifact to copy from; its root by default.",
    }),
  ),
  toPath: Schema.optionalKey(
    Schema.String.annotate({ description: "Path to copy to; the included repository's name by default." }),
  ),
}).annotate({ description: "Inclusion of another GitRepository's artifact." })
export type GitRepositoryInclude = typeof GitRepositoryInclude.Type

type SpecProviderFields = { readonly provider?: string; readonly serviceAccountName?: string }

/** Desired state of a GitRepository. */
export const GitRepositorySpec = Schema.Struct({
  url: Schema.String.pipe(Schema.check(Schema.isPattern(gitUrlPattern))).annotate({
    description: "Repository URL: an http, https or ssh address.",
  }),
  secretRef: Schema.optionalKey(
    LocalObjectReference.annotate({
      description:
        "Secret with credentials: username/password or bearerToken for HTTPS, identity/known_hosts for SSH.",
    }),
  ),
  provider: Schema.optionalKey(GitProvider),
  serviceAccountName: Schema.optionalKey(
    Schema.String.annotate({
      description: "ServiceAccount used to authenticate (aws and azure providers only).",
    }),
  ),
  interval: Duration.annotate({ description: "How often the repository is checked for new revisions." }),
  timeout: Schema.String.pipe(Schema.check(Schema.isPattern(gitTimeoutPattern)))
    .annotate({ description: "Timeout of Git operations such as cloning." })
    .pipe(withDefault<Schema.String>("60s")),
  ref: Schema.optionalKey(GitRepositoryRef),
  verify: Schema.optionalKey(GitRepositoryVerification),
  proxySecretRef: Schema.optionalKey(
    LocalObjectReference.annotate({
      description: "Secret with the proxy to use: address (required), username, password.",
    }),
  ),
  ignore: Schema.optionalKey(
    Schema.String.annotate({
      description: "Exclusion patterns in .gitignore format; replaces the default exclusions.",
    }),
  ),
  suspend: Schema.optionalKey(
    Schema.Boolean.annotate({ description: "Suspends reconciliation of this GitRepository." }),
  ),
  recurseSubmodules: Schema.optionalKey(
    Schema.Boolean.annotate({ description: "Clones submodules too, with their default settings." }),
  ),
  include: Schema.optionalKey(
    Schema.Array(GitRepositoryInclude).annotate({
      description: "GitRepositories whose artifacts are included in this artifact.",
    }),
  ),
  sparseCheckout: Schema.optionalKey(
    Schema.Array(Schema.String).annotate({ description: "Only these directories are checked out." }),
  ),
})
  .annotate({ description: "Desired state of a GitRepository." })
  .pipe(
    Schema.check(
      celRule<SpecProviderFields>({
        rule: "!has(self.serviceAccountName) || (has(self.provider) && (self.provider == 'azure' || self.provider == 'aws'))",
        message: "serviceAccountName can only be set when provider is 'azure' or 'aws'",
        test: (self) =>
          self.serviceAccountName === undefined || self.provider === "azure" || self.provider === "aws",
      }),
    ),
  )
export type GitRepositorySpec = typeof GitRepositorySpec.Type

/** Observed state of a GitRepository. */
export const GitRepositoryStatus = Schema.Struct({
  observedGeneration: Schema.optionalKey(
    Schema.Int.annotate({ description: "Last observed generation.", format: "int64" }),
  ),
  conditions: Schema.optionalKey(
    Schema.Array(Condition).annotate({ description: "Conditions of the object." }),
  ),
  artifact: Schema.optionalKey(
    Artifact.annotate({ description: "Artifact of the last successful reconciliation." }),
  ),
  includedArtifacts: Schema.optionalKey(
    Schema.Array(Artifact).annotate({ description: "Artifacts of the included GitRepositories." }),
  ),
  observedIgnore: Schema.optionalKey(
    Schema.String.annotate({ description: "Exclusion patterns used for the current artifact." }),
  ),
  observedRecurseSubmodules: Schema.optionalKey(
    Schema.Boolean.annotate({ description: "Submodule setting used for the current artifact." }),
  ),
  observedInclude: Schema.optionalKey(
    Schema.Array(GitRepositoryInclude).annotate({ description: "Includes used for the current artifact." }),
  ),
  observedSparseCheckout: Schema.optionalKey(
    Schema.Array(Schema.String).annotate({ description: "Sparse checkout used for the current artifact." }),
  ),
  sourceVerificationMode: Schema.optionalKey(
    Schema.String.annotate({ description: "Verification mode used for the current artifact." }),
  ),
  lastHandledReconcileAt: Schema.optionalKey(
    Schema.String.annotate({
      description: "Value of the reconcile.fluxcd.io/requestedAt annotation last handled.",
    }),
  ),
}).annotate({ description: "Observed state of a GitRepository." })
export type GitRepositoryStatus = typeof GitRepositoryStatus.Type

/** The status an object has before its first reconcile (the CRD default). */
export const initialStatus = { observedGeneration: -1 } as const

/** A GitRepository object. */
export const GitRepository = Schema.Struct({
  apiVersion: Schema.Literal("source.toolkit.fluxcd.io/v1"),
  kind: Schema.Literal("GitRepository"),
  metadata: ObjectMeta,
  spec: GitRepositorySpec,
  status: GitRepositoryStatus.pipe(withDefault<typeof GitRepositoryStatus>(initialStatus)),
})
export type GitRepository = typeof GitRepository.Type

/** The provider in effect (`generic` when unset). */
export const gitProvider = (spec: GitRepositorySpec): GitProvider => spec.provider ?? "generic"
