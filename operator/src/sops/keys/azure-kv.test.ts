import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { azureKvServer } from "../../../../e2e/support/azure-kv-server.ts"
import { azureRecipient } from "../recipients.ts"
import { credentialFromAzureConfig } from "./azure-credentials.ts"
import { azureHttpClient, azureKvService, describeAzureError } from "./azure-kv.ts"
import type { AzureKvKey, KeyRecipient } from "./masterkey.ts"

/** A self-signed RSA certificate and key (PEM), as an Entra app registration takes, made with openssl. */
const rsaCertificate = () => {
  const dir = mkdtempSync(join(tmpdir(), "kustodian-azcert-"))
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "k.pem",
        "-out",
        "c.pem",
        "-days",
        "1",
        "-subj",
        "/CN=sops-client",
      ],
      { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
    )
    return { cert: readFileSync(join(dir, "c.pem"), "utf8"), key: readFileSync(join(dir, "k.pem"), "utf8") }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const part = new Uint8Array(32).map((_, i) => i + 1)

describe("Azure Key Vault key service against the local Key Vault + Entra server", () => {
  const setup = Effect.gen(function* () {
    const server = yield* azureKvServer()
    const httpClient = azureHttpClient({ ca: server.ca, requestTimeoutMs: 3_000 })
    const secretConfig = {
      tenantId: server.tenantId,
      clientId: server.clientId,
      clientSecret: server.clientSecret,
      authorityHost: server.authorityHost,
    }
    const made = credentialFromAzureConfig(secretConfig, httpClient)
    if ("error" in made) throw new Error(made.error)
    const service = azureKvService({ credential: made.credential, httpClient, secrets: made.secrets })
    return { server, httpClient, service, secretConfig }
  })

  it.live(
    "client secret: encrypts with RSA-OAEP-256, resolves an empty version, decrypts; enc is base64url",
    () =>
      Effect.gen(function* () {
        const { server, service } = yield* setup
        const kid = server.createKey("sops-key")
        const version = kid.split("/").at(-1)!
        const recipient = azureRecipient(`${server.vaultUrl}/keys/sops-key`)!
        const entry = (yield* service.encrypt(recipient, part)) as AzureKvKey
        expect(entry).toMatchObject({
          type: "azure_kv",
          vaultUrl: server.vaultUrl,
          name: "sops-key",
          version,
        })
        expect(entry.enc).toMatch(/^[A-Za-z0-9_-]+$/)
        expect(Buffer.from(entry.enc, "base64url")).toHaveLength(256)
        expect(yield* service.decrypt(entry)).toEqual(part)
        expect(server.counts.challenge).toBeGreaterThanOrEqual(1)
        expect(server.counts.token).toBe(1)
        expect(server.counts.encrypt).toBe(1)
        expect(server.counts.decrypt).toBe(1)
      }).pipe(Effect.scoped),
  )

  it.live(
    "client certificate: the signed assertion is accepted; a wrong secret is refused with Entra's code, masked",
    () =>
      Effect.gen(function* () {
        const { server, httpClient, secretConfig } = yield* setup
        const kid = server.createKey("cert-key")
        const leaf = rsaCertificate()
        const clientId = server.addCertificateClient(leaf.cert)
        const made = credentialFromAzureConfig(
          {
            tenantId: server.tenantId,
            clientId,
            clientCertificate: `${leaf.cert}\n${leaf.key}`,
            authorityHost: server.authorityHost,
          },
          httpClient,
        )
        if ("error" in made) throw new Error(made.error)
        expect(made.kind).toBe("client-certificate")
        const service = azureKvService({ credential: made.credential, httpClient, secrets: made.secrets })
        const entry = (yield* service.encrypt(azureRecipient(kid)!, part)) as AzureKvKey
        expect(yield* service.decrypt(entry)).toEqual(part)

        const wrong = credentialFromAzureConfig(
          { ...secretConfig, clientSecret: "wrong-secret-value-xyz" },
          httpClient,
        )
        if ("error" in wrong) throw new Error(wrong.error)
        const bad = azureKvService({ credential: wrong.credential, httpClient, secrets: wrong.secrets })
        const r = yield* Effect.result(bad.decrypt(entry))
        expect(r._tag).toBe("Failure")
        const reason = r._tag === "Failure" ? r.failure.reason : ""
        expect(reason).toMatch(/^failed to decrypt sops data key with Azure Key Vault: .*AADSTS7000215/)
        expect(reason).not.toContain("wrong-secret-value-xyz")
        expect(reason).not.toContain(server.clientSecret)
      }).pipe(Effect.scoped),
  )

  it.live("Key Vault's error codes: KeyNotFound, Forbidden; 429 and 5xx are retried", () =>
    Effect.gen(function* () {
      const { server, service } = yield* setup
      const kid = server.createKey("retry-key")
      const entry = (yield* service.encrypt(azureRecipient(kid)!, part)) as AzureKvKey
      server.failNext(2, 429)
      expect(yield* service.decrypt(entry)).toEqual(part)
      server.failNext(1, 503)
      expect(yield* service.decrypt(entry)).toEqual(part)
      expect(server.counts["fail-429"]).toBe(2)
      expect(server.counts["fail-503"]).toBe(1)

      const missing = yield* Effect.result(
        service.decrypt({ ...entry, name: "no-such-key", version: "0123456789abcdef0123456789abcdef" }),
      )
      expect(missing._tag === "Failure" && missing.failure.reason).toMatch(
        /KeyNotFound \(HTTP 404\): A key with/,
      )
      const tampered = yield* Effect.result(service.decrypt({ ...entry, enc: `AA${entry.enc.slice(2)}` }))
      expect(tampered._tag === "Failure" && tampered.failure.reason).toMatch(/BadParameter \(HTTP 400\)/)
      server.deny(server.clientId)
      const denied = yield* Effect.result(service.decrypt(entry))
      expect(denied._tag === "Failure" && denied.failure.reason).toMatch(/Forbidden \(HTTP 403\)/)
    }).pipe(Effect.scoped),
  )

  it.live("malformed entries fail before any request, naming the field", () =>
    Effect.gen(function* () {
      const { service } = yield* setup
      const base: AzureKvKey = {
        type: "azure_kv",
        vaultUrl: "https://vault.localhost:1",
        name: "k",
        version: "v1",
        createdAt: "2026-01-01T00:00:00Z",
        enc: "AAAA",
      }
      const fail = (k: AzureKvKey) =>
        Effect.map(Effect.result(service.decrypt(k)), (r) => (r._tag === "Failure" ? r.failure.reason : ""))
      expect(yield* fail({ ...base, vaultUrl: "http://vault" })).toMatch(/vault_url 'http:\/\/vault' is not/)
      expect(yield* fail({ ...base, name: "a/b" })).toMatch(/name 'a\/b' is not/)
      expect(yield* fail({ ...base, enc: "not+base64url/" })).toMatch(/base64 decode/)
      const r = yield* Effect.result(
        service.encrypt(
          { type: "azure_kv", vaultUrl: "ftp://x", name: "k", version: "" } as KeyRecipient,
          part,
        ),
      )
      expect(r._tag).toBe("Failure")
    }),
  )
})

