/**
 * The `sops` metadata: typed {@link Metadata} from the stored mapping (tolerant of every sops version, §6.2,
 * §12) and back to a mapping in the exact key order sops 3.13 writes (§6.3).
 *
 * @module
 */
import { formatTimeSeconds } from "./goformat.ts"
import type {
  AgeKey,
  AzureKvKey,
  GcpKmsKey,
  HcKmsKey,
  KeyGroup,
  KeyType,
  KmsKey,
  MasterKey,
  PgpKey,
  VaultKey,
} from "./keys/masterkey.ts"
import { type RuleKind, ruleKinds, type SelectionRule } from "./rules.ts"
import {
  type Branch,
  branch,
  type Item,
  isBranch,
  isComment,
  isFloat,
  isList,
  isTimestamp,
  list,
  type Value,
} from "./tree.ts"

export interface Metadata {
  /** Key groups in the loader's order (one group for files without `key_groups`). */
  readonly keyGroups: ReadonlyArray<KeyGroup>
  /** 0 when absent. */
  readonly shamirThreshold: number
  /** The `lastmodified` text as stored. */
  readonly lastModified: string
  /** The encrypted MAC, `""` when absent. */
  readonly mac: string
  /**
   * The selection rule. Reading always yields one (sops assumes `unencrypted_suffix: _unencrypted` when a file
   * names none); writing omits it when `undefined` (binary files, 3.11+).
   */
  readonly rule: SelectionRule | undefined
  readonly macOnlyEncrypted: boolean
  readonly version: string
}

/** The metadata mapping could not be understood; `reason` names the field. */
export class MetadataError extends Error {
  override readonly name = "MetadataError"
}

const fail = (reason: string): never => {
  throw new MetadataError(reason)
}

const get = (b: Branch, key: string): Value | undefined => {
  for (const i of b.items) if (!isComment(i.key) && i.key === key) return i.value
  return undefined
}

/** Weakly typed scalar → string (mapstructure's WeaklyTypedInput). */
const str = (v: Value | undefined, field: string): string => {
  if (v === undefined || v === null) return ""
  if (typeof v === "string") return v
  if (typeof v === "bigint" || typeof v === "boolean") return String(v)
  if (isFloat(v)) return String(v.value)
  if (isTimestamp(v)) return v.text
  return fail(`field ${field} is not a string`)
}

const entries = (v: Value | undefined, field: string): ReadonlyArray<Branch> => {
  if (v === undefined || v === null || v === "") return []
  if (!isList(v)) return fail(`field ${field} is not a list`)
  return v.items
    .filter((e) => !isComment(e) && e !== null)
    .map((e) => (isBranch(e) ? e : fail(`${field} entry is not a mapping`)))
}

const createdAt = (b: Branch, field: string): string => {
  const t = str(get(b, "created_at"), `${field}.created_at`)
  if (formatTimeSeconds(t) === undefined) fail(`${field}.created_at is not an RFC 3339 time`)
  return t
}

const context = (v: Value | undefined, field: string): Record<string, string> => {
  if (v === undefined || v === null) return {}
  if (!isBranch(v)) return fail(`${field}.context is not a mapping`)
  const out: Record<string, string> = {}
  for (const i of v.items) if (!isComment(i.key)) out[i.key] = str(i.value, `${field}.context`)
  return out
}

