/**
 * Key material from a decryption Secret, read by entry name exactly as Flux does: `*.asc` (armored OpenPGP
 * private keys), `*.agekey` (age identities), and the exact names `sops.vault-token`, `sops.aws-kms`,
 * `sops.azure-kv`, `sops.gcp-kms` (credentials for a key provider). Other entries are ignored, but those
 * that look like keys are remembered so a failed decryption can say which name they should have had.
 *
 * @module
 */
import { Effect } from "effect"
import * as YAML from "yaml"
import { decodeAzureConfig, parseAzureConfig } from "../../sops/keys/azure-config.ts"
import type { SecretData } from "../build/config-lookup.ts"
import { BuildFailed } from "../build/errors.ts"

/** The providers a decryption Secret can hold credentials for, by entry name. */
export const providerEntries = {
  "sops.vault-token": "hc_vault",
  "sops.aws-kms": "kms",
  "sops.azure-kv": "azure_kv",
  "sops.gcp-kms": "gcp_kms",
} as const

export type ProviderEntry = keyof typeof providerEntries
export type ProviderType = (typeof providerEntries)[ProviderEntry]

/** Parsed credentials for one provider; values stay inside, never in messages. */
export type ProviderCredentials =
  | { readonly type: "hc_vault"; readonly token: string }
  | {
      readonly type: "kms"
      readonly accessKeyId: string
      readonly secretAccessKey: string
      readonly sessionToken?: string
    }
  | { readonly type: "azure_kv"; readonly config: Readonly<Record<string, unknown>> }
  | { readonly type: "gcp_kms"; readonly serviceAccount: Readonly<Record<string, unknown>> }

/** An entry that is ignored but looks like key material; `suggested` is the name that would be read. */
export interface IgnoredEntry {
  readonly entry: string
  readonly suggested: string
}

/** What a decryption Secret provides. */
export interface SecretKeys {
  readonly age: ReadonlyArray<string>
  readonly pgp: ReadonlyArray<string>
  readonly providers: ReadonlyArray<ProviderCredentials>
  readonly ignored: ReadonlyArray<IgnoredEntry>
}

const stem = (name: string) => {
  // `private.asc.txt` → `private.asc`; `age.key` → `age`; `keys.txt` → `keys`
  const dot = name.lastIndexOf(".")
  return dot > 0 ? name.slice(0, dot) : name
}

const withExt = (name: string, ext: string) => {
  const base = stem(name)
  return base.endsWith(ext) ? base : `${base}${ext}`
}

/** The name an ignored entry should have, or undefined when it does not look like key material. */
export const suggestName = (entry: string, content: string): string | undefined => {
  const squashed = entry.toLowerCase().replace(/[^a-z0-9]/g, "")
  for (const exact of Object.keys(providerEntries)) {
    if (squashed.includes(exact.replace(/[^a-z0-9]/g, "").replace(/^sops/, ""))) return exact
  }
  if (/AGE-SECRET-KEY-1|AGE-PLUGIN-/.test(content)) return withExt(entry, ".agekey")
  if (content.includes("-----BEGIN PGP PRIVATE KEY BLOCK-----")) return withExt(entry, ".asc")
  if (/\.asc\b|gpg|pgp/i.test(entry)) return withExt(entry, ".asc")
  if (/age|key|identit/i.test(entry)) return withExt(entry, ".agekey")
  return undefined
}

const importFailed = (entry: string, secret: SecretData, why: string) =>
  new BuildFailed({
    message: `failed to import '${entry}' data from sops decryption Secret '${secret.namespace}/${secret.name}': ${why}`,
    object: `Secret/${secret.namespace}/${secret.name}`,
    keyPath: `data.${entry}`,
    terminal: true,
  })

