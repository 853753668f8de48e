/**
 * Defaults the API server applies (`default:` in the CRD) that the decoder applies too.
 *
 * Use `withDefault` only where Flux's CRD has a default, so objects read back from the API server and objects
 * decoded from files agree; semantic defaults that Flux computes at run time live in helper functions instead.
 */
import { Effect, Schema } from "effect"

/** Marks an optional field with a default: emitted as `default:` in the CRD and filled in by the decoder. */
export const withDefault =
  <S extends Schema.Top>(value: S["Encoded"]) =>
  (schema: S) =>
    (schema.annotate({ default: value }) as S).pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))
