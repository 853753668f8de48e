/**
 * Decoding objects read from the API server (or a manifest) into typed values.
 *
 * Use `decodeGitRepository`/`decodeKustomization` at the boundary where unknown JSON enters the operator; a
 * failure is a `ModelDecodeError` naming the object and every offending field path. Values are never quoted in
 * the message, so a decode error cannot leak data.
 */
import { Data, Effect, Schema, SchemaIssue } from "effect"
import { GitRepository } from "./gitrepository.ts"
import { Kustomization } from "./kustomization.ts"

/** One invalid field: a dotted path such as `spec.sourceRef.kind`, and what is wrong with it. */
export interface FieldIssue {
  readonly path: string
  readonly message: string
}

/** An object that does not match its kind's schema. */
export class ModelDecodeError extends Data.TaggedError("ModelDecodeError")<{
  /** The kind the object was decoded as. */
  readonly kind: string
  /** `<namespace>/<name>` or `<name>` when the object carries them, else "<unnamed>". */
  readonly object: string
  readonly issues: ReadonlyArray<FieldIssue>
}> {
  override get message(): string {
    const fields = this.issues.map((i) => (i.path === "" ? i.message : `${i.path}: ${i.message}`)).join("; ")
    return `invalid ${this.kind} '${this.object}': ${fields}`
  }
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** Renders a path the way kubectl names fields: `spec.patches[0].target.kind`. */
export const formatPath = (path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>): string =>
  path
    .map((segment) => (typeof segment === "object" ? segment.key : segment))
    .reduce<string>(
      (acc, key) =>
        typeof key === "number" ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`,
      "",
    )

const objectName = (input: unknown): string => {
  const metadata = (input as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata
  const name = typeof metadata?.name === "string" ? metadata.name : undefined
  const namespace = typeof metadata?.namespace === "string" ? metadata.namespace : undefined
  if (name === undefined) return "<unnamed>"
  return namespace === undefined ? name : `${namespace}/${name}`
}

/** Builds a decoder for a kind: typed value, or a `ModelDecodeError` listing every invalid field. */
export const decoderFor = <S extends Schema.Decoder<unknown>>(kind: string, schema: S) => {
  const decode = Schema.decodeUnknownEffect(schema)
  return (input: unknown): Effect.Effect<S["Type"], ModelDecodeError> =>
    decode(input, { errors: "all" }).pipe(
      Effect.mapError((error) => {
        const failure = formatter(error.issue)
        return new ModelDecodeError({
          kind,
          object: objectName(input),
          issues: failure.issues.map((issue) => ({
            path: formatPath(issue.path ?? []),
            message: issue.message,
          })),
        })
      }),
    ) as Effect.Effect<S["Type"], ModelDecodeError>
}

/** Decodes a GitRepository read from the API server. */
export const decodeGitRepository: (input: unknown) => Effect.Effect<GitRepository, ModelDecodeError> =
  decoderFor("GitRepository", GitRepository)

/** Decodes a Kustomization read from the API server. */
export const decodeKustomization: (input: unknown) => Effect.Effect<Kustomization, ModelDecodeError> =
  decoderFor("Kustomization", Kustomization)

/** Encodes a GitRepository back to its JSON form (defaults stay filled in). */
export const encodeGitRepository = Schema.encodeSync(GitRepository)

/** Encodes a Kustomization back to its JSON form (defaults stay filled in). */
export const encodeKustomization = Schema.encodeSync(Kustomization)
