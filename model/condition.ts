/**
 * The Kubernetes `metav1.Condition` as Flux uses it, with Flux's condition types and reasons.
 *
 * Use `Condition` to decode/encode status conditions, `ConditionType`/`Reason` for the strings a status
 * projection writes, and `MaxConditionMessageLength` to truncate messages the way Flux does.
 */
import { Schema } from "effect"

/** `metav1.Condition.type` pattern (a qualified name: optional DNS-subdomain prefix + `/` + name). */
export const conditionTypePattern =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/u

/** `metav1.Condition.reason` pattern: CamelCase, may contain `_ , :`. */
export const conditionReasonPattern = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/u

/**
 * Flux truncates condition messages to this many characters (`MaxConditionMessageLength` in fluxcd/pkg);
 * the API server itself accepts up to 32768.
 */
export const MaxConditionMessageLength = 20_000

/** RFC 3339 timestamp as the API server writes it (`metav1.Time`). */
export const Time = Schema.String.annotate({
  description: "RFC 3339 date and time, as written by the API server (metav1.Time).",
  format: "date-time",
})
export type Time = typeof Time.Type

/** The three values of a condition's status. */
export const ConditionStatus = Schema.Literals(["True", "False", "Unknown"]).annotate({
  description: "status of the condition, one of True, False, Unknown.",
})
export type ConditionStatus = typeof ConditionStatus.Type

/** A status condition (`metav1.Condition`), with the API server's bounds. */
export const Condition = Schema.Struct({
  type: Schema.String.pipe(
    Schema.check(Schema.isMaxLength(316), Schema.isPattern(conditionTypePattern)),
  ).annotate({ description: "type of condition in CamelCase or in foo.example.com/CamelCase." }),
  status: ConditionStatus,
  observedGeneration: Schema.optionalKey(
    Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0))).annotate({
      description:
        "observedGeneration represents the .metadata.generation that the condition was set based upon.",
      format: "int64",
    }),
  ),
  lastTransitionTime: Time.annotate({
    description: "lastTransitionTime is the last time the condition transitioned from one status to another.",
  }),
  reason: Schema.String.pipe(
    Schema.check(Schema.isMinLength(1), Schema.isMaxLength(1024), Schema.isPattern(conditionReasonPattern)),
  ).annotate({
    description:
      "reason contains a programmatic identifier indicating the reason for the condition's last transition.",
  }),
  message: Schema.String.pipe(Schema.check(Schema.isMaxLength(32768))).annotate({
    description: "message is a human readable message indicating details about the transition.",
  }),
}).annotate({
  description: "Condition contains details for one aspect of the current state of this API Resource.",
})
export type Condition = typeof Condition.Type

/** Condition types written by Kustodian, as Flux names them (fluxcd/pkg apis/meta + source-controller). */
export const ConditionType = {
  /** Summary condition every Flux object has. */
  Ready: "Ready",
  /** True while a reconcile is in progress (reason Progressing or ProgressingWithRetry). */
  Reconciling: "Reconciling",
  /** True when the object cannot make progress without a spec change. */
  Stalled: "Stalled",
  /** Kustomization: result of health checks. */
  Healthy: "Healthy",
  /** GitRepository: an artifact for the current spec is stored. */
  ArtifactInStorage: "ArtifactInStorage",
  /** GitRepository: the stored artifact is outdated (a new revision is being fetched). */
  ArtifactOutdated: "ArtifactOutdated",
  /** GitRepository: fetching from the remote failed. */
  FetchFailed: "FetchFailed",
  /** GitRepository: building the artifact failed (negative polarity). */
  BuildFailed: "BuildFailed",
  /** GitRepository: a storage operation failed. */
  StorageOperationFailed: "StorageOperationFailed",
  /** GitRepository: commit/tag signature verification result. */
  SourceVerified: "SourceVerified",
  /** GitRepository: an included repository has no artifact. */
  IncludeUnavailable: "IncludeUnavailable",
} as const
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType]

/** Condition reasons, as Flux spells them (fluxcd/pkg apis/meta, kustomize-controller, source-controller). */
export const Reason = {
  // generic (fluxcd/pkg apis/meta)
  Succeeded: "Succeeded",
  Failed: "Failed",
  Progressing: "Progressing",
  ProgressingWithRetry: "ProgressingWithRetry",
  Suspended: "Suspended",
  DependencyNotReady: "DependencyNotReady",
  ReconciliationSucceeded: "ReconciliationSucceeded",
  ReconciliationFailed: "ReconciliationFailed",
  HealthCheckFailed: "HealthCheckFailed",
  HealthCheckCanceled: "HealthCheckCanceled",
  PruneFailed: "PruneFailed",
  ArtifactFailed: "ArtifactFailed",
  BuildFailed: "BuildFailed",
  InvalidCELExpression: "InvalidCELExpression",
  FeatureGateDisabled: "FeatureGateDisabled",
  AccessDenied: "AccessDenied",
  DirectoryCreationFailed: "DirectoryCreationFailed",
  // source-controller
  GitOperationFailed: "GitOperationFailed",
  GitOperationSucceeded: "GitOperationSucceeded",
  AuthenticationFailed: "AuthenticationFailed",
  URLInvalid: "URLInvalid",
  VerificationError: "VerificationError",
  NewRevision: "NewRevision",
  ArtifactUpToDate: "ArtifactUpToDate",
  StatOperationFailed: "StatOperationFailed",
  ReadOperationFailed: "ReadOperationFailed",
  AcquireLockFailed: "AcquireLockFailed",
  InvalidPath: "InvalidPath",
  ArchiveOperationFailed: "ArchiveOperationFailed",
  SymlinkUpdateFailed: "SymlinkUpdateFailed",
  PatchOperationFailed: "PatchOperationFailed",
  InvalidProviderConfiguration: "InvalidProviderConfiguration",
} as const
export type Reason = (typeof Reason)[keyof typeof Reason]

/** Finds the condition of a type, if present. */
export const findCondition = (
  conditions: ReadonlyArray<Condition> | undefined,
  type: string,
): Condition | undefined => conditions?.find((c) => c.type === type)

/** Truncates a message to Flux's bound, marking the cut. */
export const truncateMessage = (message: string): string =>
  message.length <= MaxConditionMessageLength
    ? message
    : `${message.slice(0, MaxConditionMessageLength - 3)}...`