/** Reads the seven master-key lists of one group, in the loader's type order. */
const readGroup = (b: Branch, where: string): Array<MasterKey> => {
  const keys: Array<MasterKey> = []
  for (const e of entries(get(b, "kms"), `${where}kms`))
    keys.push({
      type: "kms",
      arn: str(get(e, "arn"), "kms.arn"),
      role: str(get(e, "role"), "kms.role"),
      context: context(get(e, "context"), "kms"),
      awsProfile: str(get(e, "aws_profile"), "kms.aws_profile"),
      createdAt: createdAt(e, "kms"),
      enc: str(get(e, "enc"), "kms.enc"),
    } satisfies KmsKey)
  for (const e of entries(get(b, "gcp_kms"), `${where}gcp_kms`))
    keys.push({
      type: "gcp_kms",
      resourceId: str(get(e, "resource_id"), "gcp_kms.resource_id"),
      createdAt: createdAt(e, "gcp_kms"),
      enc: str(get(e, "enc"), "gcp_kms.enc"),
    } satisfies GcpKmsKey)
  for (const e of entries(get(b, "hckms"), `${where}hckms`))
    keys.push({
      type: "hckms",
      keyId: str(get(e, "key_id"), "hckms.key_id"),
      createdAt: createdAt(e, "hckms"),
      enc: str(get(e, "enc"), "hckms.enc"),
    } satisfies HcKmsKey)
  for (const e of entries(get(b, "azure_kv"), `${where}azure_kv`))
    keys.push({
      type: "azure_kv",
      vaultUrl: str(get(e, "vault_url"), "azure_kv.vault_url"),
      name: str(get(e, "name"), "azure_kv.name"),
      version: str(get(e, "version"), "azure_kv.version"),
      createdAt: createdAt(e, "azure_kv"),
      enc: str(get(e, "enc"), "azure_kv.enc"),
    } satisfies AzureKvKey)
  for (const e of entries(get(b, "hc_vault"), `${where}hc_vault`))
    keys.push({
      type: "hc_vault",
      vaultAddress: str(get(e, "vault_address"), "hc_vault.vault_address"),
      enginePath: str(get(e, "engine_path"), "hc_vault.engine_path"),
      keyName: str(get(e, "key_name"), "hc_vault.key_name"),
      createdAt: createdAt(e, "hc_vault"),
      enc: str(get(e, "enc"), "hc_vault.enc"),
    } satisfies VaultKey)
  for (const e of entries(get(b, "pgp"), `${where}pgp`))
    keys.push({
      type: "pgp",
      fp: str(get(e, "fp"), "pgp.fp").replace(/\s/g, ""),
      createdAt: createdAt(e, "pgp"),
      enc: str(get(e, "enc"), "pgp.enc"),
    } satisfies PgpKey)
  for (const e of entries(get(b, "age"), `${where}age`))
    keys.push({
      type: "age",
      recipient: str(get(e, "recipient"), "age.recipient").trim(),
      enc: str(get(e, "enc"), "age.enc"),
    } satisfies AgeKey)
  return keys
}

const toInt = (v: Value | undefined, field: string): number => {
  if (v === undefined || v === null || v === "") return 0
  let n: number
  if (typeof v === "bigint") n = Number(v)
  else if (isFloat(v)) n = v.value
  else if (typeof v === "string" && /^\s*[+-]?\d+(\.0*)?\s*$/.test(v)) n = Number(v)
  else return fail(`field ${field} is not an integer`)
  if (!Number.isInteger(n) || n < 0 || n > 255) return fail(`field ${field} is out of range`)
  return n
}

const toBool = (v: Value | undefined, field: string): boolean => {
  if (v === undefined || v === null || v === "") return false
  if (typeof v === "boolean") return v
  if (typeof v === "string" && /^(true|false|1|0|t|f)$/i.test(v)) return /^(true|1|t)$/i.test(v)
  if (typeof v === "bigint") return v !== 0n
  return fail(`field ${field} is not a boolean`)
}

const semver = /^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/

/** Typed metadata from the stored mapping. Throws {@link MetadataError}. */
export const fromBranch = (b: Branch): Metadata => {
  const lastModified = str(get(b, "lastmodified"), "lastmodified")
  if (lastModified === "") fail("field lastmodified is missing")
  if (formatTimeSeconds(lastModified) === undefined) fail("field lastmodified is not an RFC 3339 time")

  const rules: Array<SelectionRule> = []
  for (const kind of ruleKinds) {
    const v = str(get(b, kind), kind)
    if (v !== "") rules.push({ kind, value: v })
  }
  if (rules.length > 1)
    fail(
      `cannot use more than one of ${ruleKinds.join(", ")} in the same file (found ${rules.map((r) => r.kind).join(", ")})`,
    )

  const versionValue = get(b, "version")
  const version =
    typeof versionValue === "bigint" || isFloat(versionValue)
      ? `1.${str(versionValue, "version").split(".")[1] ?? "0"}`
      : str(versionValue, "version")
  if (version !== "" && !semver.test(version) && !version.startsWith("1."))
    fail(`field version ${JSON.stringify(version.slice(0, 40))} is not a semantic version`)

  const top = readGroup(b, "")
  let keyGroups: Array<Array<MasterKey>>
  if (top.length > 0) keyGroups = [top]
  else {
    const groups = get(b, "key_groups")
    keyGroups =
      groups === undefined || groups === null
        ? []
        : isList(groups)
          ? groups.items
              .filter((g) => g !== null && !isComment(g))
              .map((g, i) =>
                isBranch(g) ? readGroup(g, `key_groups[${i}].`) : fail("key_groups entry is not a mapping"),
              )
          : fail("field key_groups is not a list")
  }
  if (keyGroups.length === 0 || keyGroups.every((g) => g.length === 0)) fail("no keys found in file")

  return {
    keyGroups,
    shamirThreshold: toInt(get(b, "shamir_threshold"), "shamir_threshold"),
    lastModified,
    mac: str(get(b, "mac"), "mac"),
    rule: rules[0] ?? { kind: "unencrypted_suffix", value: "_unencrypted" },
    macOnlyEncrypted: toBool(get(b, "mac_only_encrypted"), "mac_only_encrypted"),
    version,
  }
}

