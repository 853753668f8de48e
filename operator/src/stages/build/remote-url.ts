/**
 * Which strings of a kustomization kustomize treats as network locations, and whether one may be used.
 *
 * kustomize (v5.8) reaches the network two ways, and we mirror both exactly, since a string we misread as a
 * local path would be fetched unchecked:
 * - a file field (`patches[].path`, generator `files`, `crds`, …) is fetched over HTTP when Go's `url.Parse`
 *   gives it the scheme `http` or `https` (`loader.IsRemoteFile`); any other string is a local path;
 * - a `resources` or `components` entry is cloned with git when `git.NewRepoSpecFromURL` accepts it
 *   ({@link parseGitUrl} is a port of it): `https://`, `http://`, `ssh://`, `file://`, the scp form
 *   `user@host:org/repo`, the `github.com/org/repo` shorthand, each optionally behind `git::`.
 *
 * The policy ({@link checkRemote}): everything refused under `--no-remote-bases`; otherwise only `https` and
 * `ssh` (and the scp form, which is ssh), never `http` or `file`, to a host that is a plain DNS name or IP
 * literal and that neither is nor resolves to a refused address (`ip-ranges.ts`).
 *
 * TOCTOU: the name is resolved here, and again by kustomize or git when they connect; a DNS answer that
 * changes in between (rebinding), or an HTTP redirect followed by kustomize's client or git, is not seen by
 * this check. The build's sandbox (`sandbox.ts`, Landlock: only TCP 443/22/53 and only the build's private
 * directories) is the second fence; this one refuses early and explains.
 *
 * @module
 */
import * as dns from "node:dns"
import * as net from "node:net"
import * as path from "node:path"
import type { AddressPolicy } from "./ip-ranges.ts"

/** `loader.IsRemoteFile`: a scheme (`[A-Za-z][A-Za-z0-9+.-]*:`) that is http or https, case-insensitively. */
export const isRemoteFile = (s: string) => /^https?:/i.test(s)

/** What `git.NewRepoSpecFromURL` makes of a string it accepts. */
export interface GitUrl {
  /** `https://`, `http://`, `ssh://`, `file://`, or `""` for the scp form (ssh). */
  readonly scheme: string
  /** The authority as kustomize cut it: `host`, `host:port`, `user@host`…, without its trailing `/` or `:`. */
  readonly authority: string
  /** `?ref=` / `?version=` (ref wins), passed to `git fetch` as an argument. */
  readonly ref: string
  /** What kustomize hands `git` to clone (`RepoSpec.CloneSpec()`). */
  readonly cloneSpec: string
}

const trimPrefixIgnoreCase = (s: string, prefix: string): [string, boolean] =>
  s.slice(0, prefix.length).toLowerCase() === prefix ? [s.slice(prefix.length), true] : [s, false]

/** The query values kustomize reads (`url.ParseQuery`); undefined when that would fail (defaults apply). */
const queryRef = (query: string): string => {
  try {
    const values = new URLSearchParams(query)
    return values.get("ref") || values.get("version") || ""
  } catch {
    return ""
  }
}

