/**
 * Master-key recipients from their textual forms, as `.sops.yaml`, CLI flags and environment variables give
 * them (`age1…`, PGP fingerprints, KMS ARNs, Vault transit URIs, …).
 *
 * @module
 */
import type { KeyRecipient } from "./keys/masterkey.ts"

/** Splits a comma-separated list, trimming and dropping empty entries (sops 3.11+). */
export const splitList = (s: string): Array<string> =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "")

export const ageRecipient = (s: string): KeyRecipient => ({ type: "age", recipient: s.trim() })
export const pgpRecipient = (s: string): KeyRecipient => ({ type: "pgp", fp: s.replace(/\s/g, "") })

/**
 * `arn[+role_arn]`, spaces removed, split where `+arn:` starts the role as sops does; the context comes from
 * `--encryption-context` or a key group entry.
 */
export const kmsRecipient = (
  s: string,
  context: Readonly<Record<string, string>> = {},
  awsProfile = "",
): KeyRecipient => {
  const text = s.replaceAll(" ", "")
  const i = text.indexOf("+arn:")
  return i > 0
    ? { type: "kms", arn: text.slice(0, i), role: text.slice(i + 1), context, awsProfile }
    : { type: "kms", arn: text, role: "", context, awsProfile }
}

export const gcpKmsRecipient = (s: string): KeyRecipient => ({ type: "gcp_kms", resourceId: s.trim() })

/** `https://<vault>/keys/<name>[/<version>]`; undefined when malformed. */
export const azureRecipient = (s: string): KeyRecipient | undefined => {
  const m = /^(https:\/\/[^/]+)\/keys\/([^/]+)(\/[^/]*)?$/.exec(s.trim())
  if (m === null) return undefined
  return { type: "azure_kv", vaultUrl: m[1]!, name: m[2]!, version: (m[3] ?? "").replace(/^\//, "") }
}

/** `https://vault:8200/v1/<engine path>/keys/<key name>`; undefined when malformed. */
export const vaultRecipient = (s: string): KeyRecipient | undefined => {
  let url: URL
  try {
    url = new URL(s.trim())
  } catch {
    return undefined
  }
  const m = /^\/v1\/(.+)\/keys\/([^/]+)\/?$/.exec(url.pathname)
  if (m === null) return undefined
  return { type: "hc_vault", vaultAddress: `${url.protocol}//${url.host}`, enginePath: m[1]!, keyName: m[2]! }
}

export const hckmsRecipient = (s: string): KeyRecipient => ({ type: "hckms", keyId: s.trim() })
