/**
 * A LOCAL SERVER OF AZURE KEY VAULT'S AND MICROSOFT ENTRA ID'S WIRE PROTOCOLS, written by us for the tests from
 * the public REST API (Key Vault api-version 7.x, Entra's OAuth 2.0 v2.0 endpoints), since no Key Vault emulator
 * can be had here (Lowkey Vault's app is on no registry we reach). Test code only; everything on 127.0.0.1.
 *
 * - Key Vault: `POST /keys/{name}/create` (RSA keys made with node:crypto), `GET /keys/{name}[/{version}]`,
 *   `POST /keys/{name}/{version}/{encrypt|decrypt|wrapkey|unwrapkey}` with RSA-OAEP-256, RSA-OAEP and RSA1_5,
 *   Key Vault's error JSON (`{"error":{"code","message"}}`: Unauthorized, KeyNotFound, BadParameter,
 *   Forbidden, Throttled), and the 401 bearer challenge the SDKs start with
 *   (`WWW-Authenticate: Bearer authorization="<authority>/<tenant>", resource="https://localhost:<port>"`).
 *   The vault is addressed as `https://vault.localhost:<port>` so that the SDKs' check "the vault's host ends
 *   with `.` + the challenge resource's host" holds as it does for `*.vault.azure.net` / `vault.azure.net`
 *   (Go compares host:port, JavaScript host names). Access tokens are RS256 JWTs this server signed; the vault
 *   checks signature, expiry, audience and that the caller (appid) is allowed.
 * - Entra: `GET /common/discovery/instance`, `GET /{tenant}/v2.0/.well-known/openid-configuration`, and
 *   `POST /{tenant}/oauth2/v2.0/token` with client credentials: a client secret, a client certificate
 *   assertion (RS256/PS256 JWT with `x5t`/`x5t#S256`, signature verified against the registered
 *   certificate, `aud` = the token endpoint) or a federated assertion (a Kubernetes ServiceAccount token,
 *   verified against the issuer's JWKS, its `sub` and `aud` matched), with Entra's error JSON
 *   (`invalid_client`, `AADSTS…` codes). Also App Service's managed-identity endpoint (`/msi/token`).
 * - A CONNECT proxy (plain HTTP) that tunnels every target to this server: Go resolves no `*.localhost`, so
 *   the real sops reaches `vault.localhost` (and MSAL Go's instance discovery on login.microsoftonline.com)
 *   through `HTTPS_PROXY`; the serving certificate from a throwaway CA names those hosts.
 *
 * @module
 */
import {
  constants,
  createHash,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  randomUUID,
  sign,
  verify,
  X509Certificate,
} from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { closeServer, listenOnLoopback } from "./ports.ts"
import { issueCert, makeCa } from "./tls.ts"

export interface AzureKvServer {
  /** `https://vault.localhost:<port>` */
  readonly vaultUrl: string
  /** `https://127.0.0.1:<port>` (AZURE_AUTHORITY_HOST) */
  readonly authorityHost: string
  /** `http://127.0.0.1:<port>`: the CONNECT proxy for Go clients (HTTPS_PROXY). */
  readonly proxyUrl: string
  /** The test CA (PEM) and a file holding it (SSL_CERT_FILE). */
  readonly ca: string
  readonly caFile: string
  readonly tenantId: string
  /** An app registration with a client secret. */
  readonly clientId: string
  readonly clientSecret: string
  /** Creates an RSA key (a new version when it exists); returns its kid `<vault>/keys/<name>/<version>`. */
  readonly createKey: (name: string) => string
  /** Registers an app that authenticates with a client certificate; returns its client id. */
  readonly addCertificateClient: (certPem: string) => string
  /** Registers a federated credential (ServiceAccount tokens of `issuer` with `subject`); returns a client id. */
  readonly addFederatedClient: (fed: {
    readonly issuer: string
    readonly subject: string
    readonly jwks: ReadonlyArray<Record<string, unknown>>
  }) => string
  /** A managed-identity client id the `/msi/token` endpoint serves, and the header secret it wants. */
  readonly managedIdentity: { readonly clientId: string; readonly endpoint: string; readonly header: string }
  /** Key Vault refuses (403) operations by this client id. */
  readonly deny: (clientId: string) => void
  /** The next `n` Key Vault requests get `status` (429 or 5xx) with Key Vault's error JSON. */
  readonly failNext: (n: number, status: number) => void
  /** Requests served, by route (`token`, `encrypt`, `decrypt`, `get`, `challenge`, …). */
  readonly counts: Readonly<Record<string, number>>
  /** Every request body received at the token endpoint (to check no secret leaks elsewhere). */
  readonly tokenRequests: ReadonlyArray<{
    readonly grant: string
    readonly clientId: string
    readonly status: number
  }>
}

