/**
 * The user's side of the seed ("Manage Kubernetes secrets with SOPS"), step by step with the real tools: a gpg
 * key made with the seed's unattended parameters, an age key from age-keygen, the Secret manifest from
 * `kubectl create secret … --dry-run=client`, encryption with `sops --encrypt --in-place`. Shared by the e2e
 * scenarios and the README's main command.
 */
import { execFile } from "node:child_process"
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { Effect } from "effect"
import { repoRoot, toolPath } from "./tools.ts"

export interface RunResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs a tool; rejects with its stderr when it fails. */
export const run = (
  command: string,
  args: ReadonlyArray<string>,
  opts: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv; readonly input?: string } = {},
): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = execFile(
      command,
      [...args],
      { cwd: opts.cwd, env: { ...process.env, ...opts.env }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) =>
        err === null
          ? resolve(stdout)
          : reject(new Error(`${command} ${args.join(" ")}: ${stderr || err.message}`)),
    )
    // A tool that exits without reading its input (most take none) closes the pipe first: EPIPE is no error
    // here, the exit status and stderr above say how the tool ended.
    child.stdin?.on("error", () => undefined)
    child.stdin?.end(opts.input ?? "")
  })

/**
 * Runs a step of the seed as the seed writes it — a shell pipeline — with the test tools first on PATH and
 * `kubectl` talking to `kubeconfig`.
 */
export const seedStep = (
  script: string,
  kubeconfig: string,
  env: NodeJS.ProcessEnv = {},
): Promise<string> => {
  const tools = ["kubectl", "gpg", "sops", "age-keygen"] as const
  const path = [...new Set(tools.map((t) => dirname(toolPath(t))))].join(":")
  return run("/bin/sh", ["-euc", script], {
    env: { ...env, PATH: `${path}:${process.env.PATH}`, KUBECONFIG: kubeconfig },
  })
}

/** A scratch directory removed with the scope. */
export const scratchDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), prefix))),
    (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
  )

/** The seed's unattended key parameters: RSA 4096, no passphrase, no expiry. */
const gpgKeyParameters = (name: string, comment: string) => `%no-protection
Key-Type: 1
Key-Length: 4096
Subkey-Type: 1
Subkey-Length: 4096
Expire-Date: 0
Name-Comment: ${comment}
Name-Real: ${name}
`

export interface GpgKey {
  readonly home: string
  readonly fingerprint: string
  /** `gpg --export-secret-keys --armor` — what the seed puts into the `sops-gpg` Secret. */
  readonly armoredSecretKey: string
}

/** `gpg --batch --full-generate-key` as in the seed, in a private GNUPGHOME. */
export const generateGpgKey = async (home: string, name = "cluster0.yourdomain.com"): Promise<GpgKey> => {
  await mkdir(home, { recursive: true, mode: 0o700 })
  const env = { GNUPGHOME: home }
  const gpg = toolPath("gpg")
  await run(gpg, ["--batch", "--full-generate-key"], { env, input: gpgKeyParameters(name, "flux secrets") })
  // "Retrieve the GPG key fingerprint (second row of the sec column)": the colon format's fpr line.
  const listing = await run(gpg, ["--batch", "--with-colons", "--list-secret-keys", name], { env })
  const fingerprint = listing
    .split("\n")
    .find((l) => l.startsWith("fpr:"))
    ?.split(":")[9]
  if (!fingerprint) throw new Error(`no fingerprint in gpg output for ${name}`)
  const armoredSecretKey = await run(gpg, ["--batch", "--export-secret-keys", "--armor", fingerprint], {
    env,
  })
  return { home, fingerprint, armoredSecretKey }
}

export interface AgeKey {
  /** Path of the key file `age-keygen -o age.agekey` wrote (comments and the identity). */
  readonly keyFile: string
  readonly recipient: string
}

/** `age-keygen -o age.agekey`. */
export const generateAgeKey = async (dir: string): Promise<AgeKey> => {
  const keyFile = join(dir, "age.agekey")
  await run(toolPath("age-keygen"), ["-o", keyFile])
  const recipient = /public key: (age1[0-9a-z]+)/.exec(await readFile(keyFile, "utf8"))?.[1]
  if (recipient === undefined) throw new Error("age-keygen wrote no public key")
  return { keyFile, recipient }
}

/** `kubectl -n <ns> create secret generic <name> --from-literal=… --dry-run=client -o yaml`. */
export const secretManifest = (
  namespace: string,
  name: string,
  literals: Readonly<Record<string, string>>,
): Promise<string> =>
  run(toolPath("kubectl"), [
    "-n",
    namespace,
    "create",
    "secret",
    "generic",
    name,
    ...Object.entries(literals).map(([k, v]) => `--from-literal=${k}=${v}`),
    "--dry-run=client",
    "-o",
    "yaml",
  ])

/** Writes `content` at `file` and runs `sops --encrypt --in-place <flags> file` in its directory (.sops.yaml found from there). */
export const sopsEncryptInPlace = async (
  file: string,
  content: string,
  flags: ReadonlyArray<string> = [],
  env: NodeJS.ProcessEnv = {},
): Promise<string> => {
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, content)
  await run(toolPath("sops"), [...flags, "--encrypt", "--in-place", file], { cwd: dirname(file), env })
  return readFile(file, "utf8")
}

/** The seed's manifests, pointed at a local git server and a namespace of ours — otherwise as written. */
export const seedManifest = async (
  which: "gitrepository" | "kustomization",
  changes: { readonly namespace: string; readonly url?: string; readonly decryptionSecret?: string },
): Promise<string> => {
  let text = await readFile(join(repoRoot, "model/testdata/seed-manifests", `${which}.yaml`), "utf8")
  text = text.replace("namespace: flux-system", `namespace: ${changes.namespace}`)
  if (changes.url !== undefined) text = text.replace(/url: .*/, `url: ${changes.url}`)
  if (changes.decryptionSecret !== undefined)
    text = text.replace("name: sops-gpg", `name: ${changes.decryptionSecret}`)
  return text
}
