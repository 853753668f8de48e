/**
 * The master-key services a keyring provides: age and PGP built in, the rest from `providers`. A key type
 * without a provider fails with a reason naming the missing provider.
 *
 * @module
 */
import { Effect } from "effect"
import { KeyFailure } from "../errors.ts"
import type { Keyring } from "../index.ts"
import { ageService } from "./age.ts"
import type { KeyType, MasterKeyService } from "./masterkey.ts"
import { pgpService } from "./pgp.ts"

const providerNames: Record<KeyType, string> = {
  age: "age",
  pgp: "OpenPGP",
  kms: "AWS KMS",
  gcp_kms: "GCP KMS",
  azure_kv: "Azure Key Vault",
  hc_vault: "HashiCorp Vault transit",
  hckms: "HuaweiCloud KMS",
}

const missing = (type: KeyType): MasterKeyService => {
  const fail = Effect.fail(
    new KeyFailure({ reason: `no ${providerNames[type]} provider is configured for ${type} keys` }),
  )
  return { type, decrypt: () => fail, encrypt: () => fail }
}

/** Resolves key types to services for one keyring. Built once per keyring and reused across files. */
export type ServiceLookup = (type: KeyType) => MasterKeyService

const memo = new WeakMap<Keyring, ServiceLookup>()

export const servicesFor = (keyring: Keyring): ServiceLookup => {
  const cached = memo.get(keyring)
  if (cached !== undefined) return cached
  const table = new Map<KeyType, MasterKeyService>()
  table.set("age", ageService(keyring.age))
  table.set(
    "pgp",
    pgpService(
      keyring.gpg === undefined
        ? { privateKeys: keyring.pgp }
        : { privateKeys: keyring.pgp, gpg: keyring.gpg },
    ),
  )
  for (const p of keyring.providers ?? []) table.set(p.type, p)
  const lookup: ServiceLookup = (type) => table.get(type) ?? missing(type)
  memo.set(keyring, lookup)
  return lookup
}