const b64u = (b: Buffer | string) => Buffer.from(b).toString("base64url")

interface Key {
  readonly version: string
  readonly privateKey: KeyObject
  readonly jwk: { n: string; e: string }
  readonly created: number
}

const parseJwt = (jwt: string) => {
  const parts = jwt.split(".")
  if (parts.length !== 3) return undefined
  try {
    return {
      header: JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8")) as Record<string, unknown>,
      claims: JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as Record<string, unknown>,
      signed: Buffer.from(`${parts[0]}.${parts[1]}`),
      signature: Buffer.from(parts[2]!, "base64url"),
    }
  } catch {
    return undefined
  }
}

const verifyJwt = (jwt: NonNullable<ReturnType<typeof parseJwt>>, key: KeyObject): boolean => {
  const alg = jwt.header.alg
  try {
    if (alg === "RS256") return verify("sha256", jwt.signed, key, jwt.signature)
    if (alg === "PS256")
      return verify(
        "sha256",
        jwt.signed,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
        jwt.signature,
      )
    if (alg === "ES256")
      return verify("sha256", jwt.signed, { key, dsaEncoding: "ieee-p1363" }, jwt.signature)
  } catch {
    return false
  }
  return false
}

const readBody = (req: IncomingMessage, limit = 1 << 20): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on("data", (c: Buffer) => {
      size += c.length
      if (size > limit) {
        reject(new Error("body too large"))
        req.destroy()
      } else chunks.push(c)
    })
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", reject)
  })

