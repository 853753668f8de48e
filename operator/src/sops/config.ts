/**
 * `.sops.yaml` creation rules (§11): discovery, `path_regex` matching relative to the config file, first match
 * wins, key groups (with `merge`), Shamir threshold, selection rule and `mac_only_encrypted`.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs"
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path"
import { Effect } from "effect"
import { RE2JS } from "re2js"
import { parse as parseYaml } from "yaml"
import { ConfigError } from "./errors.ts"
import { type KeyRecipient, keyId } from "./keys/masterkey.ts"
import {
  ageRecipient,
  azureRecipient,
  gcpKmsRecipient,
  hckmsRecipient,
  kmsRecipient,
  pgpRecipient,
  splitList,
  vaultRecipient,
} from "./recipients.ts"
import { ruleKinds, type SelectionRule } from "./rules.ts"

/** What a matching creation rule asks for. */
export interface CreationRule {
  readonly keyGroups: ReadonlyArray<ReadonlyArray<KeyRecipient>>
  readonly shamirThreshold?: number
  readonly rule?: SelectionRule
  readonly macOnlyEncrypted?: boolean
  /** `stores.yaml.indent` / `stores.json.indent`. */
  readonly indent?: { readonly yaml?: number; readonly json?: number }
}

const configName = ".sops.yaml"

/** The first `.sops.yaml` in `dir` or its ancestors (at most 100 levels, as sops). */
export const findConfigUpward = (dir: string): string | undefined => {
  let d = resolve(dir)
  for (let i = 0; i < 100; i++) {
    const candidate = join(d, configName)
    if (existsSync(candidate)) return candidate
    const parent = dirname(d)
    if (parent === d) return undefined
    d = parent
  }
  return undefined
}

/**
 * The config sops would use: `--config`/`SOPS_CONFIG` when given, else the first `.sops.yaml` upward from the
 * working directory (sops' rule); when there is none, upward from the file's directory (so `kustodian encrypt`
 * also works from outside the repository).
 */
export const discoverConfig = (opts: { explicit?: string; cwd: string; file: string }): string | undefined =>
  opts.explicit ?? findConfigUpward(opts.cwd) ?? findConfigUpward(dirname(resolve(opts.cwd, opts.file)))

type Raw = Record<string, unknown>
const isRecord = (u: unknown): u is Raw => typeof u === "object" && u !== null && !Array.isArray(u)

const strings = (u: unknown): Array<string> => {
  if (u === undefined || u === null) return []
  if (typeof u === "string") return splitList(u)
  if (Array.isArray(u)) return u.flatMap((x) => (typeof x === "string" ? splitList(x) : []))
  return []
}

const bad = (config: string, reason: string) => new ConfigError({ config, reason })

const must = <A>(config: string, a: A | undefined, what: string): A => {
  if (a === undefined) throw bad(config, `invalid ${what}`)
  return a
}

/** Keys of the flat per-type fields of a rule (one key group). */
const flatGroup = (config: string, r: Raw): Array<KeyRecipient> => {
  const profile = typeof r.aws_profile === "string" ? r.aws_profile : ""
  return [
    ...strings(r.kms).map((s) => kmsRecipient(s, {}, profile)),
    ...strings(r.gcp_kms).map(gcpKmsRecipient),
    ...strings(r.hckms).map(hckmsRecipient),
    ...strings(r.azure_keyvault).map((s) => must(config, azureRecipient(s), `azure_keyvault URL ${s}`)),
    ...strings(r.hc_vault_transit_uri).map((s) =>
      must(config, vaultRecipient(s), `hc_vault_transit_uri ${s}`),
    ),
    ...strings(r.pgp).map(pgpRecipient),
    ...strings(r.age).map(ageRecipient),
  ]
}

const records = (u: unknown): Array<Raw> => (Array.isArray(u) ? u.filter(isRecord) : [])

