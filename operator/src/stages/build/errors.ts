/**
 * The two ways a build stage fails, carrying Flux's Ready reason so the controller can copy it to the
 * condition as is. Messages name the object, the file and the key path, never a value.
 *
 * @module
 */
import { Data } from "effect"

/** Where a failure is located; every field is a name, never content. */
export interface FailureLocation {
  /** `Kind/namespace/name` of the object concerned, when one is. */
  readonly object?: string
  /** Path of the file relative to the artifact root, when one is concerned. */
  readonly file?: string
  /** Dotted key path inside the object or file (e.g. `data.config.yaml`). */
  readonly keyPath?: string
}

/**
 * The source artifact could not be used: download, digest, extraction or `spec.path`.
 * Retryable unless `terminal` (a path that is missing in a given revision stays missing for that revision,
 * but a new revision may bring it, so Flux retries those too).
 */
export class ArtifactFailed extends Data.TaggedError("ArtifactFailed")<
  FailureLocation & { readonly message: string; readonly terminal: boolean }
> {
  get reason(): "ArtifactFailed" {
    return "ArtifactFailed"
  }
}

/**
 * The manifests could not be turned into objects: kustomize, confinement, decryption, substitution.
 * `terminal` is true when retrying the same inputs cannot succeed (the revision and the referenced
 * Secrets must change first).
 */
export class BuildFailed extends Data.TaggedError("BuildFailed")<
  FailureLocation & { readonly message: string; readonly terminal: boolean }
> {
  get reason(): "BuildFailed" {
    return "BuildFailed"
  }
}

/** Any failure of the build pipeline. */
export type BuildError = ArtifactFailed | BuildFailed
