/**
 * Real git servers for tests, all on 127.0.0.1 and stopped with their Scope (or `stop()`):
 * - smart HTTP: `git http-backend` (CGI) behind a small node:http(s) server with basic auth and/or bearer tokens;
 * - SSH: Debian's OpenSSH `sshd` with its own config, host key and authorized_keys in a temp dir, key auth only,
 *   every session forced through `git-shell` inside the repositories directory.
 * Plus helpers to make bare repositories, commits (from a files map), branches and tags with the git CLI.
 */
import { execFile, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http"
import { createServer as createHttpsServer } from "node:https"
import { connect } from "node:net"
import { tmpdir, userInfo } from "node:os"
import { dirname, join } from "node:path"
import { Cause, Data, Effect, Exit, Scope } from "effect"
import { freePort } from "./ports.ts"
import { type Daemon, daemon, waitReady } from "./process.ts"
import { issueCert, makeCa } from "./tls.ts"
import { toolPath } from "./tools.ts"

/** A git server or a git command used by a test helper failed. */
export class GitServerError extends Data.TaggedError("GitServerError")<{
  readonly operation: string
  readonly reason: string
}> {
  override get message(): string {
    return `git test server: ${this.operation}: ${this.reason}`
  }
}

// ---------------------------------------------------------------------------------------------- git CLI helpers

/** Environment for git commands in tests: no system/global config, no prompts, fixed identity. */
export const gitEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_TERMINAL_PROMPT: "0",
  GIT_ASKPASS: "/bin/false",
  SSH_ASKPASS: "/bin/false",
  GIT_AUTHOR_NAME: "Kustodian Test",
  GIT_AUTHOR_EMAIL: "test@kustodian.invalid",
  GIT_COMMITTER_NAME: "Kustodian Test",
  GIT_COMMITTER_EMAIL: "test@kustodian.invalid",
  ...extra,
})

/** Result of a git command that was allowed to fail. */
export interface GitResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the real git; resolves with its output whatever the exit code. */
export const runGit = (
  args: ReadonlyArray<string>,
  opts: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv; readonly timeoutMs?: number } = {},
): Promise<GitResult> =>
  new Promise((resolve) => {
    execFile(
      toolPath("git"),
      [...args],
      {
        cwd: opts.cwd,
        env: opts.env ?? gitEnv(),
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1
        resolve({ code, stdout, stderr })
      },
    )
  })

