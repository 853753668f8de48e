import { Data } from "effect"

/**
 * The API server answered with an error status. `reason` is the `Status.reason` Kubernetes sends
 * (`NotFound`, `Conflict`, `AlreadyExists`, `Gone`, `Expired`, `Invalid`, `Forbidden`, …) or the
 * HTTP status text when the body is not a Status.
 */
export class KubeApiError extends Data.TaggedError("KubeApiError")<{
  readonly verb: string
  readonly path: string
  readonly code: number
  readonly reason: string
  readonly message: string
}> {
  get isNotFound(): boolean {
    return this.code === 404
  }
  get isConflict(): boolean {
    return this.code === 409
  }
  /** The watch's resourceVersion is too old: relist. */
  get isGone(): boolean {
    return this.code === 410 || this.reason === "Expired" || this.reason === "Gone"
  }
}

/** The API server could not be reached or the connection broke mid-request. */
export class KubeTransportError extends Data.TaggedError("KubeTransportError")<{
  readonly verb: string
  readonly path: string
  readonly message: string
}> {}

/** The kubeconfig could not be loaded or names no usable cluster. */
export class KubeConfigError extends Data.TaggedError("KubeConfigError")<{
  readonly source: string
  readonly message: string
}> {}

/** Discovery does not know the `apiVersion`/`kind`. */
export class UnknownKindError extends Data.TaggedError("UnknownKindError")<{
  readonly apiVersion: string
  readonly kind: string
}> {
  override get message(): string {
    return `no resource for ${this.kind} in ${this.apiVersion} (is the CRD installed?)`
  }
}

export type KubeError = KubeApiError | KubeTransportError
