/**
 * HashiCorp Vault (and OpenBao) transit master keys (`hc_vault` entries), as sops 3.13's hcvault keysource uses
 * them: the data key (or a Shamir share of it) is sent base64-encoded to
 * `POST {vault_address}/v1/{engine_path}/encrypt/{key_name}` and the answer's `ciphertext` (`vault:v1:…`) is the
 * entry's `enc`; decryption posts that text to `…/decrypt/{key_name}` and base64-decodes the answer's `plaintext`.
 * The token goes in `X-Vault-Token`; `SOPS_HC_VAULT_ALLOWLIST` limits the addresses as in sops.
 *
 * A plain typed `fetch` client: the transit engine needs two JSON calls, and the client bounds what a
 * repository-chosen address can do — every attempt has a timeout, answers are read up to a size cap, redirects are
 * not followed (the token would go with them), and transient failures (connection refused or reset, timeouts,
 * 5xx, 429) are retried with jittered exponential backoff. The caller's interruption (a Kustomization's
 * spec.timeout) aborts the request in flight. Errors name the transit path and Vault's own error text, never the
 * token.
 *
 * @module
 */
import { posix } from "node:path"
import { Data, Effect, Schedule } from "effect"
import { KeyFailure } from "../errors.ts"
import { nowSeconds } from "../goformat.ts"
import type { KeyRecipient, MasterKey, MasterKeyService, VaultKey } from "./masterkey.ts"

export interface VaultTransitOptions {
  /**
   * The Vault token sent with every request. Unset: requests fail before anything is sent, with `missingToken`
   * as the reason (the operator: no `sops.vault-token` in the decryption Secret).
   */
  readonly token?: string | undefined
  /** The reason when there is no token; default "no Vault token". */
  readonly missingToken?: string
  /** `X-Vault-Namespace` (the CLI's `VAULT_NAMESPACE`, Vault Enterprise / OpenBao namespaces). */
  readonly namespace?: string | undefined
  /** `SOPS_HC_VAULT_ALLOWLIST`: `all` (sops' default), `none`, or comma-separated address prefixes. */
  readonly allowlist?: string | undefined
  /** Attempts per call, retries included (default 4). */
  readonly maxAttempts?: number
  /** Bound of one HTTP attempt in ms (default 10 s). */
  readonly requestTimeoutMs?: number
  /** Largest answer read, in bytes (default 64 KiB; a transit answer is a few hundred bytes). */
  readonly maxResponseBytes?: number
  /** First backoff delay in ms (default 200; doubled per retry, jittered). */
  readonly backoffMs?: number
}

/** sops' allowlist: every address, none, or those starting with one of the prefixes (each ending in `/`). */
export const parseAllowlist = (text: string | undefined): ((address: string) => boolean) | string => {
  const s = text === undefined || text === "" ? "all" : text
  if (s === "all") return () => true
  if (s === "none") return () => false
  const uris: Array<string> = []
  for (const [i, raw] of s.split(",").entries()) {
    const uri = raw.trim()
    if (uri === "") return `SOPS_HC_VAULT_ALLOWLIST's entry ${i + 1} is empty`
    uris.push(uri.endsWith("/") ? uri : `${uri}/`)
  }
  return (address) => {
    const a = address.endsWith("/") ? address : `${address}/`
    return uris.some((u) => a.startsWith(u))
  }
}

/** One failed HTTP exchange; `transient` ones are retried. */
class VaultCallError extends Data.TaggedError("VaultCallError")<{
  readonly reason: string
  readonly transient: boolean
}> {}

const transientCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CLOSED",
])

/** A fetch failure as text without secrets, and whether it is worth another attempt. */
const networkError = (e: unknown, timeoutMs: number): VaultCallError => {
  const err = e as { name?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } }
  if (err?.name === "TimeoutError")
    return new VaultCallError({ reason: `no answer within ${timeoutMs} ms`, transient: true })
  const code = typeof err?.cause?.code === "string" ? err.cause.code : undefined
  const message =
    typeof err?.cause?.message === "string"
      ? err.cause.message
      : typeof err?.message === "string"
        ? err.message
        : String(e)
  return new VaultCallError({
    reason: message,
    transient: code === undefined || transientCodes.has(code),
  })
}