/** Runs git and fails with the command and stderr when it exits non-zero. */
export const git = async (
  args: ReadonlyArray<string>,
  opts: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<string> => {
  const r = await runGit(args, opts)
  if (r.code !== 0) throw new GitServerError({ operation: `git ${args.join(" ")}`, reason: r.stderr.trim() })
  return r.stdout.trim()
}

/** Creates `<reposDir>/<name>.git` (bare, default branch `main`) and returns its path. */
export const createBareRepo = async (reposDir: string, name: string): Promise<string> => {
  const path = join(reposDir, name.endsWith(".git") ? name : `${name}.git`)
  mkdirSync(dirname(path), { recursive: true })
  await git(["init", "--quiet", "--bare", "--initial-branch=main", path])
  return path
}

/**
 * How to sign a commit or tag with the real tools: git config (`gpg.format`, `user.signingkey`) and the
 * environment the signer needs (`GNUPGHOME`); made by `e2e/support/signing.ts`.
 */
export interface Signing {
  readonly config: Readonly<Record<string, string>>
  readonly env?: NodeJS.ProcessEnv
}

const signingArgs = (sign: Signing | undefined): string[] =>
  sign === undefined ? [] : Object.entries(sign.config).flatMap(([k, v]) => ["-c", `${k}=${v}`])

/** Files to write (string or bytes) or delete (`null`), by path relative to the repository root. */
export type FileChanges = Readonly<Record<string, string | Uint8Array | null>>

/**
 * Commits `files` on top of `branch` (default `main`; created from `from` or as an orphan when missing) of a bare
 * repository and returns the new commit id. Files not mentioned stay as they are unless `replaceAll` is set.
 */
export const commitFiles = async (
  bareRepo: string,
  files: FileChanges,
  opts: {
    readonly branch?: string
    readonly from?: string
    readonly message?: string
    readonly replaceAll?: boolean
    /** Sign the commit (`git commit -S`). */
    readonly sign?: Signing
  } = {},
): Promise<string> => {
  const branch = opts.branch ?? "main"
  const work = mkdtempSync(join(tmpdir(), "kustodian-git-work-"))
  try {
    await git(["init", "--quiet", `--initial-branch=${branch}`, work])
    await git(["remote", "add", "origin", bareRepo], { cwd: work })
    const exists =
      (await runGit(["--git-dir", bareRepo, "rev-parse", "--verify", "--quiet", `refs/heads/${branch}`]))
        .code === 0
    const base = exists ? `refs/heads/${branch}` : opts.from
    if (base !== undefined) {
      await git(["fetch", "--quiet", "origin", base], { cwd: work })
      await git(["checkout", "--quiet", "-B", branch, "FETCH_HEAD"], { cwd: work })
    }
    if (opts.replaceAll) await runGit(["rm", "-r", "--quiet", "--ignore-unmatch", "."], { cwd: work })
    for (const [path, content] of Object.entries(files)) {
      const target = join(work, path)
      if (content === null) rmSync(target, { force: true, recursive: true })
      else {
        mkdirSync(dirname(target), { recursive: true })
        writeFileSync(target, content)
      }
    }
    await git(["add", "--all"], { cwd: work })
    await git(
      [
        ...signingArgs(opts.sign),
        "commit",
        "--quiet",
        "--allow-empty",
        ...(opts.sign === undefined ? [] : ["-S"]),
        "-m",
        opts.message ?? "test commit",
      ],
      { cwd: work, env: gitEnv(opts.sign?.env) },
    )
    await git(["push", "--quiet", "origin", `HEAD:refs/heads/${branch}`], { cwd: work })
    return await git(["rev-parse", "HEAD"], { cwd: work })
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** Creates (or moves, with `force`) a branch pointing at `from` (a branch, tag or commit). */
export const createBranch = async (
  bareRepo: string,
  name: string,
  from: string,
  force = false,
): Promise<void> => {
  await git(["--git-dir", bareRepo, "branch", ...(force ? ["--force"] : []), name, from])
}

/** Creates a tag at `ref`: annotated when a message is given, lightweight otherwise. */
export const createTag = async (
  bareRepo: string,
  name: string,
  ref: string,
  opts: { readonly message?: string; readonly force?: boolean; readonly sign?: Signing } = {},
): Promise<void> => {
  const args = [...signingArgs(opts.sign), "--git-dir", bareRepo, "tag", ...(opts.force ? ["--force"] : [])]
  if (opts.sign !== undefined)
    await git([...args, "-s", "-m", opts.message ?? name, name, ref], { env: gitEnv(opts.sign.env) })
  else
    await git(
      opts.message === undefined ? [...args, name, ref] : [...args, "-a", "-m", opts.message, name, ref],
    )
}

/** The commit id a ref resolves to (tags are peeled). */
export const revParse = (bareRepo: string, ref: string): Promise<string> =>
  git(["--git-dir", bareRepo, "rev-parse", `${ref}^{commit}`])

// ---------------------------------------------------------------------------------------------- smart HTTP

/** Credentials the HTTP server accepts; with none configured it serves anonymously. */
export interface GitHttpAuth {
  readonly basic?: { readonly username: string; readonly password: string }
  readonly bearerToken?: string
}

export interface GitHttpServerOptions {
  /** Directory holding the bare repositories (default: a fresh temp dir removed on stop). */
  readonly reposDir?: string
  readonly auth?: GitHttpAuth
  /** Serve HTTPS with a certificate from a throwaway CA (its PEM and a file are on the server object). */
  readonly tls?: boolean
  /** Allow pushes (git-receive-pack); default true. */
  readonly allowPush?: boolean
}

/** One request the server saw, for assertions about what a client did. */
export interface GitHttpRequest {
  readonly method: string
  readonly path: string
  readonly status: number
  readonly user: string | undefined
}

export interface GitHttpServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`; repositories are at `<url>/<name>.git`. */
  readonly url: string
  readonly reposDir: string
  /** URL of a repository by name (with or without `.git`). */
  readonly repoUrl: (name: string) => string
  /** CA certificate (PEM) and file, when `tls` is on — pass the file as GIT_SSL_CAINFO. */
  readonly caPem: string | undefined
  readonly caFile: string | undefined
  readonly requests: ReadonlyArray<GitHttpRequest>
  readonly stop: () => Promise<void>
}

const authorize = (req: IncomingMessage, auth: GitHttpAuth | undefined): { ok: boolean; user?: string } => {
  if (auth === undefined || (auth.basic === undefined && auth.bearerToken === undefined)) return { ok: true }
  const header = req.headers.authorization ?? ""
  const space = header.indexOf(" ")
  const scheme = header.slice(0, space).toLowerCase()
  const value = header.slice(space + 1)
  if (scheme === "basic" && auth.basic !== undefined) {
    const decoded = Buffer.from(value, "base64").toString("utf8")
    const colon = decoded.indexOf(":")
    const user = decoded.slice(0, colon)
    if (colon > 0 && user === auth.basic.username && decoded.slice(colon + 1) === auth.basic.password)
      return { ok: true, user }
  }
  if (scheme === "bearer" && auth.bearerToken !== undefined && value === auth.bearerToken)
    return { ok: true, user: "bearer" }
  return { ok: false }
}

const serveCgi = (
  req: IncomingMessage,
  res: ServerResponse,
  reposDir: string,
  user: string | undefined,
  allowPush: boolean,
  record: (status: number) => void,
): void => {
  const url = new URL(req.url ?? "/", "http://localhost")
  const pushing =
    url.pathname.endsWith("/git-receive-pack") || url.searchParams.get("service") === "git-receive-pack"
  if (pushing && !allowPush) {
    record(403)
    res.writeHead(403).end("push disabled\n")
    return
  }
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_PROJECT_ROOT: reposDir,
    GIT_HTTP_EXPORT_ALL: "1",
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.slice(1),
    REQUEST_METHOD: req.method ?? "GET",
    CONTENT_TYPE: req.headers["content-type"] ?? "",
    REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
    // http-backend only enables receive-pack for authenticated users unless configured otherwise.
    REMOTE_USER: user ?? (allowPush ? "anonymous" : ""),
    GIT_PROTOCOL: (req.headers["git-protocol"] as string | undefined) ?? "",
    HTTP_CONTENT_ENCODING: (req.headers["content-encoding"] as string | undefined) ?? "",
  }
  const cgi = spawn(toolPath("git"), ["http-backend"], { env, stdio: ["pipe", "pipe", "pipe"] })
  req.pipe(cgi.stdin)
  let head = Buffer.alloc(0)
  let headersDone = false
  cgi.stdout.on("data", (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk)
      return
    }
    head = Buffer.concat([head, chunk])
    const sep = head.indexOf("\r\n\r\n")
    const altSep = head.indexOf("\n\n")
    const end = sep >= 0 ? sep : altSep
    if (end < 0) return
    const bodyStart = end + (sep >= 0 ? 4 : 2)
    let status = 200
    const headers: Record<string, string> = {}
    for (const line of head.subarray(0, end).toString("latin1").split(/\r?\n/)) {
      const colon = line.indexOf(":")
      if (colon < 0) continue
      const name = line.slice(0, colon).trim()
      const value = line.slice(colon + 1).trim()
      if (name.toLowerCase() === "status") status = Number.parseInt(value, 10) || 200
      else headers[name] = value
    }
    headersDone = true
    record(status)
    res.writeHead(status, headers)
    res.write(head.subarray(bodyStart))
  })
  cgi.stderr.resume()
  cgi.on("close", () => {
    if (!headersDone) {
      record(500)
      res.writeHead(500).end("git http-backend failed\n")
    } else res.end()
  })
  req.on("error", () => cgi.kill("SIGKILL"))
  res.on("close", () => {
    if (cgi.exitCode === null) cgi.kill("SIGKILL")
  })
}

/** Starts a git smart-HTTP server; call `stop()` (or use {@link gitHttpServer} in a Scope). */
export const startGitHttpServer = async (opts: GitHttpServerOptions = {}): Promise<GitHttpServer> => {
  const ownDir = opts.reposDir === undefined ? mkdtempSync(join(tmpdir(), "kustodian-git-http-")) : undefined
  const reposDir = opts.reposDir ?? ownDir!
  const requests: Array<GitHttpRequest> = []
  let caPem: string | undefined
  let caFile: string | undefined
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname
    const { ok, user } = authorize(req, opts.auth)
    const record = (status: number) => requests.push({ method: req.method ?? "GET", path, status, user })
    if (!ok) {
      record(401)
      res.writeHead(401, { "WWW-Authenticate": 'Basic realm="kustodian-test-git"' }).end("unauthorized\n")
      req.resume()
      return
    }
    serveCgi(req, res, reposDir, user, opts.allowPush ?? true, record)
  }
  let server: Server
  if (opts.tls) {
    const ca = makeCa("kustodian-test-git-ca")
    const leaf = issueCert(ca, {
      commonName: "git",
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
      usage: "server",
    })
    caPem = ca.cert
    const certDir = mkdtempSync(join(tmpdir(), "kustodian-git-ca-"))
    caFile = join(certDir, "ca.crt")
    writeFileSync(caFile, ca.cert)
    server = createHttpsServer({ cert: leaf.cert, key: leaf.key }, handler)
  } else server = createHttpServer(handler)
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve())
  })
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  const url = `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`
  let stopped: Promise<void> | undefined
  return {
    url,
    reposDir,
    repoUrl: (name) => `${url}/${name.endsWith(".git") ? name : `${name}.git`}`,
    caPem,
    caFile,
    requests,
    stop: () => {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }).then(() => {
        if (ownDir) rmSync(ownDir, { recursive: true, force: true })
        if (caFile) rmSync(dirname(caFile), { recursive: true, force: true })
      })
      return stopped
    },
  }
}

/** {@link startGitHttpServer} as a scoped Effect: stopped when the scope closes. */
export const gitHttpServer = (opts: GitHttpServerOptions = {}) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => startGitHttpServer(opts),
      catch: (e) => new GitServerError({ operation: "start HTTP server", reason: String(e) }),
    }),
    (s) => Effect.promise(s.stop),
  )

// ---------------------------------------------------------------------------------------------- SSH

export interface GitSshServerOptions {
  /** Directory holding the bare repositories (default: a fresh temp dir removed on stop). */
  readonly reposDir?: string
  readonly startTimeoutMs?: number
}

export interface GitSshServer {
  readonly host: "127.0.0.1"
  readonly port: number
  /** The account clients log in as (sshd can only authenticate existing local users: the current one). */
  readonly user: string
  readonly reposDir: string
  /** `ssh://<user>@127.0.0.1:<port>/<name>.git`; paths are relative to the repositories directory. */
  readonly repoUrl: (name: string) => string
  /** The server's host public key line (`ssh-ed25519 AAAA…`). */
  readonly hostPublicKey: string
  /** A known_hosts file (`[127.0.0.1]:<port> ssh-ed25519 …`) and its content. */
  readonly knownHostsFile: string
  readonly knownHosts: string
  /** A client key pair authorised on the server (OpenSSH private key PEM and public line). */
  readonly clientKeyFile: string
  readonly clientPrivateKey: string
  readonly clientPublicKey: string
  /** GIT_SSH_COMMAND for the authorised client with strict host key checking against `knownHostsFile`. */
  readonly sshCommand: (opts?: { readonly keyFile?: string; readonly knownHostsFile?: string }) => string
  /** Authorises another public key line. */
  readonly authorize: (publicKeyLine: string) => void
  readonly pid: number
}

/** A {@link GitSshServer} started outside a Scope: `stop()` ends sshd and removes its files (idempotent). */
export interface RunningGitSshServer extends GitSshServer {
  readonly stop: () => Promise<void>
}

/** A fresh ed25519 key pair made by ssh-keygen, in `dir` (private file mode 0600). */
export const makeSshKeyPair = async (
  dir: string,
  name = "id_ed25519",
): Promise<{ readonly privateKeyFile: string; readonly privateKey: string; readonly publicKey: string }> => {
  const file = join(dir, name)
  await new Promise<void>((resolve, reject) =>
    execFile("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "kustodian-test", "-f", file], (err) =>
      err ? reject(new GitServerError({ operation: "ssh-keygen", reason: err.message })) : resolve(),
    ),
  )
  return {
    privateKeyFile: file,
    privateKey: readFileSync(file, "utf8"),
    publicKey: readFileSync(`${file}.pub`, "utf8").trim(),
  }
}

// Forced for every session: only git-upload-pack/receive-pack/upload-archive, paths relative to the repositories
// directory, no `..`, no quotes; then git-shell (which itself allows nothing else).
const forceCommandScript = (reposDir: string, gitShell: string): string => `#!/bin/sh
cmd="$SSH_ORIGINAL_COMMAND"
case "$cmd" in
  "git-upload-pack '"*"'"|"git-receive-pack '"*"'"|"git-upload-archive '"*"'") ;;
  *) echo "kustodian test sshd: only git fetch/push is allowed" >&2; exit 1 ;;
esac
verb="\${cmd%% *}"
path="\${cmd#* \\'}"
path="\${path%\\'}"
path="\${path#/}"
case "$path" in
  ""|*..*|*"'"*) echo "kustodian test sshd: bad repository path" >&2; exit 1 ;;
esac
cd '${reposDir}' || exit 1
exec '${gitShell}' -c "$verb '$path'"
`

const bannerSeen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1_000, () => done(false))
    socket.once("data", (d) => done(d.toString("latin1").startsWith("SSH-")))
    socket.once("error", () => done(false))
  })

