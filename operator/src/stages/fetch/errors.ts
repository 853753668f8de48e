/**
 * Typed failures of the fetch stage. Each carries the Flux reason a GitRepository condition shows, a message
 * that is safe to put into status and events (URLs without userinfo, no secret values), and whether retrying
 * can help: a terminal error stalls the object until its spec changes.
 */
import { Data } from "effect"

/** The remote rejected our credentials, or the SSH host key did not match `known_hosts`. */
export class GitAuthError extends Data.TaggedError("GitAuthError")<{
  readonly url: string
  readonly message: string
}> {
  readonly reason = "AuthenticationFailed"
  readonly retryable = true
}

/** A git operation failed: network, missing ref, server error, timeout. */
export class GitOperationError extends Data.TaggedError("GitOperationError")<{
  readonly url: string
  readonly operation: string
  readonly message: string
  /** False when the remote answered but the ref does not exist — retrying won't create it, but a push will. */
  readonly transient: boolean
}> {
  readonly reason = "GitOperationFailed"
  readonly retryable = true
}

/** The Secret named by `spec.secretRef` is missing or lacks the keys the URL's scheme needs. */
export class AuthSecretError extends Data.TaggedError("AuthSecretError")<{
  readonly secret: string
  readonly message: string
}> {
  readonly reason = "AuthenticationFailed"
  readonly retryable = true
}

/** The spec cannot work as written (bad URL, unparsable semver range, bad duration); only an edit fixes it. */
export class InvalidSpecError extends Data.TaggedError("InvalidSpecError")<{
  /** The spec field, e.g. `spec.ref.semver`. */
  readonly field: string
  readonly message: string
  readonly reason: string
}> {
  readonly retryable = false
}

/** Packing the checkout into a tarball failed. */
export class ArchiveError extends Data.TaggedError("ArchiveError")<{
  readonly path: string
  readonly message: string
}> {
  readonly reason = "ArchiveOperationFailed"
  readonly retryable = true
}

/** Reading, writing or collecting artifacts in the storage directory failed. */
export class StorageError extends Data.TaggedError("StorageError")<{
  readonly path: string
  readonly operation: string
  readonly message: string
}> {
  readonly reason = "StorageOperationFailed"
  readonly retryable = true
}

/**
 * A repository is larger than a limit of `limits.ts` (checkout size or file count, artifact size). Retried
 * with backoff like other source failures: a later commit may shrink it, and only a poll notices one.
 */
export class LimitExceededError extends Data.TaggedError("LimitExceededError")<{
  /** The `limits.ts` key, e.g. `maxCheckoutSize`. */
  readonly limit: string
  /** Names the object, the limit, the flag and the offending path; never content. */
  readonly message: string
}> {
  readonly reason = "LimitExceeded"
  readonly retryable = true
}

/**
 * `spec.verify` failed: the Secret is missing, the commit or tag is unsigned or signed by no key of the Secret.
 * Lands in `SourceVerified=False` (Flux's reasons); `stalled` when only a spec edit helps (Tag mode without a
 * tag reference).
 */
export class SourceVerificationError extends Data.TaggedError("SourceVerificationError")<{
  readonly reason: string
  readonly message: string
  readonly stalled: boolean
}> {
  readonly retryable = true
}

/** Copying a `spec.include` artifact into the checkout failed (Flux: IllegalPath, CopyFailure). */
export class IncludeError extends Data.TaggedError("IncludeError")<{
  readonly reason: string
  readonly message: string
}> {
  readonly retryable = true
}

/** Everything the fetch stage can fail with. */
export type FetchError =
  | GitAuthError
  | GitOperationError
  | AuthSecretError
  | InvalidSpecError
  | ArchiveError
  | StorageError
  | LimitExceededError
  | SourceVerificationError
  | IncludeError
