/**
 * Routes provider credentials from a decryption Secret (Vault token, AWS/Azure/GCP KMS credentials) to
 * the SOPS engine's key providers. Providers plug in here as they are written; until one exists for a key
 * type, a file that needs it fails with an error naming the missing provider.
 *
 * @module
 */
import { Context, Layer } from "effect"
import type { MasterKeyService } from "../../sops/index.ts"
import type { ProviderCredentials, ProviderType } from "./keys.ts"

/** Human names of the provider key types, as errors show them. */
export const providerNames: Record<string, string> = {
  hc_vault: "HashiCorp Vault / OpenBao transit",
  kms: "AWS KMS",
  azure_kv: "Azure Key Vault",
  gcp_kms: "GCP KMS",
  hckms: "HuaweiCloud KMS",
}

/** Builds key services from credentials. */
export class KeyProviders extends Context.Service<
  KeyProviders,
  {
    /** The key types this build can open (with or without credentials from the Secret). */
    readonly available: ReadonlyArray<ProviderType>
    /** Services for the given credentials (credentials for unavailable types are dropped). */
    readonly services: (credentials: ReadonlyArray<ProviderCredentials>) => ReadonlyArray<MasterKeyService>
  }
>()("kustodian/stages/decrypt/KeyProviders") {
  /** No provider beyond age and OpenPGP yet. */
  static readonly none = Layer.succeed(KeyProviders, KeyProviders.of({ available: [], services: () => [] }))
}
