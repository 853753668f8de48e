/**
 * Flux's `sops.azure-kv` formats (kustomize-controller internal/sops/azkv), parsed without the Azure SDK (the CLI's
 * `create secret` and the decryption Secret's import check them; the SDK loads only when a key is used).
 *
 * A YAML or JSON mapping, UTF-16 with a BOM accepted (as Flux decodes it); in Flux's order: `tenantId` +
 * `clientId` + `clientSecret` → a client secret; `tenantId` + `clientId` + `clientCertificate` (PEM certificate
 * and private key, `clientCertificatePassword`, `clientCertificateSendChain`) → a client certificate assertion;
 * `tenant` + `appId` + `password` (what `az ad sp create-for-rbac` prints) → a client secret; `clientId` alone →
 * the managed identity with that client id. `authorityHost` picks the cloud.
 *
 * @module
 */

const str = (v: unknown) => (typeof v === "string" ? v : "")

/** Decodes `sops.azure-kv` bytes as Flux does: a UTF-8/UTF-16 BOM is honoured and skipped. */
export const decodeAzureConfig = (bytes: Buffer): string => {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString("utf16le")
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    const swapped = Buffer.from(bytes.subarray(2))
    swapped.swap16()
    return swapped.toString("utf16le")
  }
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return bytes.subarray(3).toString("utf8")
  return bytes.toString("utf8")
}

const fields = [
  "tenantId",
  "clientId",
  "clientSecret",
  "clientCertificate",
  "clientCertificatePassword",
  "clientCertificateSendChain",
  "authorityHost",
  "appId",
  "tenant",
  "password",
] as const

/** Which credential a mapping describes; `authorityHost` is "" when it names none. */
export type AzureConfig =
  | {
      readonly kind: "client-secret" | "az-service-principal"
      readonly tenantId: string
      readonly clientId: string
      readonly secret: string
      readonly authorityHost: string
    }
  | {
      readonly kind: "client-certificate"
      readonly tenantId: string
      readonly clientId: string
      readonly certificate: string
      readonly password: string
      readonly sendChain: boolean
      readonly authorityHost: string
    }
  | { readonly kind: "managed-identity"; readonly clientId: string }

/** The credential a `sops.azure-kv` mapping describes, or why none (Flux's message); unknown fields are refused. */
export const parseAzureConfig = (
  c: Readonly<Record<string, unknown>>,
): AzureConfig | { readonly error: string } => {
  const unknown = Object.keys(c).filter((k) => !(fields as ReadonlyArray<string>).includes(k))
  if (unknown.length > 0)
    return {
      error: `unknown field(s) ${unknown.map((k) => `'${k}'`).join(", ")}; known: ${fields.join(", ")}`,
    }
  const authorityHost = str(c.authorityHost)
  if (authorityHost !== "" && !/^https:\/\/[^/?#]+\/?$/.test(authorityHost))
    return {
      error:
        "authorityHost must be an https URL of an Entra authority (e.g. https://login.microsoftonline.com)",
    }
  const tenantId = str(c.tenantId)
  const clientId = str(c.clientId)
  if (tenantId !== "" && clientId !== "") {
    const secret = str(c.clientSecret)
    if (secret !== "") return { kind: "client-secret", tenantId, clientId, secret, authorityHost }
    const certificate = str(c.clientCertificate)
    if (certificate !== "") {
      if (!certificate.includes("-----BEGIN") || !/PRIVATE KEY-----/.test(certificate))
        return {
          error:
            "clientCertificate must hold the PEM certificate and its PEM private key (PKCS#12 is not supported)",
        }
      return {
        kind: "client-certificate",
        tenantId,
        clientId,
        certificate,
        password: str(c.clientCertificatePassword),
        sendChain: c.clientCertificateSendChain === true,
        authorityHost,
      }
    }
  }
  const tenant = str(c.tenant)
  const appId = str(c.appId)
  const password = str(c.password)
  if (tenant !== "" && appId !== "" && password !== "")
    return {
      kind: "az-service-principal",
      tenantId: tenant,
      clientId: appId,
      secret: password,
      authorityHost,
    }
  if (clientId !== "") return { kind: "managed-identity", clientId }
  return {
    error:
      "invalid data: requires a 'clientId' field, a combination of 'tenantId', 'clientId' and 'clientSecret', or 'tenantId', 'clientId' and 'clientCertificate'",
  }
}
