/**
 * Turning a GitRepository's auth Secret into what git and ssh read: a private 0700 directory holding a git
 * config file (Authorization header, CA, client cert), the SSH identity, known_hosts and an askpass helper for
 * the key passphrase, the HTTP(S) proxy with its credentials. Nothing secret goes on a command line; the
 * directory is removed when the scope closes.
 */
import { execFile } from "node:child_process"
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, type Scope } from "effect"
import { tempRoot } from "../../temp-root.ts"
import { AuthSecretError, InvalidSpecError } from "./errors.ts"

/** Secret data as decoded bytes (the API server's base64 already undone), keyed by Secret key. */
export type SecretData = Readonly<Record<string, Uint8Array>>

/** The auth Secret of a GitRepository: its `namespace/name` (for messages) and its data. */
export interface AuthSecret {
  readonly ref: string
  readonly data: SecretData
}

/** What a git invocation needs to authenticate: env for the child and the values to scrub from its output. */
export interface GitAuthEnv {
  readonly env: Readonly<Record<string, string>>
  readonly secrets: ReadonlyArray<string>
  /** The private directory (HOME of the git child); removed with the scope. */
  readonly dir: string
}

const text = (data: SecretData, key: string): string | undefined => {
  const v = data[key]
  return v === undefined ? undefined : Buffer.from(v).toString("utf8")
}

/** Quote a git config value: everything between double quotes, with `\` and `"` escaped. */
const configValue = (v: string): string => `"${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`

/** `scheme://host[:port]/` — the prefix http.<url>.* settings are scoped to, so a header never leaves the host. */
const urlScope = (url: URL): string => `${url.protocol}//${url.host}/`

const isSsh = (url: URL): boolean => url.protocol === "ssh:"

const fileMode = 0o600

const writePrivate = (path: string, content: string | Uint8Array, mode = fileMode) =>
  Effect.promise(async () => {
    await writeFile(path, content, { mode })
    await chmod(path, mode)
  })

/** A URL part as typed (percent-decoding of a malformed part leaves it as it is). */
const decoded = (part: string): string => {
  try {
    return decodeURIComponent(part)
  } catch {
    return part
  }
}

