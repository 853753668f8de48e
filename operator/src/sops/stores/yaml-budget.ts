/**
 * The alias budget of the YAML store: how much work aliases may add while a file is turned into a tree.
 *
 * sops walks go-yaml's node graph itself and expands every alias with no limit, so a few hundred bytes of
 * nested aliases ("billion laughs") expand to billions of nodes. go-yaml's own decoder (decode.go,
 * `allowedAliasRatio`) stops such documents with "document contains excessive aliasing": once more than 100
 * nodes came from aliases and more than 1000 were decoded, the share of alias-driven nodes may be at most 99%
 * up to 400,000 decoded nodes, falling linearly to 10% at 4,000,000. We apply exactly that rule, with three
 * differences that only hostile files notice:
 * - it counts over the whole file, not per document (a file of many small bombs would multiply it);
 * - comment lines copied by an expansion count as nodes (sops re-emits an anchor's comments at every alias);
 * - the characters of scalars and comments copied by aliases are capped too ({@link aliasedCharsLimit}): one
 *   megabyte anchored and aliased a thousand times is few nodes but a gigabyte of output.
 * No file sops users write comes near these bounds; a bomb trips within a few thousand nodes.
 *
 * @module
 */

const RATIO_RANGE_LOW = 400_000
const RATIO_RANGE_HIGH = 4_000_000

/** go-yaml's `allowedAliasRatio`. */
const allowedAliasRatio = (decodes: number): number =>
  decodes <= RATIO_RANGE_LOW
    ? 0.99
    : decodes >= RATIO_RANGE_HIGH
      ? 0.1
      : 0.99 - (0.89 * (decodes - RATIO_RANGE_LOW)) / (RATIO_RANGE_HIGH - RATIO_RANGE_LOW)

/** Characters aliases may copy for a text of `length`: 16 times the text, and at least 4 Mi. */
export const aliasedCharsLimit = (length: number): number => Math.max(4 * 1024 * 1024, 16 * length)

export interface AliasBudget {
  /** Enter (+1) or leave (-1) an alias expansion. */
  readonly alias: (delta: 1 | -1) => void
  /**
   * Counts one decoded node (or comment line) of `chars` characters; returns the reason when the budget is
   * exhausted, undefined otherwise.
   */
  readonly count: (chars?: number) => string | undefined
}

export const aliasBudget = (textLength: number): AliasBudget => {
  const maxChars = aliasedCharsLimit(textLength)
  let decodes = 0
  let aliased = 0
  let aliasedChars = 0
  let depth = 0
  return {
    alias: (delta) => {
      depth += delta
    },
    count: (chars = 0) => {
      decodes++
      if (depth === 0) return undefined
      aliased++
      aliasedChars += chars
      if (aliased > 100 && decodes > 1000 && aliased / decodes > allowedAliasRatio(decodes))
        return "document contains excessive aliasing"
      if (aliasedChars > maxChars) return "document contains excessive aliasing (aliases copy too much text)"
      return undefined
    },
  }
}
