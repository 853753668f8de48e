/**
 * One fuzz target of `npm run bench:fuzz`: a generator of hostile inputs and the properties every input must
 * keep. The runner (`bench/fuzz.ts`) loads every `bench/fuzz/*.ts` that exports `target`, feeds each one the
 * number of inputs asked for, and reports inputs, failures, the slowest input and what was asserted.
 *
 * @module
 */
export interface FuzzTarget {
  /** Short name shown in the report, e.g. `sops/yaml-store`. */
  readonly name: string
  /** What every input is checked for, in one sentence (written into docs/fuzzing.md). */
  readonly asserted: string
  /** Runs one generated input; throws (or rejects) to report a property violation. */
  readonly run: (rng: () => number, index: number) => void | Promise<void>
}