/** Reads at most `limit` bytes of a body; more fails (and cancels the rest). */
const readBounded = async (res: Response, limit: number): Promise<string> => {
  if (res.body === null) return ""
  const reader = res.body.getReader()
  const chunks: Array<Uint8Array> = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => undefined)
      throw new VaultCallError({ reason: `answer larger than ${limit} bytes`, transient: false })
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString("utf8")
}

/** Vault's `errors` array (or the raw text), short and with the token masked. */
const vaultErrorText = (body: string, secrets: ReadonlyArray<string>): string => {
  let text = body.trim()
  try {
    const parsed = JSON.parse(body) as { errors?: unknown }
    if (Array.isArray(parsed.errors))
      text = parsed.errors.filter((x): x is string => typeof x === "string").join("; ")
  } catch {
    // not JSON (a proxy's page): the text itself, cut short
  }
  for (const s of secrets) if (s.length >= 4) text = text.split(s).join("<redacted>")
  // Vault and OpenBao token shapes (hvs./hvb./hvr./s./b.), in case an error echoes another one
  text = text
    .replace(/\b(hv[sbr]|s|b)\.[A-Za-z0-9_-]{20,}/g, "<redacted>")
    .replace(/\s+/g, " ")
    .trim()
  return text.length > 300 ? `${text.slice(0, 300)}…` : text
}

