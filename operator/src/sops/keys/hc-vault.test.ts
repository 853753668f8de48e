import { createServer, request, type Server } from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { closeServer, listenOnLoopback } from "../../../../e2e/support/ports.ts"
import { hasTool } from "../../../../e2e/support/tools.ts"
import { type Vault, vaultServer } from "../../../../e2e/support/vault.ts"
import { vaultRecipient } from "../recipients.ts"
import { parseAllowlist, transitUrl, vaultTransitService } from "./hc-vault.ts"
import type { VaultKey } from "./masterkey.ts"

const entry = (address: string, enginePath = "transit", keyName = "k"): VaultKey => ({
  type: "hc_vault",
  vaultAddress: address,
  enginePath,
  keyName,
  createdAt: "2026-01-01T00:00:00Z",
  enc: "vault:v1:AAAA",
})

const failure = <A>(r: { _tag: "Success"; success: A } | { _tag: "Failure"; failure: { reason: string } }) =>
  r._tag === "Failure" ? r.failure.reason : "<succeeded>"

describe("Vault transit key service (what needs no Vault)", () => {
  it("builds sops' transit paths and refuses addresses and paths that are not one", () => {
    expect(transitUrl(entry("https://vault.example.com:8200"), "decrypt")).toEqual({
      url: "https://vault.example.com:8200/v1/transit/decrypt/k",
      path: "transit/decrypt/k",
    })
    expect(transitUrl(entry("http://127.0.0.1:8200", "team/a/transit", "db"), "encrypt")).toEqual({
      url: "http://127.0.0.1:8200/v1/team/a/transit/encrypt/db",
      path: "team/a/transit/encrypt/db",
    })
    expect(transitUrl(entry("file:///etc"), "decrypt")).toBe(
      "vault_address 'file:///etc' is not an http(s) URL",
    )
    expect(transitUrl(entry("https://u:p@vault"), "decrypt")).toMatch(/must be scheme:\/\/host\[:port\] only/)
    expect(transitUrl(entry("https://vault", "../sys"), "decrypt")).toMatch(/^invalid engine_path/)
    expect(transitUrl(entry("https://vault", "transit", "a?b"), "decrypt")).toMatch(/^invalid engine_path/)
    expect(transitUrl(entry("https://vault", ""), "decrypt")).toMatch(/^invalid engine_path/)
    // the URI form sops takes on its command line and in .sops.yaml
    expect(vaultRecipient("https://vault.example.com:8200/v1/sops/keys/my-encryption-key")).toEqual({
      type: "hc_vault",
      vaultAddress: "https://vault.example.com:8200",
      enginePath: "sops",
      keyName: "my-encryption-key",
    })
  })

  it("reads SOPS_HC_VAULT_ALLOWLIST as sops does (all by default, none, or address prefixes)", () => {
    const all = parseAllowlist(undefined)
    expect(typeof all === "function" && all("http://anything:1")).toBe(true)
    const none = parseAllowlist("none")
    expect(typeof none === "function" && none("http://vault:8200")).toBe(false)
    const some = parseAllowlist("https://vault.a:8200, https://vault.b")
    expect(typeof some === "function" && some("https://vault.a:8200")).toBe(true)
    expect(typeof some === "function" && some("https://vault.b")).toBe(true)
    expect(typeof some === "function" && some("https://vault.bad")).toBe(false)
    expect(parseAllowlist("https://a,,https://b")).toBe("SOPS_HC_VAULT_ALLOWLIST's entry 2 is empty")
  })

  it.effect("without a token, or outside the allowlist, nothing is sent and the reason says why", () =>
    Effect.gen(function* () {
      const none = yield* Effect.result(
        vaultTransitService({ missingToken: "no sops.vault-token" }).decrypt(entry("http://127.0.0.1:1")),
      )
      expect(failure(none)).toBe(
        "failed to decrypt sops data key from Vault transit backend 'transit/decrypt/k': no sops.vault-token",
      )
      const denied = yield* Effect.result(
        vaultTransitService({ token: "t0ken-value", allowlist: "https://vault.ok" }).decrypt(
          entry("http://127.0.0.1:1"),
        ),
      )
      expect(failure(denied)).toBe("SOPS_HC_VAULT_ALLOWLIST does not allow http://127.0.0.1:1")
    }),
  )

  // A server that takes connections and never answers: the network fault that timeouts exist for.
  const silent = Effect.acquireRelease(
    Effect.promise(async () => {
      const open = { count: 0, closed: 0 }
      const server: Server = createServer((req) => {
        open.count++
        req.socket.on("close", () => open.closed++)
      })
      return { server, open, url: await listenOnLoopback(server) }
    }),
    ({ server }) => Effect.promise(() => closeServer(server)),
  )

  it.live("every attempt is bounded by the request timeout, and the attempts by maxAttempts", () =>
    Effect.gen(function* () {
      const { url, open } = yield* silent
      const service = vaultTransitService({
        token: "t",
        requestTimeoutMs: 300,
        maxAttempts: 2,
        backoffMs: 10,
      })
      const r = yield* Effect.result(service.decrypt(entry(url)))
      expect(failure(r)).toBe(
        "failed to decrypt sops data key from Vault transit backend 'transit/decrypt/k': no answer within 300 ms",
      )
      expect(open.count).toBe(2)
    }).pipe(Effect.scoped),
  )

  it.live("interrupting the caller (spec.timeout) aborts the request in flight", () =>
    Effect.gen(function* () {
      const { url, open } = yield* silent
      const r = yield* Effect.result(
        vaultTransitService({ token: "t" }).decrypt(entry(url)).pipe(Effect.timeout("300 millis")),
      )
      expect(r._tag).toBe("Failure")
      yield* Effect.promise(async () => {
        for (let i = 0; i < 50 && open.closed < 1; i++) await new Promise((s) => setTimeout(s, 20))
      })
      expect(open.count).toBe(1)
      expect(open.closed).toBe(1)
    }).pipe(Effect.scoped),
  )

  /** A hostile server: answers `handler` for every request. */
  const answering = (handler: Parameters<typeof createServer>[1]) =>
    Effect.acquireRelease(
      Effect.promise(async () => {
        const server = createServer(handler)
        return { server, url: await listenOnLoopback(server) }
      }),
      ({ server }) => Effect.promise(() => closeServer(server)),
    )

  it.live(
    "an answer over the size cap fails, and a redirect is not followed (the token would go along)",
    () =>
      Effect.gen(function* () {
        const big = yield* answering((_req, res) => {
          res.writeHead(200, { "content-type": "application/json" })
          res.end(`{"data":{"plaintext":"${"A".repeat(200_000)}"}}`)
        })
        const r = yield* Effect.result(vaultTransitService({ token: "t" }).decrypt(entry(big.url)))
        expect(failure(r)).toMatch(/: answer larger than 65536 bytes$/)
        let followed = 0
        const target = yield* answering((_req, res) => {
          followed++
          res.end("{}")
        })
        const redirecting = yield* answering((_req, res) => {
          res.writeHead(307, { location: `${target.url}/v1/transit/decrypt/k` })
          res.end()
        })
        const r2 = yield* Effect.result(vaultTransitService({ token: "t" }).decrypt(entry(redirecting.url)))
        expect(failure(r2)).toMatch(/Vault answered HTTP 307 \(a redirect, not followed/)
        expect(followed).toBe(0)
      }).pipe(Effect.scoped),
  )
})

const haveVault = hasTool("vault")

describe.skipIf(!haveVault)("Vault transit key service against the real Vault (dev mode)", () => {
  const scope = Effect.runSync(Scope.make())
  let vault: Vault
  beforeAll(async () => {
    vault = await Effect.runPromise(Scope.provide(scope)(vaultServer()))
  }, 120_000)
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), 60_000)

  const recipient = (uri: string) => {
    const r = vaultRecipient(uri)
    if (r === undefined || r.type !== "hc_vault") throw new Error(`not a Vault URI: ${uri}`)
    return r
  }

  it.live("wraps and unwraps a data key through the transit engine, as sops' entry", () =>
    Effect.gen(function* () {
      const uri = yield* Effect.promise(() => vault.createKey("unit-a"))
      const service = vaultTransitService({ token: vault.token })
      const part = new Uint8Array(32).map((_, i) => i * 7)
      const wrapped = yield* service.encrypt(recipient(uri), part)
      expect(wrapped).toMatchObject({
        type: "hc_vault",
        vaultAddress: vault.address,
        enginePath: "transit",
        keyName: "unit-a",
      })
      expect(wrapped.type === "hc_vault" && wrapped.enc).toMatch(/^vault:v1:/)
      expect(wrapped.type === "hc_vault" && wrapped.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
      expect([...(yield* service.decrypt(wrapped))]).toEqual([...part])
    }),
  )

  it.live("Vault's own error text, the transit path; never the token", () =>
    Effect.gen(function* () {
      const a = yield* Effect.promise(() => vault.createKey("unit-owner"))
      const b = yield* Effect.promise(() => vault.createKey("unit-other"))
      const root = vaultTransitService({ token: vault.token })
      const wrapped = yield* root.encrypt(recipient(a), new Uint8Array(32).fill(1))
      if (wrapped.type !== "hc_vault") throw new Error("not a Vault entry")
      // the ciphertext of key A presented to key B: Vault refuses it
      const other = yield* Effect.result(root.decrypt({ ...wrapped, keyName: "unit-other" }))
      expect(failure(other)).toMatch(
        /^failed to decrypt sops data key from Vault transit backend 'transit\/decrypt\/unit-other': Vault answered HTTP 400: .*(cipher: message authentication failed|invalid)/,
      )
      expect(failure(other)).not.toContain(vault.token)
      // a token limited to key B: permission denied on key A
      const scoped = yield* Effect.promise(() => vault.scopedToken("unit-other"))
      const denied = yield* Effect.result(vaultTransitService({ token: scoped }).decrypt(wrapped))
      expect(failure(denied)).toMatch(
        /^failed to decrypt sops data key from Vault transit backend 'transit\/decrypt\/unit-owner': Vault answered HTTP 403: .*permission denied$/,
      )
      expect(failure(denied)).not.toContain(scoped)
      const bogus = "hvs.NotARealTokenButLongEnough0123"
      const unknown = yield* Effect.result(vaultTransitService({ token: bogus }).decrypt(wrapped))
      expect(failure(unknown)).toMatch(/Vault answered HTTP 403: .*(permission denied|invalid token)/)
      expect(failure(unknown)).not.toContain(bogus)
      expect(b).toContain("/v1/transit/keys/unit-other")
    }),
  )

  it.live("connection resets, 503 and 429 are retried with backoff; a 400 is not", () =>
    Effect.gen(function* () {
      const uri = yield* Effect.promise(() => vault.createKey("unit-retry"))
      const wrapped = yield* vaultTransitService({ token: vault.token }).encrypt(
        recipient(uri),
        new Uint8Array(32).fill(9),
      )
      if (wrapped.type !== "hc_vault") throw new Error("not a Vault entry")
      // a fault-injecting hop in front of the real Vault: reset, 503, 429, then pass
      const target = new URL(vault.address)
      let calls = 0
      const hop = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const server = createServer((req, res) => {
            calls++
            if (calls === 1) return req.socket.destroy()
            if (calls === 2) {
              res.writeHead(503, { "content-type": "application/json" })
              return res.end('{"errors":["Vault is sealed"]}')
            }
            if (calls === 3) {
              res.writeHead(429, { "content-type": "application/json" })
              return res.end('{"errors":["request path \\"transit/decrypt\\": rate limit quota exceeded"]}')
            }
            const up = request(
              {
                host: target.hostname,
                port: target.port,
                path: req.url,
                method: req.method,
                headers: req.headers,
              },
              (r) => {
                res.writeHead(r.statusCode ?? 502, r.headers)
                r.pipe(res)
              },
            )
            req.pipe(up)
          })
          return { server, url: await listenOnLoopback(server) }
        }),
        ({ server }) => Effect.promise(() => closeServer(server)),
      )
      const service = vaultTransitService({ token: vault.token, backoffMs: 20 })
      const out = yield* service.decrypt({ ...wrapped, vaultAddress: hop.url })
      expect([...out]).toEqual(new Array(32).fill(9))
      expect(calls).toBe(4)
      // a 400 (the ciphertext is not this key's) is answered once
      calls = 10
      const r = yield* Effect.result(
        service.decrypt({ ...wrapped, vaultAddress: hop.url, enc: "vault:v1:AAAA" }),
      )
      expect(failure(r)).toMatch(/Vault answered HTTP 400/)
      expect(calls).toBe(11)
    }).pipe(Effect.scoped),
  )

  it.live("a dead address fails after the bounded retries, naming the path and the connection error", () =>
    Effect.gen(function* () {
      const closed = createServer()
      const url = yield* Effect.promise(() => listenOnLoopback(closed))
      yield* Effect.promise(() => closeServer(closed))
      const r = yield* Effect.result(
        vaultTransitService({ token: vault.token, backoffMs: 10 }).decrypt(entry(url)),
      )
      expect(failure(r)).toMatch(
        /^failed to decrypt sops data key from Vault transit backend 'transit\/decrypt\/k': connect ECONNREFUSED 127\.0\.0\.1:\d+$/,
      )
    }),
  )
})
