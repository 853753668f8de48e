/**
 * Cloud KMS' REST mapping of Encrypt and Decrypt (`POST https://cloudkms.googleapis.com/v1/{name}:encrypt`,
 * proto3 JSON: bytes as base64, Int64Value checksums as decimal strings), for sops' `SOPS_GCP_KMS_CLIENT_TYPE=rest`.
 * `@google-cloud/kms`' own REST fallback needs google-auth-library's credentials and agent, which the gRPC path
 * does without; this is one POST per call. Each attempt is bounded; 429, 503, 504 and network failures are
 * retried with exponential backoff and jitter; the caller's signal aborts the request in flight. A failure
 * rejects with `{ code, details, reason }` as a gRPC error carries them (Google's JSON error: status, message,
 * ErrorInfo reason), so it is described the same way.
 *
 * @module
 */
import { request } from "node:https"
import { rootCertificates } from "node:tls"

const statusCodes: Record<string, number> = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
}
const maxAnswer = 1 << 20

export interface RestCall {
  readonly baseUrl: string
  readonly verb: "encrypt" | "decrypt"
  readonly name: string
  readonly body: Readonly<Record<string, string>>
  readonly token: string
  readonly ca: string | undefined
  readonly timeoutMs: number
  readonly attempts: number
  readonly signal: AbortSignal
}

/** The REST base URL for an endpoint as sops takes it (`https://host[:port]/`, or `host:port`). */
export const restBaseUrl = (endpoint: { host: string; port: number }, raw: string | undefined): string =>
  raw && /^https:\/\//i.test(raw)
    ? raw.replace(/\/+$/, "")
    : `https://${endpoint.host}${endpoint.port === 443 ? "" : `:${endpoint.port}`}`

const once = (c: RestCall): Promise<{ status: number; json: Record<string, unknown> | undefined }> =>
  new Promise((resolve, reject) => {
    const url = new URL(`${c.baseUrl}/v1/${c.name}:${c.verb}`)
    const req = request(
      url,
      {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${c.token}` },
        timeout: c.timeoutMs,
        signal: c.signal,
        ...(c.ca === undefined ? {} : { ca: [...rootCertificates, c.ca] }),
      },
      (res) => {
        const chunks: Array<Buffer> = []
        let size = 0
        res.on("data", (b: Buffer) => {
          size += b.length
          if (size > maxAnswer) req.destroy(Object.assign(new Error("answer too large"), { code: "E2BIG" }))
          else chunks.push(b)
        })
        res.on("end", () => {
          let json: Record<string, unknown> | undefined
          try {
            const v = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown
            json =
              typeof v === "object" && v !== null && !Array.isArray(v)
                ? (v as Record<string, unknown>)
                : undefined
          } catch {
            json = undefined
          }
          resolve({ status: res.statusCode ?? 0, json })
        })
        res.on("error", reject)
      },
    )
    req.setTimeout(c.timeoutMs, () => req.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })))
    req.on("error", reject)
    req.end(JSON.stringify(c.body))
  })

/** One Encrypt or Decrypt over REST, with retries. */
export const restKmsCall = async (c: RestCall): Promise<Record<string, unknown>> => {
  let last: { code: number; details: string; reason?: string } = { code: 14, details: "no attempt made" }
  for (let attempt = 1; attempt <= c.attempts; attempt++) {
    if (attempt > 1) await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 2) * (0.5 + Math.random())))
    if (c.signal.aborted) throw { code: 1, details: "the call was cancelled" }
    let answer: { status: number; json: Record<string, unknown> | undefined }
    try {
      answer = await once(c)
    } catch (e) {
      const code = (e as { code?: unknown })?.code
      if (c.signal.aborted) throw { code: 1, details: "the call was cancelled" }
      last =
        code === "ETIMEDOUT"
          ? { code: 4, details: `no answer within ${c.timeoutMs / 1000}s` }
          : {
              code: 14,
              details: `connection to ${c.baseUrl} failed: ${typeof code === "string" ? code : "network error"}`,
            }
      continue
    }
    if (answer.status >= 200 && answer.status < 300 && answer.json !== undefined) return answer.json
    const err = answer.json?.error as
      | { status?: unknown; message?: unknown; details?: Array<{ reason?: unknown }> }
      | undefined
    const status = typeof err?.status === "string" ? err.status : ""
    const reason = err?.details?.find((d) => typeof d?.reason === "string")?.reason
    last = {
      code: statusCodes[status] ?? 2,
      details: typeof err?.message === "string" ? err.message : `HTTP ${answer.status}`,
      ...(typeof reason === "string" ? { reason } : {}),
    }
    if (![429, 503, 504].includes(answer.status)) break
  }
  throw last
}
