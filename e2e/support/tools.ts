/**
 * Where the real tools the tests talk to live. Built tools (sops, kustomize, kube-apiserver, kubectl, etcd, Flux's
 * source-controller and kustomize-controller, the flux CLI) come from `scripts/tools.sh`, cached per version in
 * `${XDG_CACHE_HOME:-$HOME/.cache}/kustodian/tools/<name>-<version>/`;
 * the Debian ones (age, age-keygen, gpg, git, sshd) from PATH. Test code only — the operator finds its tools
 * through PATH or its own env overrides, never through e2e/.
 */
import { createHash } from "node:crypto"
import { accessSync, constants, readdirSync, readFileSync } from "node:fs"
import { homedir } from "node:os"
import { delimiter, dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Data } from "effect"

/** Every tool a test may ask for. */
export type ToolName =
  | "sops"
  | "kustomize"
  | "kube-apiserver"
  | "etcd"
  | "kubectl"
  | "age"
  | "age-keygen"
  | "gpg"
  | "git"
  | "sshd"
  | "kustodian-sandbox"
  | "source-controller"
  | "kustomize-controller"
  | "flux"
  | "notification-controller"
  | "moto-server"
  | "kube-controller-manager"
  | "kube-scheduler"
  | "kwok"
  | "vault"
  | "node22"

/** A tool is not installed or not built yet; the message says how to get it. */
export class ToolMissingError extends Data.TaggedError("ToolMissingError")<{
  readonly tool: ToolName
  readonly looked: ReadonlyArray<string>
}> {
  override get message(): string {
    return (
      `${this.tool} not found (looked in ${this.looked.join(", ")}). ` +
      `Run \`bash scripts/tools.sh${optionalBuild[this.tool] === undefined ? "" : ` ${optionalBuild[this.tool]}`}\` to build and install the test tools ` +
      `(or point ${overrideVar(this.tool)} at a binary).`
    )
  }
}

/** The repository root (this file lives in e2e/support/). */
export const repoRoot: string = resolve(dirname(fileURLToPath(import.meta.url)), "../..")

/** The pinned versions from scripts/tools/versions.env, the one place they are written. */
export const toolVersions = (): Readonly<Record<string, string>> => {
  const text = readFileSync(join(repoRoot, "scripts/tools/versions.env"), "utf8")
  const out: Record<string, string> = {}
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Z0-9_]+)=(\S+)\s*$/.exec(line)
    if (m) out[m[1]!] = m[2]!
  }
  return out
}

/** The cache directory scripts/tools.sh builds into. */
export const toolsCacheDir = (): string =>
  join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "kustodian", "tools")

const built: Partial<Record<ToolName, { dir: string; version: string }>> = {
  sops: { dir: "sops", version: "SOPS_VERSION" },
  kustomize: { dir: "kustomize", version: "KUSTOMIZE_VERSION" },
  "moto-server": { dir: "moto", version: "MOTO_VERSION" },
  vault: { dir: "vault", version: "VAULT_VERSION" },
  // Node 22 from npm: the oldest Node the published package supports (scripts/package.test.ts).
  node22: { dir: "node22", version: "NODE22_VERSION" },
  etcd: { dir: "etcd", version: "ETCD_VERSION" },
  "kube-apiserver": { dir: "kubernetes", version: "KUBERNETES_VERSION" },
  kubectl: { dir: "kubernetes", version: "KUBERNETES_VERSION" },
  // The test cluster's workloads: controllers, scheduler and kwok's simulated nodes.
  "kube-controller-manager": { dir: "kube-workloads", version: "KUBERNETES_VERSION" },
  "kube-scheduler": { dir: "kube-workloads", version: "KUBERNETES_VERSION" },
  kwok: { dir: "kwok", version: "KWOK_VERSION" },
  // Flux's own controllers (peers of e2e/flux-cli.e2e.test.ts and bench:reconcile) and the flux CLI.
  "source-controller": { dir: "flux-controllers", version: "FLUX_CONTROLLERS_VERSION" },
  "kustomize-controller": { dir: "flux-controllers", version: "FLUX_CONTROLLERS_VERSION" },
  flux: { dir: "flux-cli", version: "FLUX_CLI_VERSION" },
  "notification-controller": { dir: "notification-controller", version: "NOTIFICATION_CONTROLLER_VERSION" },
}