const item = (key: string, value: Value): Item => ({ key, value })
const entry = (fields: ReadonlyArray<readonly [string, Value]>): Branch =>
  branch(fields.map(([k, v]) => item(k, v)))

/** One master key as its stored mapping, fields in sops 3.13's alphabetical order. */
const keyEntry = (k: MasterKey): Branch => {
  switch (k.type) {
    case "age":
      return entry([
        ["enc", k.enc],
        ["recipient", k.recipient],
      ])
    case "pgp":
      return entry([
        ["created_at", k.createdAt],
        ["enc", k.enc],
        ["fp", k.fp],
      ])
    case "kms": {
      const ctx = Object.entries(k.context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      const fields: Array<readonly [string, Value]> = [
        ["arn", k.arn],
        ["aws_profile", k.awsProfile],
      ]
      if (ctx.length > 0) fields.push(["context", entry(ctx)])
      fields.push(["created_at", k.createdAt], ["enc", k.enc])
      if (k.role !== "") fields.push(["role", k.role])
      return entry(fields)
    }
    case "gcp_kms":
      return entry([
        ["created_at", k.createdAt],
        ["enc", k.enc],
        ["resource_id", k.resourceId],
      ])
    case "azure_kv":
      return entry([
        ["created_at", k.createdAt],
        ["enc", k.enc],
        ["name", k.name],
        ["vault_url", k.vaultUrl],
        ["version", k.version],
      ])
    case "hc_vault":
      return entry([
        ["created_at", k.createdAt],
        ["enc", k.enc],
        ["engine_path", k.enginePath],
        ["key_name", k.keyName],
        ["vault_address", k.vaultAddress],
      ])
    case "hckms":
      return entry([
        ["created_at", k.createdAt],
        ["enc", k.enc],
        ["key_id", k.keyId],
      ])
  }
}

const listFields: ReadonlyArray<KeyType> = ["age", "azure_kv", "gcp_kms", "hc_vault", "hckms", "kms", "pgp"]

const groupLists = (g: KeyGroup, alwaysWrite: ReadonlyArray<KeyType>): Array<readonly [string, Value]> =>
  listFields.flatMap((t) => {
    const keys = g.filter((k) => k.type === t)
    return keys.length === 0 && !alwaysWrite.includes(t) ? [] : [[t, list(keys.map(keyEntry))] as const]
  })

/** The metadata mapping as sops 3.13 writes it: alphabetical keys, empty top-level lists omitted. */
export const toBranch = (md: Metadata): Branch => {
  const fields: Array<readonly [string, Value]> = []
  if (md.keyGroups.length === 1) fields.push(...groupLists(md.keyGroups[0]!, []))
  else fields.push(["key_groups", list(md.keyGroups.map((g) => entry(groupLists(g, ["age", "hc_vault"]))))])
  fields.push(["lastmodified", md.lastModified], ["mac", md.mac])
  if (md.macOnlyEncrypted) fields.push(["mac_only_encrypted", true])
  if (md.shamirThreshold > 0) fields.push(["shamir_threshold", BigInt(md.shamirThreshold)])
  if (md.rule !== undefined) fields.push([md.rule.kind, md.rule.value])
  fields.push(["version", md.version])
  const order = (k: string) => k
  fields.sort(([a], [b]) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0))
  return entry(fields)
}

export type { RuleKind }