/** Single-quote for the /bin/sh that git uses to run GIT_SSH_COMMAND. */
const shq = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`

/**
 * Materialise the auth for `url` from `secret` (undefined when the spec has no secretRef) into a private
 * directory that lives as long as the current scope.
 */
export const materializeAuth = Effect.fn("GitAuth.materialize")(function* (
  url: URL,
  secret: AuthSecret | undefined,
  proxy?: URL,
): Effect.fn.Return<GitAuthEnv, AuthSecretError | InvalidSpecError, Scope.Scope> {
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tempRoot(), "kustodian-git-"))),
    (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
  )
  const data = secret?.data ?? {}
  const secrets = Object.values(data).map((v) => Buffer.from(v).toString("utf8"))
  const gitconfig = join(dir, "gitconfig")
  const env: Record<string, string> = {
    HOME: dir,
    XDG_CONFIG_HOME: dir,
    GIT_CONFIG_GLOBAL: gitconfig,
  }
  const lines: string[] = []
  if (proxy !== undefined) {
    if (isSsh(url))
      return yield* new InvalidSpecError({
        field: "spec.proxySecretRef",
        reason: "InvalidSpec",
        message:
          "spec.proxySecretRef is not supported by Kustodian for SSH URLs: git over SSH cannot be proxied",
      })
    // The config file is private to this git child (0600 in a 0700 directory): the proxy's credentials
    // never appear in argv, and every form of them is scrubbed from git's output.
    lines.push("[http]", `\tproxy = ${configValue(proxy.toString())}`)
    secrets.push(proxy.toString())
    for (const part of [proxy.username, proxy.password]) if (part !== "") secrets.push(part, decoded(part))
  }

  if (isSsh(url)) {
    const knownHosts = text(data, "known_hosts")
    if (knownHosts === undefined || knownHosts.trim() === "") {
      if (secret === undefined)
        return yield* new InvalidSpecError({
          field: "spec.secretRef",
          reason: "AuthenticationFailed",
          message: `an SSH URL needs spec.secretRef naming a Secret with 'known_hosts' (host key checking is always on)`,
        })
      return yield* new AuthSecretError({
        secret: secret.ref,
        message: `secret '${secret.ref}' has no 'known_hosts' key; SSH host key checking is always on`,
      })
    }
    const khPath = join(dir, "known_hosts")
    yield* writePrivate(khPath, knownHosts.endsWith("\n") ? knownHosts : `${knownHosts}\n`)
    const opts = [
      "-F",
      "/dev/null",
      "-o",
      `UserKnownHostsFile=${khPath}`,
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "UpdateHostKeys=no",
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "PreferredAuthentications=publickey",
      "-o",
      "ConnectTimeout=30",
      "-o",
      "LogLevel=ERROR",
    ]
    const identity = data.identity
    if (identity !== undefined) {
      const idPath = join(dir, "identity")
      const key = Buffer.from(identity).toString("utf8")
      yield* writePrivate(idPath, key.endsWith("\n") ? key : `${key}\n`)
      opts.push("-o", `IdentityFile=${idPath}`)
    } else {
      opts.push("-o", "IdentityFile=none")
    }
    const passphrase = data.password
    if (identity !== undefined && passphrase !== undefined) {
      // ssh reads a key passphrase only through askpass; the helper prints a file, so the passphrase never
      // sits in an environment variable or argv.
      const passPath = join(dir, "passphrase")
      const askpass = join(dir, "askpass")
      yield* writePrivate(passPath, passphrase)
      yield* writePrivate(askpass, `#!/bin/sh\nexec cat ${shq(passPath)}\n`, 0o700)
      env.SSH_ASKPASS = askpass
      env.SSH_ASKPASS_REQUIRE = "force"
      env.DISPLAY = "none"
      opts.push("-o", "NumberOfPasswordPrompts=1")
      // ssh skips a key it cannot decrypt and reports only "Permission denied"; check the passphrase first
      // (through the same askpass helper) so a wrong one is reported as such.
      const opened = yield* Effect.callback<boolean>((resume) => {
        const child = execFile(
          "ssh-keygen",
          ["-y", "-f", join(dir, "identity")],
          {
            env: {
              PATH: process.env.PATH ?? "/usr/bin:/bin",
              HOME: dir,
              SSH_ASKPASS: askpass,
              SSH_ASKPASS_REQUIRE: "force",
              DISPLAY: "none",
            },
            timeout: 10_000,
          },
          (error) => resume(Effect.succeed(error === null)),
        )
        child.stdin?.end()
      })
      if (!opened)
        return yield* new AuthSecretError({
          secret: secret?.ref ?? "",
          message: `the SSH key 'identity' in secret '${secret?.ref}' cannot be decrypted with its 'password'`,
        })
    } else {
      opts.push("-o", "BatchMode=yes")
    }
    env.GIT_SSH_COMMAND = ["ssh", ...opts].map(shq).join(" ")
    env.GIT_SSH_VARIANT = "ssh"
  } else {
    const scope = urlScope(url)
    const username = text(data, "username")
    const password = text(data, "password")
    const bearer = text(data, "bearerToken")
    if (bearer !== undefined && (username !== undefined || password !== undefined))
      return yield* new AuthSecretError({
        secret: secret?.ref ?? "",
        message: `secret '${secret?.ref}' has both 'bearerToken' and 'username'/'password'; use one`,
      })
    let header: string | undefined
    if (bearer !== undefined) header = `Authorization: Bearer ${bearer.trim()}`
    else if (username !== undefined || password !== undefined) {
      if (username === undefined || password === undefined)
        return yield* new AuthSecretError({
          secret: secret?.ref ?? "",
          message: `secret '${secret?.ref}' needs both 'username' and 'password' for basic auth`,
        })
      header = `Authorization: Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`
      secrets.push(Buffer.from(`${username}:${password}`).toString("base64"))
    }
    // Plain http is allowed (cluster-local git servers often speak it); the header stays scoped to the host.
    if (header !== undefined) {
      lines.push(`[http ${configValue(scope)}]`, `\textraHeader = ${configValue(header)}`)
    }
    const ca = data["ca.crt"] ?? data.caFile
    const cert = data["tls.crt"]
    const key = data["tls.key"]
    if ((cert === undefined) !== (key === undefined))
      return yield* new AuthSecretError({
        secret: secret?.ref ?? "",
        message: `secret '${secret?.ref}' needs both 'tls.crt' and 'tls.key' for a client certificate`,
      })
    const http: string[] = []
    if (ca !== undefined) {
      const p = join(dir, "ca.crt")
      yield* writePrivate(p, ca)
      http.push(`\tsslCAInfo = ${configValue(p)}`)
    }
    if (cert !== undefined && key !== undefined) {
      const c = join(dir, "tls.crt")
      const k = join(dir, "tls.key")
      yield* writePrivate(c, cert)
      yield* writePrivate(k, key)
      http.push(`\tsslCert = ${configValue(c)}`, `\tsslKey = ${configValue(k)}`)
    }
    if (http.length > 0) lines.push(`[http ${configValue(scope)}]`, ...http)
  }
  yield* writePrivate(gitconfig, lines.length > 0 ? `${lines.join("\n")}\n` : "")
  return { env, secrets, dir }
})
