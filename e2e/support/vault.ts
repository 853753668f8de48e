/**
 * The real HashiCorp Vault server in dev mode on a free loopback port (`vault server -dev`, in-memory storage,
 * unsealed, a random root token), for the Vault transit key provider and the real sops to talk to. Tests enable
 * the transit engine and create keys through Vault's HTTP API; the process gets a scratch HOME and
 * `-dev-no-store-token`, so nothing lands in the real `~/.vault-token`.
 *
 * @module
 */
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { freePort } from "./ports.ts"
import { daemon, waitReady } from "./process.ts"
import { toolPath } from "./tools.ts"

export interface Vault {
  /** `http://127.0.0.1:<port>` (VAULT_ADDR). */
  readonly address: string
  /** The dev server's root token (random per server). */
  readonly token: string
  /** Environment for sops and the CLI: VAULT_ADDR and VAULT_TOKEN (the root token). */
  readonly env: Readonly<Record<string, string>>
  /** One call of Vault's HTTP API with the root token; Vault's JSON answer (or `{}`), failing on an error. */
  readonly api: (method: string, path: string, body?: unknown) => Promise<Record<string, unknown>>
  /** Mounts the transit engine at `path` (e.g. `sops`, as the seed's guide uses). Idempotent. */
  readonly enableTransit: (path?: string) => Promise<void>
  /** Creates a transit key and returns its sops URI `{address}/v1/{engine}/keys/{name}`. */
  readonly createKey: (name: string, engine?: string) => Promise<string>
  /** A token limited to encrypt/decrypt with one key (a policy of its own), as a tenant would be given. */
  readonly scopedToken: (name: string, engine?: string) => Promise<string>
}

/** Starts `vault server -dev` for the scope; stopped (its process group) when the scope closes. */
export const vaultServer = Effect.fn("vaultServer")(function* () {
  const dir = mkdtempSync(join(tmpdir(), "kustodian-vault-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const port = yield* Effect.promise(() => freePort())
  const address = `http://127.0.0.1:${port}`
  const token = `test-${randomBytes(12).toString("hex")}` // Vault refuses a custom ID with its own hvs. prefix
  const d = yield* daemon({
    name: "vault",
    command: toolPath("vault"),
    args: [
      "server",
      "-dev",
      `-dev-root-token-id=${token}`,
      `-dev-listen-address=127.0.0.1:${port}`,
      "-dev-no-store-token",
    ],
    logFile: join(dir, "vault.log"),
    env: {
      PATH: process.env.PATH ?? "",
      HOME: dir,
      VAULT_DISABLE_MLOCK: "true",
      SKIP_SETCAP: "1",
    },
  })
  yield* waitReady(
    d,
    async () =>
      (await fetch(`${address}/v1/sys/health`, { signal: AbortSignal.timeout(2000) })).status === 200,
    60_000,
    "serving",
  )
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${address}/v1/${path}`, {
      method,
      headers: { "x-vault-token": token, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`Vault ${method} /v1/${path}: HTTP ${res.status} ${text}`)
    return text === "" ? {} : (JSON.parse(text) as Record<string, unknown>)
  }
  const mounted = new Set<string>()
  const enableTransit = async (path = "transit") => {
    if (mounted.has(path)) return
    await api("POST", `sys/mounts/${path}`, { type: "transit" })
    mounted.add(path)
  }
  const createKey = async (name: string, engine = "transit") => {
    await enableTransit(engine)
    await api("POST", `${engine}/keys/${name}`, {})
    return `${address}/v1/${engine}/keys/${name}`
  }
  const scopedToken = async (name: string, engine = "transit") => {
    const policy = `sops-${engine.replaceAll("/", "-")}-${name}`
    await api("PUT", `sys/policies/acl/${policy}`, {
      policy: `path "${engine}/encrypt/${name}" { capabilities = ["update"] }\npath "${engine}/decrypt/${name}" { capabilities = ["update"] }\n`,
    })
    const out = await api("POST", "auth/token/create", {
      policies: [policy],
      ttl: "1h",
      no_default_policy: true,
    })
    const t = (out.auth as { client_token?: unknown } | undefined)?.client_token
    if (typeof t !== "string") throw new Error("Vault returned no token")
    return t
  }
  return {
    address,
    token,
    env: { VAULT_ADDR: address, VAULT_TOKEN: token },
    api,
    enableTransit,
    createKey,
    scopedToken,
  } satisfies Vault as Vault
})
