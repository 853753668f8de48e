/**
 * The part of `metav1.ObjectMeta` the operator reads. Unknown metadata fields are dropped on decode; the CRDs
 * leave `metadata` to the API server.
 */
import { Schema } from "effect"
import { Time } from "./condition.ts"

/** Object metadata as read from the API server (or a manifest, where namespace may be absent). */
export const ObjectMeta = Schema.Struct({
  name: Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(253))),
  namespace: Schema.optionalKey(Schema.String),
  uid: Schema.optionalKey(Schema.String),
  resourceVersion: Schema.optionalKey(Schema.String),
  generation: Schema.optionalKey(Schema.Int),
  // `kubectl create --dry-run=client -o yaml` writes `creationTimestamp: null`.
  creationTimestamp: Schema.optionalKey(Schema.NullOr(Time)),
  deletionTimestamp: Schema.optionalKey(Time),
  labels: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  annotations: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  finalizers: Schema.optionalKey(Schema.Array(Schema.String)),
})
export type ObjectMeta = typeof ObjectMeta.Type
