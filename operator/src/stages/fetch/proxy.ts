/**
 * `spec.proxySecretRef`: the Secret's `address` (http, https or socks5 URL), with optional `username` and
 * `password`, as Flux reads it. The result carries the credentials in its userinfo: it is only ever written to
 * the git child's private config file, never to a command line, and its parts are scrubbed from git's output.
 *
 * @module
 */
import { AuthSecretError } from "./errors.ts"
import type { AuthSecret } from "./git-auth.ts"

/** Flux's bound on the address. */
const maxAddressLength = 2048

/** The proxy URL of `secret`, or why the Secret cannot be one. */
export const proxyFromSecret = (secret: AuthSecret): URL | AuthSecretError => {
  const fail = (why: string) =>
    new AuthSecretError({
      secret: secret.ref,
      message: `failed to configure proxy options: secret '${secret.ref}': ${why}`,
    })
  const raw = secret.data.address
  if (raw === undefined) return fail("key 'address' not found")
  const address = Buffer.from(raw).toString("utf8").trim()
  if (address === "") return fail("proxy address is empty")
  if (address.length > maxAddressLength)
    return fail(`proxy address is longer than ${maxAddressLength} characters`)
  let url: URL
  try {
    url = new URL(address)
  } catch {
    return fail("proxy address is not a URL")
  }
  if (!["http:", "https:", "socks5:"].includes(url.protocol))
    return fail(`proxy scheme '${url.protocol.slice(0, -1)}' is not one of http, https, socks5`)
  if (url.hostname === "") return fail("proxy address has no host")
  const username = secret.data.username
  const password = secret.data.password
  if (username !== undefined) {
    url.password = ""
    url.username = encodeURIComponent(Buffer.from(username).toString("utf8"))
    if (password !== undefined) url.password = encodeURIComponent(Buffer.from(password).toString("utf8"))
  }
  return url
}
