/**
 * What the main thread asks of the worker pool (`pool.ts`) and what a worker answers: plain, structured-clonable
 * data only. Each job is CPU-heavy parsing or printing of repository content whose time the repository
 * controls: kustomize's output (`stages/build/objects.ts`), large SOPS files (`sops/stores/`) and CEL
 * expressions of a Kustomization's spec (`stages/health/cel.ts`), which no cost budget bounds.
 *
 * @module
 */

import type { KubeObject } from "../kube/object.ts"
import type { Format } from "../sops/stores/errors.ts"
import type { EncryptedFile, StoreOptions } from "../sops/stores/store.ts"
import type { Documents } from "../sops/tree.ts"
import type { CelKind } from "../stages/health/cel.ts"

export type WorkerJob =
  | { readonly op: "parse"; readonly text: string; readonly maxObjects?: number | undefined }
  | { readonly op: "print"; readonly objects: ReadonlyArray<KubeObject> }
  | {
      readonly op: "store-read"
      readonly format: Format
      readonly options: StoreOptions
      readonly encrypted: boolean
      readonly bytes: Uint8Array
    }
  | {
      readonly op: "cel"
      readonly kind: CelKind
      readonly expressions: ReadonlyArray<string>
      readonly variables: Record<string, unknown>
    }

/** A StoreError's fields, to rebuild the typed error on the main thread. */
export interface StoreErrorData {
  readonly _tag: "StoreParseError" | "StoreEmitError" | "StoreMetadataError"
  readonly format: Format
  readonly reason: string
  readonly line?: number | undefined
  readonly column?: number | undefined
  readonly path?: ReadonlyArray<string> | undefined
}

export type WorkerReply =
  | { readonly ok: true; readonly objects: KubeObject[] }
  | { readonly ok: true; readonly text: string }
  | { readonly ok: true; readonly documents: Documents }
  | { readonly ok: true; readonly file: EncryptedFile }
  | { readonly ok: true; readonly first: number }
  | {
      readonly ok: false
      readonly message: string
      readonly tooMany?: boolean
      readonly store?: StoreErrorData
    }