/** One `key_groups` entry, `merge` flattened in, de-duplicated by (type, id). */
const keyGroup = (config: string, g: Raw): Array<KeyRecipient> => {
  const keys: Array<KeyRecipient> = [
    ...records(g.kms).map((k) =>
      kmsRecipient(
        String(k.arn ?? "") + (k.role ? `+${String(k.role)}` : ""),
        isRecord(k.context)
          ? Object.fromEntries(Object.entries(k.context).map(([a, b]) => [a, String(b)]))
          : {},
        typeof k.aws_profile === "string" ? k.aws_profile : "",
      ),
    ),
    ...records(g.gcp_kms).map((k) => gcpKmsRecipient(String(k.resource_id ?? ""))),
    ...records(g.hckms).map((k) => hckmsRecipient(String(k.key_id ?? ""))),
    ...records(g.azure_keyvault).map(
      (k): KeyRecipient => ({
        type: "azure_kv",
        vaultUrl: String(k.vaultUrl ?? ""),
        name: String(k.key ?? ""),
        version: String(k.version ?? ""),
      }),
    ),
    ...strings(g.hc_vault).map((s) => must(config, vaultRecipient(s), `hc_vault URI ${s}`)),
    ...strings(g.pgp).map(pgpRecipient),
    ...strings(g.age).map(ageRecipient),
    ...records(g.merge).flatMap((m) => keyGroup(config, m)),
  ]
  const seen = new Set<string>()
  return keys.filter((k) => {
    const id = `${k.type}\u0000${keyId(k)}`
    if (seen.has(id)) return false
    seen.add(id)
    return true
  })
}

/** The path sops matches `path_regex` against: relative to the config's directory when below it. */
export const matchPath = (configPath: string, file: string, cwd: string): string => {
  const abs = isAbsolute(file) ? file : resolve(cwd, file)
  const dir = dirname(resolve(cwd, configPath))
  const rel = relative(dir, abs)
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel.split("/").join(sep) : abs
}

/** Parses config text and returns the first creation rule matching `matchedPath` (undefined: no creation_rules). */
export const creationRuleFor = (
  config: string,
  text: string,
  matchedPath: string,
): CreationRule | undefined => {
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (e) {
    throw bad(config, `cannot parse: ${(e as Error).message}`)
  }
  if (!isRecord(doc) || doc.creation_rules === undefined || doc.creation_rules === null) return undefined
  if (!Array.isArray(doc.creation_rules)) throw bad(config, "creation_rules is not a list")
  const stores = isRecord(doc.stores) ? doc.stores : {}
  const indentOf = (s: unknown) => (isRecord(s) && typeof s.indent === "number" ? s.indent : undefined)
  for (const [i, r] of doc.creation_rules.entries()) {
    if (!isRecord(r)) throw bad(config, `creation_rules[${i}] is not a mapping`)
    if (typeof r.path_regex === "string" && r.path_regex !== "") {
      let re: RE2JS
      try {
        re = RE2JS.compile(r.path_regex)
      } catch (e) {
        throw bad(
          config,
          `creation_rules[${i}].path_regex is not a valid RE2 expression: ${(e as Error).message}`,
        )
      }
      if (!re.matcher(matchedPath).find()) continue
    }
    const rules = ruleKinds.filter((k) => typeof r[k] === "string" && r[k] !== "")
    if (rules.length > 1)
      throw bad(
        config,
        `creation_rules[${i}] uses more than one of ${ruleKinds.join(", ")} (${rules.join(", ")})`,
      )
    const groups = records(r.key_groups)
    const keyGroups = groups.length > 0 ? groups.map((g) => keyGroup(config, g)) : [flatGroup(config, r)]
    const threshold = r.shamir_threshold
    const indent = { yaml: indentOf(stores.yaml), json: indentOf(stores.json) }
    return {
      keyGroups,
      ...(typeof threshold === "number" && threshold > 0 ? { shamirThreshold: threshold } : {}),
      ...(rules[0] !== undefined ? { rule: { kind: rules[0], value: String(r[rules[0]]) } } : {}),
      ...(r.mac_only_encrypted === true ? { macOnlyEncrypted: true } : {}),
      indent,
    }
  }
  throw bad(config, "no matching creation rules found")
}

/** Loads the creation rule for `file` from a discovered config (undefined when there is no usable config). */
export const loadCreationRule = (opts: {
  explicit?: string
  cwd: string
  file: string
  /** `--filename-override`: the path used for matching instead of `file`. */
  matchAs?: string
}): Effect.Effect<{ config: string; rule: CreationRule } | undefined, ConfigError> =>
  Effect.try({
    try: () => {
      const config = discoverConfig(opts)
      if (config === undefined) return undefined
      const text = readFileSync(resolve(opts.cwd, config), "utf8")
      const rule = creationRuleFor(config, text, matchPath(config, opts.matchAs ?? opts.file, opts.cwd))
      return rule === undefined ? undefined : { config, rule }
    },
    catch: (e) =>
      e instanceof ConfigError
        ? e
        : new ConfigError({ config: opts.explicit ?? ".sops.yaml", reason: String(e) }),
  })
