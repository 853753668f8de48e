/**
 * How sops names a master key (`ToString`) and compares key groups (`DiffKeyGroups`): what `rotate --rm-*`
 * matches and what `updatekeys` prints as added and removed recipients.
 *
 * @module
 */
import type { KeyRecipient, MasterKey } from "./keys/masterkey.ts"

/** sops' `MasterKey.ToString()`: recipient, fingerprint, ARN[+role][|context][|profile], resource id, URL. */
export const keyString = (k: KeyRecipient | MasterKey): string => {
  switch (k.type) {
    case "age":
      return k.recipient
    case "pgp":
      return k.fp
    case "kms": {
      const arnRole = k.role ? `${k.arn}+${k.role}` : k.arn
      const context = Object.keys(k.context)
        .sort()
        .map((key) => `${key}:${k.context[key]}`)
        .join(",")
      if (k.awsProfile) return `${arnRole}|${context}|${k.awsProfile}`
      return context ? `${arnRole}|${context}` : arnRole
    }
    case "gcp_kms":
      return k.resourceId
    case "azure_kv":
      return `${k.vaultUrl}/keys/${k.name}/${k.version}`
    case "hc_vault":
      return `${k.vaultAddress}/v1/${k.enginePath}/keys/${k.keyName}`
    case "hckms":
      return k.keyId
  }
}

/** The keys of one group position: in both, only in the new groups, only in the old ones. */
export interface GroupDiff<K> {
  readonly common: ReadonlyArray<K>
  readonly added: ReadonlyArray<K>
  readonly removed: ReadonlyArray<K>
}

/** sops' `DiffKeyGroups(ours, theirs)`, group by group up to the longer of the two. */
export const diffKeyGroups = <K extends KeyRecipient | MasterKey>(
  ours: ReadonlyArray<ReadonlyArray<K>>,
  theirs: ReadonlyArray<ReadonlyArray<K>>,
): Array<GroupDiff<K>> => {
  const out: Array<GroupDiff<K>> = []
  for (let i = 0; i < Math.max(ours.length, theirs.length); i++) {
    const our = ours[i] ?? []
    const their = theirs[i] ?? []
    const ourIds = new Set(our.map(keyString))
    const theirIds = new Set(their.map(keyString))
    out.push({
      common: their.filter((k) => ourIds.has(keyString(k))),
      added: their.filter((k) => !ourIds.has(keyString(k))),
      removed: our.filter((k) => !theirIds.has(keyString(k))),
    })
  }
  return out
}

/** True when any group gains or loses a key. */
export const keysChange = (diffs: ReadonlyArray<GroupDiff<unknown>>): boolean =>
  diffs.some((d) => d.added.length > 0 || d.removed.length > 0)