/** The scripts/tools.sh argument that builds just this tool (the default run builds them all). */
const optionalBuild: Partial<Record<ToolName, string>> = {
  "moto-server": "moto",
  "kube-controller-manager": "workloads",
  "kube-scheduler": "workloads",
  kwok: "workloads",
  vault: "vault",
  node22: "node22",
  "source-controller": "flux-controllers",
  "kustomize-controller": "flux-controllers",
  flux: "flux-cli",
  "notification-controller": "notification-controller",
}

/**
 * The cache key of the project's own sandbox binary (`sandbox/`): the first 12 hex digits of the sha256 of
 * go.mod, go.sum and the .go files in name order, exactly as scripts/tools.sh computes it.
 */
export const sandboxSourceHash = (): string => {
  const dir = join(repoRoot, "sandbox")
  const goFiles = readdirSync(dir)
    .filter((f) => f.endsWith(".go"))
    .sort()
  const h = createHash("sha256")
  for (const f of ["go.mod", "go.sum", ...goFiles]) h.update(readFileSync(join(dir, f)))
  return h.digest("hex").slice(0, 12)
}

const overrideVar = (name: ToolName): string => `KUSTODIAN_TOOL_${name.toUpperCase().replaceAll("-", "_")}`

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

const cache = new Map<ToolName, string>()

/**
 * The absolute path of a tool's binary. Honours `KUSTODIAN_TOOL_<NAME>` (e.g. `KUSTODIAN_TOOL_KUBE_APISERVER`).
 * Throws {@link ToolMissingError} telling the reader to run scripts/tools.sh when it is absent.
 */
export const toolPath = (name: ToolName): string => {
  const hit = cache.get(name)
  if (hit !== undefined) return hit
  const candidates: Array<string> = []
  const override = process.env[overrideVar(name)]
  if (override) candidates.push(override)
  const b = built[name]
  if (name === "kustodian-sandbox") {
    candidates.push(join(toolsCacheDir(), `sandbox-${sandboxSourceHash()}`, name))
  } else if (b !== undefined) {
    const version = toolVersions()[b.version]
    if (version === undefined)
      throw new ToolMissingError({ tool: name, looked: [`${b.version} in versions.env`] })
    candidates.push(join(toolsCacheDir(), `${b.dir}-${version}`, name))
    // What the environment provides, where scripts/tools.sh skipped the build: envtest's variables, then PATH.
    const asset = process.env[`TEST_ASSET_${name.toUpperCase().replaceAll("-", "_")}`]
    if (asset) candidates.push(asset)
    if (process.env.KUBEBUILDER_ASSETS) candidates.push(join(process.env.KUBEBUILDER_ASSETS, name))
    for (const d of (process.env.PATH ?? "").split(delimiter).filter((d) => d !== ""))
      candidates.push(join(d, name))
  } else {
    const dirs = (process.env.PATH ?? "").split(delimiter).filter((d) => d !== "")
    for (const d of [...dirs, "/usr/local/sbin", "/usr/sbin", "/usr/bin", "/sbin"])
      candidates.push(join(d, name))
  }
  const found = candidates.find(isExecutable)
  if (found === undefined) throw new ToolMissingError({ tool: name, looked: [...new Set(candidates)] })
  cache.set(name, found)
  return found
}

/** Whether a tool is available, for tests that want to skip rather than fail. */
export const hasTool = (name: ToolName): boolean => {
  try {
    toolPath(name)
    return true
  } catch {
    return false
  }
}

/**
 * An environment whose PATH starts with the directories of the given tools, for running programs (the operator,
 * sops) that look their peers up on PATH.
 */
export const envWithTools = (
  names: ReadonlyArray<ToolName>,
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv => {
  const dirs = [...new Set(names.map((n) => dirname(toolPath(n))))]
  return { ...base, PATH: [...dirs, base.PATH ?? ""].join(delimiter) }
}