const parseMap = (text: string): Record<string, unknown> | undefined => {
  try {
    const v = YAML.parse(text) as unknown
    return typeof v === "object" && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

const parseProvider = (entry: ProviderEntry, text: string, secret: SecretData) => {
  const type = providerEntries[entry]
  if (type === "hc_vault") {
    const token = text.trim()
    return token === ""
      ? Effect.fail(importFailed(entry, secret, "empty token"))
      : Effect.succeed({ type, token } as const)
  }
  const map = parseMap(text)
  if (map === undefined) return Effect.fail(importFailed(entry, secret, "not a YAML or JSON mapping"))
  if (type === "kms") {
    const id = map.aws_access_key_id
    const key = map.aws_secret_access_key
    if (typeof id !== "string" || typeof key !== "string") {
      return Effect.fail(
        importFailed(entry, secret, "aws_access_key_id and aws_secret_access_key are required"),
      )
    }
    const token = map.aws_session_token
    return Effect.succeed({
      type,
      accessKeyId: id,
      secretAccessKey: key,
      ...(typeof token === "string" ? { sessionToken: token } : {}),
    } as const)
  }
  if (type === "azure_kv") {
    // Flux builds the credential at import: a mapping it cannot use fails here, with its message
    const made = parseAzureConfig(map)
    return "error" in made
      ? Effect.fail(importFailed(entry, secret, made.error))
      : Effect.succeed({ type, config: map } as const)
  }
  return map.type === "service_account" ||
    typeof map.client_email === "string" ||
    map.type === "external_account" ||
    map.type === "authorized_user"
    ? Effect.succeed({ type, serviceAccount: map } as const)
    : Effect.fail(importFailed(entry, secret, "not a service account key"))
}

/**
 * Why an `*.agekey` entry cannot be imported, or undefined when every line is an age identity. Flux reads these
 * entries one identity per line (blank lines and `#` comments skipped) and refuses any other line as "unknown
 * identity type"; an SSH private key is the common mistake (sops reads SSH identities only from
 * `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, which Flux does not take from Secrets), so it gets its own reason. Plugin
 * identities need the plugin's binary in the controller's image, which neither Flux's image nor ours has. The
 * reason names the line number, never its text.
 */
export const agekeyProblem = (text: string): string | undefined => {
  const lines = text.split(/\r?\n/)
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim()
    if (line === "" || line.startsWith("#")) continue
    if (/^-----BEGIN (OPENSSH|RSA|EC|DSA) PRIVATE KEY-----/.test(line))
      return "it holds an SSH private key; age SSH identities are not read from decryption Secrets (as in Flux): convert the recipients to an age key (age-keygen) and put the AGE-SECRET-KEY-1… line here"
    if (/^AGE-PLUGIN-/i.test(line))
      return `line ${i + 1} is an age plugin identity, which needs its plugin binary in the controller; use an X25519 or post-quantum age identity`
    if (!/^AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+$/i.test(line))
      return `line ${i + 1} is not an age identity (expected one AGE-SECRET-KEY-1… per line, '#' comments and blank lines allowed)`
  }
  return undefined
}

/** Reads the keys of a decryption Secret. Fails on malformed provider credentials, naming the entry. */
export const keysFromSecret = Effect.fn("keysFromSecret")(function* (secret: SecretData) {
  const age: string[] = []
  const pgp: string[] = []
  const providers: ProviderCredentials[] = []
  const ignored: IgnoredEntry[] = []
  for (const entry of Object.keys(secret.data).sort()) {
    const raw = Buffer.from(secret.data[entry]!, "base64")
    // Flux decodes sops.azure-kv from UTF-16 when it has a byte-order mark
    const text = entry === "sops.azure-kv" ? decodeAzureConfig(raw) : raw.toString("utf8")
    if (entry.endsWith(".agekey")) {
      const problem = agekeyProblem(text)
      if (problem !== undefined) return yield* importFailed(entry, secret, problem)
      age.push(text)
    } else if (entry.endsWith(".asc")) pgp.push(text)
    else if (entry in providerEntries)
      providers.push(yield* parseProvider(entry as ProviderEntry, text, secret))
    else {
      const suggested = suggestName(entry, text)
      if (suggested !== undefined) ignored.push({ entry, suggested })
    }
  }
  return { age, pgp, providers, ignored } satisfies SecretKeys as SecretKeys
})

/** The hint appended to a decryption failure when keys were ignored because of their entry name. */
export const ignoredHint = (
  secret: { namespace: string; name: string },
  ignored: ReadonlyArray<IgnoredEntry>,
) =>
  ignored.length === 0
    ? ""
    : `; sops decryption Secret '${secret.namespace}/${secret.name}' has entries that are ignored because of their name: ${ignored
        .map((i) => `'${i.entry}' (rename it to '${i.suggested}')`)
        .join(", ")}`
