/**
 * Which leaves get encrypted: the six sops selection rules (§4), evaluated with RE2 semantics.
 *
 * @module
 */
import { RE2JS } from "re2js"

export type RuleKind =
  | "unencrypted_suffix"
  | "encrypted_suffix"
  | "unencrypted_regex"
  | "encrypted_regex"
  | "unencrypted_comment_regex"
  | "encrypted_comment_regex"

export const ruleKinds: ReadonlyArray<RuleKind> = [
  "unencrypted_suffix",
  "encrypted_suffix",
  "unencrypted_regex",
  "encrypted_regex",
  "unencrypted_comment_regex",
  "encrypted_comment_regex",
]

/** One selection rule; the field name is the metadata / `.sops.yaml` key. */
export interface SelectionRule {
  readonly kind: RuleKind
  readonly value: string
}

/** sops' default when no rule is given: keys ending in `_unencrypted` stay in clear. */
export const defaultRule: SelectionRule = { kind: "unencrypted_suffix", value: "_unencrypted" }

/** A compiled rule: decides, for a leaf, whether it is encrypted. */
export interface Selector {
  readonly rule: SelectionRule | undefined
  /**
   * @param path mapping keys from the document root
   * @param comments the comment stack (active comments of every enclosing container, outermost first)
   * @param isComment the leaf is a comment; it is then the last entry of the innermost comment list, and
   *   `encrypted_comment_regex` skips it (a marker comment is not encrypted itself)
   */
  readonly shouldEncrypt: (
    path: ReadonlyArray<string>,
    comments: ReadonlyArray<ReadonlyArray<string>>,
    isComment: boolean,
  ) => boolean
}

/** Thrown by {@link compileRule} when a regex is not valid RE2. */
export class InvalidRule extends Error {}

const compile = (source: string): RE2JS => {
  try {
    return RE2JS.compile(source)
  } catch (e) {
    throw new InvalidRule(`invalid regular expression ${JSON.stringify(source)}: ${(e as Error).message}`)
  }
}

/** Compiles a rule (`undefined` = encrypt everything). Regexes are unanchored searches, RE2 syntax. */
export const compileRule = (rule: SelectionRule | undefined): Selector => {
  if (rule === undefined) return { rule, shouldEncrypt: () => true }
  const { kind, value } = rule
  switch (kind) {
    case "unencrypted_suffix":
      return { rule, shouldEncrypt: (path) => !path.some((k) => k.endsWith(value)) }
    case "encrypted_suffix":
      return { rule, shouldEncrypt: (path) => path.some((k) => k.endsWith(value)) }
    case "unencrypted_regex": {
      const re = compile(value)
      return { rule, shouldEncrypt: (path) => !path.some((k) => re.matcher(k).find()) }
    }
    case "encrypted_regex": {
      const re = compile(value)
      return { rule, shouldEncrypt: (path) => path.some((k) => re.matcher(k).find()) }
    }
    case "unencrypted_comment_regex": {
      const re = compile(value)
      return {
        rule,
        shouldEncrypt: (_path, comments) => !comments.some((cs) => cs.some((c) => re.matcher(c).find())),
      }
    }
    case "encrypted_comment_regex": {
      const re = compile(value)
      return {
        rule,
        shouldEncrypt: (_path, comments, isComment) =>
          comments.some((cs, depth) =>
            cs.some(
              (c, i) =>
                !(isComment && depth === comments.length - 1 && i === cs.length - 1) && re.matcher(c).find(),
            ),
          ),
      }
    }
  }
}