/** Starts the servers for the scope; closed when it closes. */
export const azureKvServer = Effect.fn("azureKvServer")(function* () {
  const dir = mkdtempSync(join(tmpdir(), "kustodian-azkv-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const ca = makeCa("kustodian-test-azure-ca")
  const leaf = issueCert(ca, {
    commonName: "vault.localhost",
    dnsNames: ["localhost", "vault.localhost", "login.microsoftonline.com"],
    ipAddresses: ["127.0.0.1"],
    usage: "server",
  })
  const caFile = join(dir, "ca.pem")
  writeFileSync(caFile, ca.cert)

  const tenantId = randomUUID()
  const clientId = randomUUID()
  const clientSecret = `azkv-test-secret-${randomBytes(12).toString("hex")}`
  const signing = generateKeyPairSync("rsa", { modulusLength: 2048 })
  const kid = randomBytes(8).toString("hex")
  const secrets = new Map<string, string>([[clientId, clientSecret]])
  const certificates = new Map<string, X509Certificate>()
  const federated = new Map<
    string,
    { issuer: string; subject: string; keys: ReadonlyArray<{ kid?: string; key: KeyObject }> }
  >()
  const managed = { clientId: randomUUID(), header: randomBytes(16).toString("hex") }
  const denied = new Set<string>()
  const keys = new Map<string, Key[]>()
  const counts: Record<string, number> = {}
  const tokenRequests: Array<{ grant: string; clientId: string; status: number }> = []
  let failures = { n: 0, status: 500 }
  let port = 0
  const vaultUrl = () => `https://vault.localhost:${port}`
  const authority = () => `https://127.0.0.1:${port}`
  const resource = () => `https://localhost:${port}`
  const count = (r: string) => {
    counts[r] = (counts[r] ?? 0) + 1
  }

  const issueAccessToken = (appid: string, scope: string) => {
    const now = Math.floor(Date.now() / 1000)
    // MSAL adds OpenID scopes to the resource's `<resource>/.default`
    const resourceScope =
      scope.split(" ").find((x) => x !== "" && !["openid", "profile", "offline_access"].includes(x)) ?? ""
    const aud = resourceScope.replace(/\/\.default$/, "")
    const header = b64u(JSON.stringify({ alg: "RS256", typ: "JWT", kid }))
    const claims = b64u(
      JSON.stringify({
        aud,
        iss: `https://sts.localhost/${tenantId}/`,
        iat: now,
        nbf: now,
        exp: now + 3600,
        appid,
        oid: appid,
        tid: tenantId,
        ver: "1.0",
      }),
    )
    const sig = sign("sha256", Buffer.from(`${header}.${claims}`), signing.privateKey)
    return `${header}.${claims}.${b64u(sig)}`
  }

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", ...headers })
    res.end(JSON.stringify(body))
    return true
  }
  const kvError = (res: ServerResponse, status: number, code: string, message: string, h = {}) =>
    json(res, status, { error: { code, message } }, h)
  const aadError = (res: ServerResponse, status: number, error: string, code: number, description: string) =>
    json(res, status, {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${randomUUID()} Correlation ID: ${randomUUID()} Timestamp: ${new Date().toISOString()}`,
      error_codes: [code],
      timestamp: new Date().toISOString(),
      trace_id: randomUUID(),
      correlation_id: randomUUID(),
    })

  // --- Entra ----------------------------------------------------------------------------------------------
  const tokenEndpoint = (tenant: string) => `${authority()}/${tenant}/oauth2/v2.0/token`
  const entra = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const path = url.pathname
    if (req.method === "GET" && path === "/common/discovery/instance") {
      count("discovery")
      const host = new URL(authority()).host
      json(res, 200, {
        tenant_discovery_endpoint: `${authority()}/${tenantId}/v2.0/.well-known/openid-configuration`,
        "api-version": "1.1",
        metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host, "127.0.0.1"] }],
      })
      return true
    }
    const oidc = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path)
    if (req.method === "GET" && oidc !== null) {
      count("openid-configuration")
      const t =
        oidc[1] === tenantId || oidc[1] === "organizations" || oidc[1] === "common" ? tenantId : oidc[1]!
      json(res, 200, {
        token_endpoint: tokenEndpoint(t),
        token_endpoint_auth_methods_supported: [
          "client_secret_post",
          "private_key_jwt",
          "client_secret_basic",
        ],
        jwks_uri: `${authority()}/${t}/discovery/v2.0/keys`,
        response_modes_supported: ["query", "fragment", "form_post"],
        subject_types_supported: ["pairwise"],
        id_token_signing_alg_values_supported: ["RS256"],
        response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
        scopes_supported: ["openid", "profile", "email", "offline_access"],
        issuer: `${authority()}/${t}/v2.0`,
        request_uri_parameter_supported: false,
        authorization_endpoint: `${authority()}/${t}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${authority()}/${t}/oauth2/v2.0/devicecode`,
        end_session_endpoint: `${authority()}/${t}/oauth2/v2.0/logout`,
        tenant_region_scope: "EU",
        cloud_instance_name: "localhost",
      })
      return true
    }
    if (req.method === "GET" && path === "/msi/token") {
      count("msi")
      if (req.headers["x-identity-header"] !== managed.header)
        return json(res, 401, { statusCode: 401, message: "Unauthorized request" })
      const wanted = url.searchParams.get("client_id") ?? url.searchParams.get("clientid")
      if (wanted !== null && wanted !== managed.clientId)
        return json(res, 400, { statusCode: 400, message: "Identity not found" })
      const r = url.searchParams.get("resource") ?? ""
      json(res, 200, {
        access_token: issueAccessToken(managed.clientId, r),
        expires_on: String(Math.floor(Date.now() / 1000) + 3600),
        resource: r,
        token_type: "Bearer",
        client_id: managed.clientId,
      })
      return true
    }
    const tok = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path)
    if (req.method !== "POST" || tok === null) return false
    count("token")
    const form = new URLSearchParams(await readBody(req))
    const client = form.get("client_id") ?? ""
    const grant = form.get("grant_type") ?? ""
    const done = (status: number) => tokenRequests.push({ grant, clientId: client, status })
    if (tok[1] !== tenantId) {
      done(400)
      return aadError(res, 400, "invalid_request", 90002, `Tenant '${tok[1]}' not found.`)
    }
    if (grant !== "client_credentials") {
      done(400)
      return aadError(
        res,
        400,
        "unsupported_grant_type",
        70003,
        "The app requested an unsupported grant type.",
      )
    }
    const scope = form.get("scope") ?? ""
    const assertion = form.get("client_assertion")
    let ok = false
    if (form.has("client_secret")) {
      const known = secrets.get(client)
      if (known === undefined) {
        done(400)
        return aadError(
          res,
          400,
          "unauthorized_client",
          700016,
          `Application with identifier '${client}' was not found in the directory.`,
        )
      }
      ok = known === form.get("client_secret")
      if (!ok) {
        done(401)
        return aadError(
          res,
          401,
          "invalid_client",
          7000215,
          "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        )
      }
    } else if (assertion !== null) {
      if (form.get("client_assertion_type") !== "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
        done(400)
        return aadError(
          res,
          400,
          "invalid_request",
          900144,
          "The request body must contain the following parameter: 'client_assertion_type'.",
        )
      }
      const jwt = parseJwt(assertion)
      const now = Date.now() / 1000
      const cert = certificates.get(client)
      const fed = federated.get(client)
      if (jwt === undefined) {
        done(401)
        return aadError(res, 401, "invalid_client", 50027, "JWT token is invalid or malformed.")
      }
      if (cert !== undefined) {
        const der = Buffer.from(cert.raw)
        const x5t = b64u(createHash("sha1").update(der).digest())
        const x5t256 = b64u(createHash("sha256").update(der).digest())
        const thumbprintOk = jwt.header.x5t === x5t || jwt.header["x5t#S256"] === x5t256
        ok =
          thumbprintOk &&
          verifyJwt(jwt, cert.publicKey) &&
          jwt.claims.aud === tokenEndpoint(tenantId) &&
          jwt.claims.iss === client &&
          jwt.claims.sub === client &&
          typeof jwt.claims.exp === "number" &&
          jwt.claims.exp > now
        if (!ok) {
          done(401)
          return aadError(res, 401, "invalid_client", 700027, "Client assertion failed signature validation.")
        }
      } else if (fed !== undefined) {
        const key = fed.keys.find((k) => k.kid === undefined || k.kid === jwt.header.kid)
        ok =
          key !== undefined &&
          verifyJwt(jwt, key.key) &&
          jwt.claims.iss === fed.issuer &&
          jwt.claims.sub === fed.subject &&
          ([jwt.claims.aud].flat() as unknown[]).includes("api://AzureADTokenExchange") &&
          typeof jwt.claims.exp === "number" &&
          jwt.claims.exp > now
        if (!ok) {
          done(400)
          return aadError(
            res,
            400,
            "invalid_request",
            700211,
            `No matching federated identity record found for presented assertion issuer '${String(jwt.claims.iss)}'.`,
          )
        }
      } else {
        done(400)
        return aadError(
          res,
          400,
          "unauthorized_client",
          700016,
          `Application with identifier '${client}' was not found in the directory.`,
        )
      }
    } else {
      done(401)
      return aadError(
        res,
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      )
    }
    done(200)
    json(res, 200, {
      token_type: "Bearer",
      expires_in: 3599,
      ext_expires_in: 3599,
      access_token: issueAccessToken(client, scope),
    })
    return true
  }

  // --- Key Vault ------------------------------------------------------------------------------------------
  const bundle = (name: string, k: Key) => ({
    key: {
      kid: `${vaultUrl()}/keys/${name}/${k.version}`,
      kty: "RSA",
      key_ops: ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"],
      n: k.jwk.n,
      e: k.jwk.e,
    },
    attributes: {
      enabled: true,
      created: k.created,
      updated: k.created,
      recoveryLevel: "Recoverable+Purgeable",
      recoverableDays: 90,
    },
  })
  const createKey = (name: string) => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
    const jwk = privateKey.export({ format: "jwk" }) as { n: string; e: string }
    const k: Key = {
      version: randomBytes(16).toString("hex"),
      privateKey,
      jwk: { n: jwk.n, e: jwk.e },
      created: Math.floor(Date.now() / 1000),
    }
    keys.set(name, [...(keys.get(name) ?? []), k])
    return `${vaultUrl()}/keys/${name}/${k.version}`
  }
  const challenge = () => ({
    "WWW-Authenticate": `Bearer authorization="${authority()}/${tenantId}", resource="${resource()}"`,
  })
  const caller = (req: IncomingMessage): string | undefined => {
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1]
    if (bearer === undefined) return undefined
    const jwt = parseJwt(bearer)
    if (jwt === undefined || !verifyJwt(jwt, signing.publicKey)) return undefined
    if (
      jwt.claims.aud !== resource() ||
      typeof jwt.claims.exp !== "number" ||
      jwt.claims.exp < Date.now() / 1000
    )
      return undefined
    return typeof jwt.claims.appid === "string" ? jwt.claims.appid : undefined
  }
  const padding = (alg: unknown) =>
    alg === "RSA-OAEP-256"
      ? { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }
      : alg === "RSA-OAEP"
        ? { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" }
        : alg === "RSA1_5"
          ? { padding: constants.RSA_PKCS1_PADDING }
          : undefined

  const vault = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const m =
      /^\/keys\/([0-9a-zA-Z-]{1,127})(?:\/([0-9a-zA-Z]*))?(?:\/(create|encrypt|decrypt|wrapkey|unwrapkey))?\/?$/.exec(
        url.pathname,
      )
    const apiVersion = url.searchParams.get("api-version")
    const body = req.method === "POST" ? await readBody(req) : ""
    if (m === null) return kvError(res, 404, "NotFound", "The requested resource was not found.")
    if (apiVersion === null || !/^(7\.\d+(-preview)?|20\d\d-\d\d-\d\d(-preview)?)$/.test(apiVersion))
      return kvError(
        res,
        400,
        "MissingApiVersionParameter",
        "The api-version query parameter (?api-version=) is required for all requests.",
      )
    const app = caller(req)
    if (app === undefined) {
      count("challenge")
      return kvError(
        res,
        401,
        "Unauthorized",
        "AKV10000: Request is missing a Bearer or PoP token.",
        challenge(),
      )
    }
    if (failures.n > 0) {
      failures = { ...failures, n: failures.n - 1 }
      count(`fail-${failures.status}`)
      return failures.status === 429
        ? kvError(
            res,
            429,
            "Throttled",
            "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached",
            { "Retry-After": "0" },
          )
        : kvError(res, failures.status, "InternalServerError", "An unexpected error occurred.")
    }
    if (denied.has(app))
      return kvError(
        res,
        403,
        "Forbidden",
        `The user, group or application 'appid=${app};iss=https://sts.localhost/${tenantId}/' does not have keys ${m[3] ?? "get"} permission on key vault 'vault;location=local'.`,
      )
    const [, name, versionPart, op] = m as unknown as [string, string, string | undefined, string | undefined]
    let version = versionPart ?? ""
    if (op === "create" || (versionPart === "create" && op === undefined)) {
      if (req.method !== "POST") return kvError(res, 405, "BadParameter", "Method not allowed.")
      count("create")
      const kidCreated = createKey(name)
      const k = keys.get(name)!.at(-1)!
      void kidCreated
      return json(res, 200, bundle(name, k))
    }
    const versions = keys.get(name)
    const k = version === "" ? versions?.at(-1) : versions?.find((v) => v.version === version)
    if (k === undefined)
      return kvError(
        res,
        404,
        "KeyNotFound",
        `A key with (name/id) ${name}${version ? `/${version}` : ""} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
      )
    version = k.version
    if (op === undefined) {
      if (req.method !== "GET") return kvError(res, 405, "BadParameter", "Method not allowed.")
      count("get")
      return json(res, 200, bundle(name, k))
    }
    count(op)
    let params: { alg?: unknown; value?: unknown }
    try {
      params = JSON.parse(body) as typeof params
    } catch {
      return kvError(res, 400, "BadParameter", "Request body is not valid JSON.")
    }
    const pad = padding(params.alg)
    if (pad === undefined)
      return kvError(
        res,
        400,
        "BadParameter",
        `Invalid algorithm '${String(params.alg)}'. Supported: RSA-OAEP, RSA-OAEP-256, RSA1_5.`,
      )
    if (typeof params.value !== "string" || !/^[A-Za-z0-9_-]*$/.test(params.value))
      return kvError(res, 400, "BadParameter", "Property 'value' must be a base64url string.")
    const value = Buffer.from(params.value, "base64url")
    let out: Buffer
    try {
      out =
        op === "encrypt" || op === "wrapkey"
          ? publicEncrypt({ key: createPublicKey(k.privateKey), ...pad }, value)
          : privateDecrypt({ key: k.privateKey, ...pad }, value)
    } catch {
      return kvError(res, 400, "BadParameter", "Bad Request")
    }
    return json(res, 200, { kid: `${vaultUrl()}/keys/${name}/${version}`, value: b64u(out) })
  }

  const server = createHttpsServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
    const url = new URL(req.url ?? "/", "https://localhost")
    const host = (req.headers.host ?? "").replace(/:\d+$/, "")
    void (async () => {
      try {
        if (host === "vault.localhost") await vault(req, res, url)
        else if (!(await entra(req, res, url))) json(res, 404, { error: "not_found" })
      } catch (e) {
        if (!res.headersSent) kvError(res, 500, "InternalServerError", (e as Error).message)
      }
    })()
  })
  const plain = yield* Effect.promise(() => listenOnLoopback(server))
  port = Number(new URL(plain).port)
  yield* Effect.addFinalizer(() => Effect.promise(() => closeServer(server)))

  // CONNECT proxy: every tunnel ends at this server
  const proxy = createServer((_req, res) => res.writeHead(405).end())
  proxy.on("connect", (req, socket, head) => {
    count("proxy-connect")
    const upstream = connect(port, "127.0.0.1", () => {
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n")
      if (head.length > 0) upstream.write(head)
      upstream.pipe(socket)
      socket.pipe(upstream)
    })
    upstream.on("error", () => socket.destroy())
    socket.on("error", () => upstream.destroy())
    void req
  })
  const proxyUrl = yield* Effect.promise(() => listenOnLoopback(proxy))
  yield* Effect.addFinalizer(() => Effect.promise(() => closeServer(proxy)))

  return {
    vaultUrl: vaultUrl(),
    authorityHost: authority(),
    proxyUrl,
    ca: ca.cert,
    caFile,
    tenantId,
    clientId,
    clientSecret,
    createKey,
    addCertificateClient: (certPem) => {
      const id = randomUUID()
      certificates.set(id, new X509Certificate(certPem))
      return id
    },
    addFederatedClient: (fed) => {
      const id = randomUUID()
      federated.set(id, {
        issuer: fed.issuer,
        subject: fed.subject,
        keys: fed.jwks.map((j) => ({
          ...(typeof j.kid === "string" ? { kid: j.kid } : {}),
          key: createPublicKey({ key: j as import("node:crypto").JsonWebKey, format: "jwk" }),
        })),
      })
      return id
    },
    managedIdentity: {
      clientId: managed.clientId,
      endpoint: `${authority()}/msi/token`,
      header: managed.header,
    },
    deny: (id) => void denied.add(id),
    failNext: (n, status) => {
      failures = { n, status }
    },
    counts,
    tokenRequests,
  } satisfies AzureKvServer as AzureKvServer
})