/** kustomize's `parsePathParts`: the repository path cut from `rest`, undefined when it errs. */
const repoPathOf = (rest: string, allSegments: boolean): string | undefined => {
  let repo: string
  let kustRoot: string
  const gitRoot = rest.indexOf("_git/")
  const doubleSlash = rest.indexOf("//")
  const gitSuffix = rest.indexOf(".git")
  if (gitRoot >= 0) {
    const sub = rest.slice(gitRoot + 5).split("/")
    repo = rest.slice(0, gitRoot + 5) + sub[0]
    kustRoot = sub.slice(1).join("/")
  } else if (doubleSlash >= 0) {
    repo = rest.slice(0, doubleSlash)
    kustRoot = rest.slice(doubleSlash + 2)
  } else if (gitSuffix >= 0) {
    repo = rest.slice(0, gitSuffix + 4)
    kustRoot = rest.slice(gitSuffix + 4)
  } else if (allSegments) {
    repo = rest
    kustRoot = ""
  } else {
    const segments = rest.split("/")
    if (segments.length < 2) return undefined
    repo = segments.slice(0, 2).join("/")
    kustRoot = segments.slice(2).join("/")
  }
  if (repo === "") return undefined
  // Go: filepath.Clean(strings.TrimPrefix(kustRoot, "/")): one slash only.
  const cleaned = path.posix.normalize(kustRoot.replace(/^\//, "") || ".")
  return cleaned.split("/")[0] === ".." ? undefined : repo
}

/** A port of kustomize's `git.NewRepoSpecFromURL` (api/internal/git/repospec.go): undefined when it errs. */
export const parseGitUrl = (raw: string): GitUrl | undefined => {
  if (raw.startsWith("/")) return undefined
  const q = raw.indexOf("?")
  let n = q >= 0 ? raw.slice(0, q) : raw
  const ref = q >= 0 ? queryRef(raw.slice(q + 1)) : ""
  ;[n] = trimPrefixIgnoreCase(n, "git::")
  let scheme = ""
  for (const prefix of ["ssh://", "https://", "http://", "file://"]) {
    const [rest, found] = trimPrefixIgnoreCase(n, prefix)
    if (found) {
      scheme = prefix
      n = rest
      break
    }
  }
  const user = /^([a-zA-Z][a-zA-Z0-9-]*)@/.exec(n)
  let username = user ? `${user[1]}@` : ""
  n = n.slice(username.length)
  const lower = n.toLowerCase()
  const github = lower.startsWith("github.com/") || lower.startsWith("github.com:")
  const scp = scheme === "" && (username !== "" || github)
  if (scheme === "" && !scp) return undefined
  let host: string
  let rest: string
  if (scheme === "file://") {
    host = ""
    rest = username + n
    username = ""
  } else {
    host = n
    rest = ""
    let sep = n.indexOf("/")
    if (scp) {
      const colon = n.indexOf(":")
      if (sep === -1 || (colon > 0 && colon < sep)) sep = colon
    }
    if (sep >= 0) {
      host = n.slice(0, sep + 1)
      rest = n.slice(sep + 1)
    }
    if (github) {
      if (scheme.startsWith("ssh://") || username !== "") {
        scheme = ""
        host = "github.com:"
      } else {
        scheme = "https://"
        username = ""
        host = "github.com/"
      }
    }
    if (host === "") return undefined
  }
  const repo = repoPathOf(rest, scheme === "file://")
  if (repo === undefined) return undefined
  // The scp form needs its ':' (git reads `user@host/path` as a local path); the authority keeps the cut.
  const authority = username + host
  return { scheme, authority, ref, cloneSpec: scheme + authority + repo }
}

/** A DNS name of letters, digits and hyphens, or an IP literal (IPv6 in brackets), with an optional port. */
const authorityPattern =
  /^(?:(?<user>[a-zA-Z][a-zA-Z0-9-]*)@)?(?<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.?)(?::(?<port>\d{1,5}))?$/

/** The host of an authority, unbracketed; a reason string when the authority is of a form we refuse. */
const hostOf = (authority: string): { host: string } | { reason: string } => {
  const m = authorityPattern.exec(authority)
  const host = m?.groups?.host
  if (host === undefined) return { reason: "its host is not a plain DNS name or IP address" }
  const port = m?.groups?.port
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
    return { reason: "its port is out of range" }
  const bare = host.startsWith("[") ? host.slice(1, -1) : host.replace(/\.$/, "")
  if (host.startsWith("[") && net.isIP(bare) !== 6) return { reason: "its host is not an IPv6 address" }
  // A name whose last label is numeric is an IPv4 address to URL parsers and to getaddrinfo (`2130706433`,
  // `0x7f.1`); only the dotted-decimal form is accepted, so the check and the connection read it alike.
  const last = bare.split(".").at(-1) ?? ""
  if (!host.startsWith("[") && /^(?:\d+|0x[0-9a-f]*)$/i.test(last) && net.isIP(bare) !== 4)
    return { reason: "its host is a numeric address not in dotted-decimal form" }
  return { host: bare }
}

/** An https URL as a file field may name it: `https://host[:port]/…`, nothing ambiguous. */
const httpsUrlPattern = /^https:\/\/(?<authority>[^/?#\\\s@]+)(?:[/?#][^\s\\]*)?$/i

/** How a string is used where a URL was found; decides which forms kustomize would fetch. */
export type RemoteUse = "file" | "git"

/** Resolves a host name with the system resolver, as kustomize and git will. */
const resolve = (host: string) =>
  new Promise<ReadonlyArray<string>>((ok, fail) =>
    dns.lookup(host, { all: true, verbatim: true }, (err, addresses) =>
      err ? fail(err) : ok(addresses.map((a) => a.address)),
    ),
  )

/** Why `raw` may not be used, or undefined when it may; `retryable` when only DNS failed. */
export type RemoteVerdict = undefined | { readonly reason: string; readonly retryable?: boolean }

export interface RemotePolicy {
  /** `--no-remote-bases`: every URL refused. */
  readonly noRemoteBases: boolean
  readonly addresses: AddressPolicy
  /**
   * Verdicts per host for one walk, so a graph naming one host a thousand times resolves it once; at most
   * {@link maxHosts} distinct hosts are resolved per walk.
   */
  readonly hosts?: Map<string, Promise<RemoteVerdict>>
}

/** Distinct host names one walk may resolve (a tenant listing thousands would make us a DNS load generator). */
export const maxHosts = 64

/** Checks a host (name or IP literal): refused when it is, or resolves to, a refused address. */
const checkHost = (host: string, policy: RemotePolicy): Promise<RemoteVerdict> => {
  const cache = policy.hosts
  if (cache === undefined) return verdictOf(host, policy)
  const key = host.toLowerCase()
  const known = cache.get(key)
  if (known !== undefined) return known
  if (cache.size >= maxHosts)
    return Promise.resolve({ reason: `the graph names more than ${maxHosts} distinct remote hosts` })
  const verdict = verdictOf(key, policy)
  cache.set(key, verdict)
  return verdict
}

const verdictOf = async (host: string, policy: RemotePolicy): Promise<RemoteVerdict> => {
  if (net.isIP(host) !== 0) {
    const range = policy.addresses.refused(host)
    return range === undefined ? undefined : { reason: `its host is a ${range} address` }
  }
  let addresses: ReadonlyArray<string>
  try {
    addresses = await resolve(host)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error"
    return { reason: `its host could not be resolved (${code})`, retryable: code !== "ENOTFOUND" }
  }
  for (const a of addresses) {
    const range = policy.addresses.refused(a)
    if (range !== undefined) return { reason: `its host resolves to a ${range} address (${a})` }
  }
  return undefined
}

/**
 * The verdict on `raw`, found where kustomize would fetch it as `use`: a `file` (HTTP GET of an http(s) URL)
 * or a `git` clone (a string {@link parseGitUrl} accepts; an http(s) resource is both).
 */
export const checkRemote = async (
  raw: string,
  use: RemoteUse,
  policy: RemotePolicy,
): Promise<RemoteVerdict> => {
  if (policy.noRemoteBases) return { reason: "remote URLs are disabled (--no-remote-bases)" }
  const git = use === "git" ? parseGitUrl(raw) : undefined
  if (git !== undefined) {
    // `git fetch origin <ref>`: a ref starting with '-' would be read as an option.
    if (git.ref.startsWith("-") || /[\s\\]/.test(git.ref)) return { reason: "its ref is not a git ref name" }
  }
  if (use === "file" || isRemoteFile(raw)) {
    if (/^http:/i.test(raw)) return { reason: "plain http is never allowed" }
    const m = httpsUrlPattern.exec(raw)
    const authority = m?.groups?.authority
    if (authority === undefined) return { reason: "it is not a plain https://host/path URL" }
    const host = hostOf(authority)
    if ("reason" in host) return host
    return checkHost(host.host, policy)
  }
  if (git === undefined) return { reason: "it is not a URL kustomize accepts" }
  if (git.scheme === "file://") return { reason: "git URLs to local repositories (file://) are refused" }
  if (git.scheme === "http://") return { reason: "plain http is never allowed" }
  if (git.scheme === "" && !git.authority.endsWith(":"))
    return { reason: "an scp-style git URL needs 'host:' before the path" }
  const host = hostOf(git.authority.replace(/[/:]$/, ""))
  if ("reason" in host) return host
  return checkHost(host.host, policy)
}

/**
 * A wider net than {@link parseGitUrl} for `--no-remote-bases`: anything shaped like a URL is refused there
 * even if the port above reads it as a local path, so a divergence from kustomize cannot open the network.
 */
export const looksLikeUrl = (s: string) =>
  /^[a-z][a-z0-9+.-]*:\/\//i.test(s) ||
  /^git::/i.test(s) ||
  /^[a-zA-Z][a-zA-Z0-9-]*@[^/]*:/.test(s) ||
  /^github\.com[/:]/i.test(s) ||
  isRemoteFile(s)
