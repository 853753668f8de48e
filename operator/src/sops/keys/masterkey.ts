/**
 * Master keys as stored in sops metadata, and the one interface every key provider implements.
 *
 * A master key wraps the data key (or, with several key groups, one Shamir share of it). age and OpenPGP are
 * built in; Vault transit, AWS KMS, GCP KMS, Azure Key Vault and HuaweiCloud KMS plug in as further
 * {@link MasterKeyService}s through the keyring's `providers`.
 *
 * @module
 */
import type { Effect } from "effect"
import type { KeyFailure } from "../errors.ts"

export type KeyType = "age" | "pgp" | "kms" | "gcp_kms" | "azure_kv" | "hc_vault" | "hckms"

export interface AgeKey {
  readonly type: "age"
  readonly recipient: string
  readonly enc: string
}
export interface PgpKey {
  readonly type: "pgp"
  readonly fp: string
  readonly createdAt: string
  readonly enc: string
}
export interface KmsKey {
  readonly type: "kms"
  readonly arn: string
  readonly role: string
  readonly context: Readonly<Record<string, string>>
  readonly awsProfile: string
  readonly createdAt: string
  readonly enc: string
}
export interface GcpKmsKey {
  readonly type: "gcp_kms"
  readonly resourceId: string
  readonly createdAt: string
  readonly enc: string
}
export interface AzureKvKey {
  readonly type: "azure_kv"
  readonly vaultUrl: string
  readonly name: string
  readonly version: string
  readonly createdAt: string
  readonly enc: string
}
export interface VaultKey {
  readonly type: "hc_vault"
  readonly vaultAddress: string
  readonly enginePath: string
  readonly keyName: string
  readonly createdAt: string
  readonly enc: string
}
export interface HcKmsKey {
  readonly type: "hckms"
  readonly keyId: string
  readonly createdAt: string
  readonly enc: string
}

/** One master-key entry of the metadata: who can unwrap, plus the wrapped part (`enc`). */
export type MasterKey = AgeKey | PgpKey | KmsKey | GcpKmsKey | AzureKvKey | VaultKey | HcKmsKey

type Recipient<K> = K extends MasterKey ? Omit<K, "enc" | "createdAt"> : never

/** A master key to encrypt to: a {@link MasterKey} without the wrapped part. */
export type KeyRecipient = Recipient<MasterKey>

/** Key groups: with one group every key wraps the whole data key; with more, each group wraps a Shamir share. */
export type KeyGroup = ReadonlyArray<MasterKey>

/** How sops names a key in messages. */
export const keyId = (k: MasterKey | KeyRecipient): string => {
  switch (k.type) {
    case "age":
      return k.recipient
    case "pgp":
      return k.fp
    case "kms": {
      const ctx = Object.entries(k.context)
        .map(([a, b]) => `${a}:${b}`)
        .join(",")
      return k.arn + (k.role ? `+${k.role}` : "") + (ctx ? `|${ctx}` : "")
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

/**
 * A provider for one master-key type. `decrypt` unwraps a stored entry; `encrypt` wraps a data-key part for a
 * recipient and returns the complete entry to store (with `enc` and `created_at`).
 */
export interface MasterKeyService {
  readonly type: KeyType
  readonly decrypt: (key: MasterKey) => Effect.Effect<Uint8Array, KeyFailure>
  readonly encrypt: (recipient: KeyRecipient, part: Uint8Array) => Effect.Effect<MasterKey, KeyFailure>
}