const startSshd = Effect.fn("GitSshServer.start")(function* (opts: GitSshServerOptions) {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "kustodian-sshd-"))),
    (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true })),
  )
  const reposDir = opts.reposDir ?? join(dir, "repos")
  mkdirSync(reposDir, { recursive: true })
  const fail = (operation: string) => (e: unknown) => new GitServerError({ operation, reason: String(e) })
  const host = yield* Effect.tryPromise({
    try: () => makeSshKeyPair(dir, "ssh_host_ed25519_key"),
    catch: fail("host key"),
  })
  const client = yield* Effect.tryPromise({
    try: () => makeSshKeyPair(dir, "client_ed25519"),
    catch: fail("client key"),
  })
  const authorizedKeys = join(dir, "authorized_keys")
  writeFileSync(authorizedKeys, `${client.publicKey}\n`, { mode: 0o600 })
  const force = join(dir, "git-only.sh")
  writeFileSync(force, forceCommandScript(reposDir, "/usr/bin/git-shell"))
  chmodSync(force, 0o755)
  // The privilege separation directory Debian's sshd insists on when started as root.
  if (process.getuid?.() === 0 && !existsSync("/run/sshd"))
    mkdirSync("/run/sshd", { recursive: true, mode: 0o755 })
  const user = userInfo().username
  const port = yield* Effect.promise(freePort)
  const config = join(dir, "sshd_config")
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${host.privateKeyFile}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      `AllowUsers ${user}`,
      "AuthenticationMethods publickey",
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "UsePAM no",
      // Files live in a temp dir we own; StrictModes would reject the world-traversable /tmp parent.
      "StrictModes no",
      `ForceCommand ${force}`,
      "PermitTTY no",
      "X11Forwarding no",
      "AllowTcpForwarding no",
      "AllowAgentForwarding no",
      "PermitTunnel no",
      "PermitUserEnvironment no",
      "PermitUserRC no",
      "PrintMotd no",
      "LogLevel VERBOSE",
      "",
    ].join("\n"),
  )
  const sshd: Daemon = yield* daemon({
    name: "sshd",
    command: toolPath("sshd"),
    args: ["-D", "-e", "-f", config],
    logFile: join(dir, "sshd.log"),
  })
  yield* waitReady(sshd, () => bannerSeen(port), opts.startTimeoutMs ?? 15_000, "accepting connections")
  const knownHosts = `[127.0.0.1]:${port} ${host.publicKey.split(" ").slice(0, 2).join(" ")}\n`
  const knownHostsFile = join(dir, "known_hosts")
  writeFileSync(knownHostsFile, knownHosts)
  const sshCommand = (o: { readonly keyFile?: string; readonly knownHostsFile?: string } = {}) =>
    [
      "ssh",
      `-i ${o.keyFile ?? client.privateKeyFile}`,
      "-o IdentitiesOnly=yes",
      `-o UserKnownHostsFile=${o.knownHostsFile ?? knownHostsFile}`,
      "-o GlobalKnownHostsFile=/dev/null",
      "-o StrictHostKeyChecking=yes",
      "-o BatchMode=yes",
      "-o ConnectTimeout=10",
    ].join(" ")
  const server: GitSshServer = {
    host: "127.0.0.1",
    port,
    user,
    reposDir,
    repoUrl: (name) => `ssh://${user}@127.0.0.1:${port}/${name.endsWith(".git") ? name : `${name}.git`}`,
    hostPublicKey: host.publicKey.split(" ").slice(0, 2).join(" "),
    knownHostsFile,
    knownHosts,
    clientKeyFile: client.privateKeyFile,
    clientPrivateKey: client.privateKey,
    clientPublicKey: client.publicKey,
    sshCommand,
    authorize: (line) => writeFileSync(authorizedKeys, `${line.trim()}\n`, { flag: "a" }),
    pid: sshd.pid,
  }
  return server
})

/** An sshd serving git over SSH, stopped (with its temp dir) when the scope closes. */
export const gitSshServer = (opts: GitSshServerOptions = {}) => startSshd(opts)

/** {@link gitSshServer} for plain async tests: call `stop()` when done. */
export const startGitSshServer = async (opts: GitSshServerOptions = {}): Promise<RunningGitSshServer> => {
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(startSshd(opts).pipe(Scope.provide(scope)))
  if (Exit.isFailure(exit)) {
    await Effect.runPromise(Scope.close(scope, exit))
    throw Cause.squash(exit.cause)
  }
  let stopped: Promise<void> | undefined
  return {
    ...exit.value,
    stop: () => {
      stopped ??= Effect.runPromise(Scope.close(scope, Exit.void))
      return stopped
    },
  }
}

/** A random password or token for tests. */
export const randomSecret = (): string => randomBytes(16).toString("hex")
