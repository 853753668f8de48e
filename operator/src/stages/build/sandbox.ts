/**
 * The kernel's fence around kustomize. The path resolver (`kustomization-graph.ts`) refuses every hostile
 * reference it knows with a clear error; this is the second fence, for what it does not know: kustomize runs
 * under `kustodian-sandbox` (`sandbox/main.go`), which puts it in a Landlock domain before it starts. The kernel
 * then lets it read only its private build view, write only its private home, execute only its own binary (and
 * git/ssh when remote bases are allowed), and open TCP connections only to the ports remote bases need (none
 * under `--no-remote-bases`). The ServiceAccount token, other tenants' build directories, the artifact storage and
 * every other file of the pod stay out of reach, whatever a repository names.
 *
 * Landlock needs no privilege, so this works in the hardened pod (non-root, no capabilities, read-only root).
 * Where the kernel has no Landlock (before 5.13, or not in the LSM list) `auto` runs kustomize with the resolver
 * alone and says so once at start-up and in `kustodian_build_sandbox_abi`; `required` refuses to start.
 *
 * @module
 */
import { execFile } from "node:child_process"
import { accessSync, constants, existsSync, realpathSync } from "node:fs"
import * as path from "node:path"
import { Data, Effect } from "effect"

/** `--kustomize-sandbox`: `required` refuses to run without Landlock, `auto` uses it when the kernel has it. */
export type SandboxMode = "auto" | "required" | "off"

/** The sandbox as found at start-up: where its binary is and which Landlock ABI the kernel offers. */
export interface Sandbox {
  readonly binary: string
  /** The kernel's Landlock ABI version (network restriction needs 4). */
  readonly abi: number
}

/** `--kustomize-sandbox=required` on a machine without a working sandbox. */
export class SandboxUnavailable extends Data.TaggedError("SandboxUnavailable")<{ readonly reason: string }> {
  override get message() {
    return `the kustomize sandbox is required (--kustomize-sandbox=required) but unavailable: ${this.reason}`
  }
}

const executable = (p: string) => {
  try {
    accessSync(p, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** `name` resolved through PATH to an absolute, symlink-free path (Landlock rules name real inodes). */
export const resolveExecutable = (name: string): string | undefined => {
  const candidates = path.isAbsolute(name)
    ? [name]
    : (process.env.PATH ?? "").split(path.delimiter).map((d) => path.join(d, name))
  const found = candidates.find(executable)
  return found === undefined ? undefined : realpathSync(found)
}

/** The sandbox binary: `KUSTODIAN_SANDBOX` when set, else `kustodian-sandbox` from PATH. */
export const sandboxBinary = () => resolveExecutable(process.env.KUSTODIAN_SANDBOX || "kustodian-sandbox")

/** Asks the sandbox binary which Landlock ABI the kernel offers (0: none). */
const probe = (binary: string) =>
  Effect.callback<number, SandboxUnavailable>((resume) => {
    execFile(binary, ["probe"], { timeout: 10_000 }, (err, out) => {
      if (err) resume(Effect.fail(new SandboxUnavailable({ reason: `'${binary} probe' failed` })))
      else resume(Effect.succeed(Number.parseInt(out.trim(), 10) || 0))
    })
  })

/**
 * Finds the sandbox for `mode`: `undefined` means kustomize runs unsandboxed (mode `off`, or `auto` without
 * Landlock, which is logged by the caller).
 */
export const findSandbox = Effect.fn("findSandbox")(function* (mode: SandboxMode, path?: string) {
  if (mode === "off") return undefined
  const binary = path === undefined ? sandboxBinary() : resolveExecutable(path)
  const unavailable = (reason: string) =>
    mode === "required" ? Effect.fail(new SandboxUnavailable({ reason })) : Effect.succeed(undefined)
  if (binary === undefined)
    return yield* unavailable("kustodian-sandbox not found (set KUSTODIAN_SANDBOX or put it on PATH)")
  const abi = yield* probe(binary).pipe(
    Effect.catchTag("SandboxUnavailable", (e) => (mode === "required" ? Effect.fail(e) : Effect.succeed(0))),
  )
  if (abi < 1)
    return yield* unavailable("the kernel offers no Landlock (needs Linux ≥ 5.13 with landlock in lsm=)")
  return { binary, abi } satisfies Sandbox
})

/** What one kustomize run may touch. */
export interface Confinement {
  /** The kustomize binary (absolute, resolved). */
  readonly program: string
  /** The private build view: read-only. */
  readonly view: string
  /** The private home/temp directory: read-write (remote base clones land here). */
  readonly home: string
  /** Remote bases allowed: git, ssh, the CA bundle and DNS become reachable, and TCP 443/22/53. */
  readonly remote: boolean
  /** Further TCP ports remote bases may use (those of `--trusted-remote-prefix` URLs). */
  readonly ports?: ReadonlyArray<number>
}

/** The TCP port a URL prefix connects to (`http` 80, `https` 443 unless it names one), if it parses. */
export const portOf = (prefix: string): number | undefined => {
  try {
    const u = new URL(prefix)
    if (u.port !== "") return Number(u.port)
    return u.protocol === "http:"
      ? 80
      : u.protocol === "https:"
        ? 443
        : u.protocol === "ssh:"
          ? 22
          : undefined
  } catch {
    return undefined
  }
}

// What git and ssh need to fetch a remote base: binaries and libraries (executable), and the few configuration
// files of /etc they read. No secret of the pod lives in these; the ServiceAccount token is under /var/run.
const remoteExecutables = ["/usr", "/bin", "/lib", "/lib64", "/sbin"]
const remoteConfig = [
  "/etc/ssl",
  "/etc/ca-certificates",
  "/etc/pki",
  "/etc/resolv.conf",
  "/etc/hosts",
  "/etc/nsswitch.conf",
  "/etc/gai.conf",
  "/etc/host.conf",
  "/etc/passwd",
  "/etc/group",
  "/etc/gitconfig",
  "/etc/ssh",
  "/etc/localtime",
  // git reads random bytes for its temporary files from here.
  "/dev/urandom",
]
const remotePorts = [443, 22, 53]

/** The sandbox's argv around `args` (kustomize's own arguments). */
export const sandboxed = (c: Confinement, args: ReadonlyArray<string>): string[] => {
  const argv = ["run", "--rx", c.program, "--ro", c.view, "--rw", c.home, "--rw", "/dev/null"]
  if (c.remote) {
    for (const p of remoteExecutables) if (existsSync(p)) argv.push("--rx", realpathSync(p))
    for (const p of remoteConfig) if (existsSync(p)) argv.push("--ro", realpathSync(p))
    for (const port of new Set([...remotePorts, ...(c.ports ?? [])])) argv.push("--connect", String(port))
  }
  argv.push("--", c.program, ...args)
  return argv
}