describe("Azure Key Vault transport bounds", () => {
  // A server that takes connections and never answers: the network fault that timeouts exist for.
  const silent = Effect.acquireRelease(
    Effect.promise(async () => {
      const open = { count: 0, closed: 0 }
      const sockets = new Set<Socket>()
      const server = createNetServer((socket) => {
        open.count++
        sockets.add(socket)
        socket.on("close", () => open.closed++)
        socket.on("error", () => {})
      })
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
      return { server, sockets, open, port: (server.address() as AddressInfo).port }
    }),
    ({ server, sockets }) =>
      Effect.promise(() => {
        for (const s of sockets) s.destroy()
        return new Promise<void>((r) => server.close(() => r()))
      }),
  )
  const credential = {
    getToken: async () => ({ token: "static-test-token", expiresOnTimestamp: Date.now() + 3_600_000 }),
  }
  const entry = (port: number): AzureKvKey => ({
    type: "azure_kv",
    vaultUrl: `https://vault.localhost:${port}`,
    name: "k",
    version: "0123456789abcdef0123456789abcdef",
    createdAt: "2026-01-01T00:00:00Z",
    enc: "AAAA",
  })

  it.live("every attempt is bounded by the request timeout, and retried a bounded number of times", () =>
    Effect.gen(function* () {
      const { port, open } = yield* silent
      const service = azureKvService({ credential, httpClient: azureHttpClient({ requestTimeoutMs: 300 }) })
      const t0 = Date.now()
      const r = yield* Effect.result(service.decrypt(entry(port)))
      expect(r._tag === "Failure" && r.failure.reason).toMatch(
        /^failed to decrypt sops data key with Azure Key Vault: /,
      )
      // a timed-out attempt is not retried by the SDK (a refused or reset connection is)
      expect(open.count).toBe(1)
      expect(Date.now() - t0).toBeLessThan(5_000)
    }).pipe(Effect.scoped),
  )

  it.live("interrupting the caller (spec.timeout) ends the call at once", () =>
    Effect.gen(function* () {
      const { port, open } = yield* silent
      const service = azureKvService({ credential, httpClient: azureHttpClient() })
      const t0 = Date.now()
      const r = yield* Effect.result(service.decrypt(entry(port)).pipe(Effect.timeout("300 millis")))
      expect(r._tag).toBe("Failure")
      expect(open.count).toBe(1)
      expect(Date.now() - t0).toBeLessThan(2_000)
    }).pipe(Effect.scoped),
  )
})