/** The address, engine path and key name checked, and the transit URL of `op` built from them. */
export const transitUrl = (
  key: Pick<VaultKey, "vaultAddress" | "enginePath" | "keyName">,
  op: "encrypt" | "decrypt",
): { readonly url: string; readonly path: string } | string => {
  let address: URL
  try {
    address = new URL(key.vaultAddress)
  } catch {
    return `vault_address '${key.vaultAddress}' is not a URL`
  }
  if (address.protocol !== "http:" && address.protocol !== "https:")
    return `vault_address '${key.vaultAddress}' is not an http(s) URL`
  if (address.username !== "" || address.password !== "" || address.search !== "" || address.hash !== "")
    return `vault_address '${key.vaultAddress}' must be scheme://host[:port] only`
  const segments = [...key.enginePath.split("/"), key.keyName].filter((s) => s !== "")
  if (
    key.keyName === "" ||
    key.keyName.includes("/") ||
    segments.length < 2 ||
    segments.some((s) => s === "." || s === ".." || /[?#%\\\s]/.test(s))
  )
    return `invalid engine_path '${key.enginePath}' or key_name '${key.keyName}'`
  const path = posix.join(key.enginePath, op, key.keyName)
  const base = key.vaultAddress.replace(/\/+$/, "")
  return { url: `${base}/v1/${path.replace(/^\/+/, "")}`, path }
}

/** The Vault transit key service. */
export const vaultTransitService = (opts: VaultTransitOptions = {}): MasterKeyService => {
  const timeoutMs = opts.requestTimeoutMs ?? 10_000
  const maxBytes = opts.maxResponseBytes ?? 64 * 1024
  const attempts = Math.max(1, opts.maxAttempts ?? 4)
  const secrets = opts.token === undefined ? [] : [opts.token]
  const allow = parseAllowlist(opts.allowlist)

  /** One POST of `body` to `url`, Vault's `data` object back. */
  const post = (url: string, body: Record<string, string>) =>
    Effect.tryPromise({
      try: async (signal) => {
        const headers: Record<string, string> = {
          "content-type": "application/json",
          "x-vault-request": "true",
          "x-vault-token": opts.token ?? "",
        }
        if (opts.namespace) headers["x-vault-namespace"] = opts.namespace
        const res = await fetch(url, {
          method: "POST",
          headers,
          body: JSON.stringify(body),
          redirect: "manual",
          signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
        })
        const text = await readBounded(res, maxBytes)
        if (res.status >= 300 && res.status < 400)
          throw new VaultCallError({
            reason: `Vault answered HTTP ${res.status} (a redirect, not followed: the token would go with it)`,
            transient: false,
          })
        if (!res.ok) {
          const said = vaultErrorText(text, secrets)
          throw new VaultCallError({
            reason: `Vault answered HTTP ${res.status}${said === "" ? "" : `: ${said}`}`,
            transient: res.status === 429 || res.status >= 500,
          })
        }
        let data: unknown
        try {
          data = (JSON.parse(text) as { data?: unknown }).data
        } catch {
          throw new VaultCallError({ reason: "transit backend answered no JSON", transient: false })
        }
        if (typeof data !== "object" || data === null)
          throw new VaultCallError({ reason: "transit backend is empty", transient: false })
        return data as Record<string, unknown>
      },
      catch: (e) => (e instanceof VaultCallError ? e : networkError(e, timeoutMs)),
    }).pipe(
      Effect.retry({
        schedule: Schedule.exponential(`${opts.backoffMs ?? 200} millis`).pipe(Schedule.jittered),
        times: attempts - 1,
        while: (e) => e.transient,
      }),
    )

  /** Checks, then runs `op` against the entry's transit engine; failures read as sops' sentences. */
  const call = (
    key: Pick<VaultKey, "vaultAddress" | "enginePath" | "keyName">,
    op: "encrypt" | "decrypt",
    body: Record<string, string>,
  ) =>
    Effect.gen(function* () {
      const target = transitUrl(key, op)
      if (typeof target === "string") return yield* new KeyFailure({ reason: target })
      if (typeof allow === "string") return yield* new KeyFailure({ reason: allow })
      if (!allow(key.vaultAddress))
        return yield* new KeyFailure({
          reason: `SOPS_HC_VAULT_ALLOWLIST does not allow ${key.vaultAddress}`,
        })
      const what =
        op === "encrypt"
          ? `failed to encrypt sops data key to Vault transit backend '${target.path}'`
          : `failed to decrypt sops data key from Vault transit backend '${target.path}'`
      if (opts.token === undefined || opts.token === "")
        return yield* new KeyFailure({ reason: `${what}: ${opts.missingToken ?? "no Vault token"}` })
      return yield* post(target.url, body).pipe(
        Effect.mapError((e) => new KeyFailure({ reason: `${what}: ${e.reason}` })),
        Effect.map((data) => ({ data, what })),
      )
    })

  return {
    type: "hc_vault",
    decrypt: (key: MasterKey) =>
      Effect.gen(function* () {
        if (key.type !== "hc_vault") return yield* new KeyFailure({ reason: "not a Vault transit key" })
        const { data, what } = yield* call(key, "decrypt", { ciphertext: key.enc })
        const plaintext = data.plaintext
        if (typeof plaintext !== "string")
          return yield* new KeyFailure({ reason: `${what}: no decrypted data` })
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(plaintext) || plaintext.length % 4 !== 0)
          return yield* new KeyFailure({
            reason: `${what}: cannot decode base64 plaintext into data key bytes`,
          })
        return new Uint8Array(Buffer.from(plaintext, "base64"))
      }),
    encrypt: (recipient: KeyRecipient, part: Uint8Array) =>
      Effect.gen(function* () {
        if (recipient.type !== "hc_vault")
          return yield* new KeyFailure({ reason: "not a Vault transit recipient" })
        const { data, what } = yield* call(recipient, "encrypt", {
          plaintext: Buffer.from(part).toString("base64"),
        })
        const ciphertext = data.ciphertext
        if (typeof ciphertext !== "string" || ciphertext === "")
          return yield* new KeyFailure({ reason: `${what}: no encrypted data` })
        return {
          type: "hc_vault",
          vaultAddress: recipient.vaultAddress,
          enginePath: recipient.enginePath,
          keyName: recipient.keyName,
          createdAt: nowSeconds(),
          enc: ciphertext,
        } satisfies VaultKey
      }),
  }
}
