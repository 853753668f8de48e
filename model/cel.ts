/**
 * CEL validation rules (`x-kubernetes-validations`) declared once on a schema.
 *
 * Use `celRule` where Flux's CRDs carry a CEL rule: the same rule is checked in TypeScript by the decoder (`test`)
 * and emitted into the generated CRD so the API server enforces it.
 */
import { Schema } from "effect"

/** One `x-kubernetes-validations` entry of a CRD schema. */
export interface CelValidation {
  readonly rule: string
  readonly message: string
  readonly fieldPath?: string
}

/** A check that runs `test` on decode and appears as a CEL rule in the generated CRD. */
export const celRule = <T>(options: CelValidation & { readonly test: (self: T) => boolean }) => {
  const validation: CelValidation = {
    rule: options.rule,
    message: options.message,
    ...(options.fieldPath === undefined ? {} : { fieldPath: options.fieldPath }),
  }
  return Schema.makeFilter<T>((self) => (options.test(self) ? undefined : options.message), {
    expected: options.message,
    toJsonSchema: () => ({ "x-kubernetes-validations": [validation] }),
  })
}
