/**
 * The keys the CLI uses, found where sops looks: `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`, the
 * default `<config dir>/sops/age/keys.txt`, the gpg keyring (`GNUPGHOME`, `SOPS_GPG_EXEC`), and AWS KMS with the
 * AWS SDK's credential chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, `AWS_PROFILE`
 * and the shared files, a web identity token file, container or instance credentials), GCP KMS with sops'
 * Google credentials (`GOOGLE_CREDENTIALS`, `GOOGLE_OAUTH_ACCESS_TOKEN`, application-default credentials), and
 * Vault transit with `VAULT_TOKEN`, else `~/.vault-token` (`VAULT_NAMESPACE`, `SOPS_HC_VAULT_ALLOWLIST`), as sops
 * reads them.
 *
 * @module
 */
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import type { Keyring, MasterKeyService } from "../sops/index.ts"
import { awsKmsService } from "../sops/keys/aws-kms.ts"
import { cliTokenSource, extraCa } from "../sops/keys/gcp-credentials.ts"
import { gcpKmsService } from "../sops/keys/gcp-kms.ts"
import { vaultTransitService } from "../sops/keys/hc-vault.ts"

/** `$XDG_CONFIG_HOME/sops/age/keys.txt`, else `~/.config/sops/age/keys.txt` (macOS: Application Support). */
export const defaultAgeKeyFile = (env: NodeJS.ProcessEnv): string => {
  const base =
    env.XDG_CONFIG_HOME ||
    (process.platform === "darwin"
      ? join(homedir(), "Library", "Application Support")
      : process.platform === "win32"
        ? (env.AppData ?? join(homedir(), "AppData", "Roaming"))
        : join(env.HOME || homedir(), ".config"))
  return join(base, "sops", "age", "keys.txt")
}

/** Splits a command line on whitespace with simple quoting (no shell), like sops' shlex for SOPS_AGE_KEY_CMD. */
const words = (s: string): Array<string> =>
  [...s.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? "")

/** All age identity texts from the environment and the default key file, in sops' order. */
export const ageKeyTexts = (env: NodeJS.ProcessEnv): Array<string> => {
  const texts: Array<string> = []
  if (env.SOPS_AGE_KEY) texts.push(env.SOPS_AGE_KEY)
  if (env.SOPS_AGE_KEY_FILE && existsSync(env.SOPS_AGE_KEY_FILE))
    texts.push(readFileSync(env.SOPS_AGE_KEY_FILE, "utf8"))
  if (env.SOPS_AGE_KEY_CMD) {
    const [cmd, ...args] = words(env.SOPS_AGE_KEY_CMD)
    if (cmd !== undefined) {
      try {
        texts.push(execFileSync(cmd, args, { env, stdio: ["ignore", "pipe", "ignore"] }).toString("utf8"))
      } catch {
        // a failing key command only means fewer identities; decryption reports what was tried
      }
    }
  }
  const file = defaultAgeKeyFile(env)
  if (existsSync(file)) texts.push(readFileSync(file, "utf8"))
  return texts
}

/**
 * AWS KMS for the CLI: an entry's `aws_profile` (or `AWS_PROFILE`) names a shared-files profile; otherwise keys
 * in the invocation's environment, else the SDK's default chain. The invocation's environment is read
 * explicitly because it need not be the process's.
 */
const cliAwsKms = (env: NodeJS.ProcessEnv) => {
  const id = env.AWS_ACCESS_KEY_ID
  const secret = env.AWS_SECRET_ACCESS_KEY
  const token = env.AWS_SESSION_TOKEN
  const fromEnv =
    id && secret
      ? { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) }
      : undefined
  return awsKmsService({
    env,
    useProfiles: true,
    // keys in the environment win over AWS_PROFILE, as in the SDK's chain
    ...(fromEnv === undefined && env.AWS_PROFILE ? { defaultProfile: env.AWS_PROFILE } : {}),
    ...(fromEnv === undefined ? {} : { credentials: () => async () => fromEnv }),
    secrets: [secret, token].filter((s): s is string => typeof s === "string"),
  })
}

