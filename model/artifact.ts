/**
 * The artifact a source publishes (fluxcd/pkg apis/meta `Artifact`): a tarball served over HTTP, identified by
 * revision and digest.
 *
 * Use `Artifact` in source statuses; consumers download `url` and verify `digest`.
 */
import { Schema } from "effect"
import { Time } from "./condition.ts"

/** `<algorithm>:<encoded>`, e.g. `sha256:2c26b4…`. */
export const digestPattern = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/u

/** A content digest in the form `<algorithm>:<checksum>`. */
export const Digest = Schema.String.pipe(Schema.check(Schema.isPattern(digestPattern))).annotate({
  description: "Digest of the content in the form '<algorithm>:<checksum>'.",
})
export type Digest = typeof Digest.Type

/** The output of a successful source reconciliation. */
export const Artifact = Schema.Struct({
  path: Schema.String.annotate({
    description:
      "Path of the artifact relative to the storage root, e.g. gitrepository/<ns>/<name>/<commit>.tar.gz.",
  }),
  url: Schema.String.annotate({ description: "HTTP address the artifact is served from." }),
  revision: Schema.String.annotate({
    description: "Revision the artifact was produced from, e.g. main@sha1:<commit>.",
  }),
  digest: Schema.optionalKey(Digest),
  lastUpdateTime: Time.annotate({ description: "Time the artifact was last updated." }),
  size: Schema.optionalKey(
    Schema.Int.annotate({ description: "Size of the artifact in bytes.", format: "int64" }),
  ),
  metadata: Schema.optionalKey(
    Schema.Record(Schema.String, Schema.String).annotate({
      description: "Upstream metadata, e.g. OCI annotations.",
    }),
  ),
}).annotate({ description: "An artifact produced by a source." })
export type Artifact = typeof Artifact.Type