describe("Azure credentials from sops.azure-kv (Flux's formats)", () => {
  const http = azureHttpClient()
  it("picks Flux's precedence and refuses what it cannot use, naming the field", () => {
    const kind = (c: Record<string, unknown>) => {
      const r = credentialFromAzureConfig(c, http)
      return "error" in r ? r.error : r.kind
    }
    expect(kind({ tenantId: "t", clientId: "c", clientSecret: "s" })).toBe("client-secret")
    expect(kind({ tenantId: "t", clientId: "c", clientSecret: "s", clientCertificate: "x" })).toBe(
      "client-secret",
    )
    expect(kind({ tenant: "t", appId: "a", password: "p" })).toBe("az-service-principal")
    expect(kind({ clientId: "c" })).toBe("managed-identity")
    expect(kind({ tenantId: "t" })).toMatch(/^invalid data: requires a 'clientId' field/)
    expect(kind({ tenantId: "t", clientId: "c", clientCertificate: "MIIC…pkcs12" })).toMatch(/PEM/)
    expect(kind({ clientId: "c", resource: "x" })).toMatch(/unknown field\(s\) 'resource'/)
    expect(kind({ clientId: "c", authorityHost: "http://plain" })).toMatch(
      /authorityHost must be an https URL/,
    )
  })

  it("describes errors by Key Vault's code and status, masking secrets, tokens and PEM blocks", () => {
    const e = Object.assign(
      new Error('{"error":{"code":"Forbidden","message":"denied for s3cr3t-value eyJhbGci.eyJzdWIi.c2ln"}}'),
      { statusCode: 403, code: "Forbidden" },
    )
    expect(describeAzureError(e, ["s3cr3t-value"])).toBe(
      "Forbidden (HTTP 403): denied for <redacted> <redacted>",
    )
    expect(
      describeAzureError(new Error("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY----- bad")),
    ).toBe("<redacted> bad")
  })
})