/** The Vault token as sops finds it: `VAULT_TOKEN`, else the first line of `$HOME/.vault-token`. */
export const vaultToken = (env: NodeJS.ProcessEnv): string | undefined => {
  if (env.VAULT_TOKEN) return env.VAULT_TOKEN
  const file = join(env.HOME || homedir(), ".vault-token")
  if (!existsSync(file)) return undefined
  const token = readFileSync(file, "utf8").trim()
  return token === "" ? undefined : token
}

const cliVault = (env: NodeJS.ProcessEnv) =>
  vaultTransitService({
    token: vaultToken(env),
    missingToken: "no Vault token (VAULT_TOKEN, ~/.vault-token)",
    namespace: env.VAULT_NAMESPACE,
    allowlist: env.SOPS_HC_VAULT_ALLOWLIST,
  })

/**
 * GCP KMS for the CLI, as sops finds credentials: `GOOGLE_CREDENTIALS`, `GOOGLE_OAUTH_ACCESS_TOKEN`, then
 * application-default credentials; `SOPS_GCP_KMS_ENDPOINT` / `SOPS_GCP_KMS_UNIVERSE_DOMAIN`; `SSL_CERT_FILE`.
 */
const cliGcpKms = (env: NodeJS.ProcessEnv) => {
  const ca = extraCa(env)
  return gcpKmsService({
    env,
    tokenSource: cliTokenSource(env),
    ...(ca === undefined ? {} : { ca }),
    secrets: [env.GOOGLE_OAUTH_ACCESS_TOKEN].filter((s): s is string => typeof s === "string"),
  })
}

/**
 * Azure Key Vault for the CLI, with the default credential chain as sops uses it (`AZURE_TENANT_ID`,
 * `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` or `AZURE_CLIENT_CERTIFICATE_PATH`, `AZURE_AUTHORITY_HOST`,
 * `AZURE_FEDERATED_TOKEN_FILE`, managed identity, the Azure CLI). Made on first use, so invocations that need
 * no Azure key load no Azure SDK state.
 */
const cliAzureKv = (env: NodeJS.ProcessEnv): MasterKeyService => {
  let service: Promise<MasterKeyService> | undefined
  // the Azure SDK (about half a second to load) is imported on first use only
  const get = () =>
    Effect.promise(() => {
      service ??= Promise.all([
        import("../sops/keys/azure-credentials.ts"),
        import("../sops/keys/azure-kv.ts"),
      ]).then(([{ defaultAzureCredential }, { azureHttpClient, azureKvService, caFromEnv }]) => {
        const httpClient = azureHttpClient({ ca: caFromEnv(env) })
        const secrets = [env.AZURE_CLIENT_SECRET, env.AZURE_CLIENT_CERTIFICATE_PASSWORD].filter(
          (s): s is string => typeof s === "string",
        )
        return azureKvService({ credential: defaultAzureCredential(env, httpClient), httpClient, secrets })
      })
      return service
    })
  return {
    type: "azure_kv",
    decrypt: (key) => Effect.flatMap(get(), (s) => s.decrypt(key)),
    encrypt: (recipient, part) => Effect.flatMap(get(), (s) => s.encrypt(recipient, part)),
  }
}

/**
 * The keyring of a CLI invocation: age identities from the environment, PGP through gpg, AWS KMS, GCP KMS, Azure
 * Key Vault, Vault transit.
 */
export const cliKeyring = (env: NodeJS.ProcessEnv): Keyring => ({
  scope: "cli",
  age: ageKeyTexts(env),
  pgp: [],
  gpg: {
    ...(env.SOPS_GPG_EXEC ? { exec: env.SOPS_GPG_EXEC } : {}),
    ...(env.GNUPGHOME ? { home: env.GNUPGHOME } : {}),
  },
  providers: [cliAwsKms(env), cliGcpKms(env), cliAzureKv(env), cliVault(env)],
})
