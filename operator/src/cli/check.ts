/**
 * `kustodian check [PATH…]` for pre-commit hooks and CI: walks each PATH (default `.`), bounded, and reports what
 * `check-findings.ts` finds, one line per finding, `FILE:KEYPATH: finding — fix`, or `--format=json` (an array
 * of `{file, path, kind, message, fix}`). Exit code 1 with findings, 0 without, 2 on a usage mistake. MACs are
 * verified only with a key (the local key sources, as `decrypt`); without one it says so once and does not fail.
 *
 * @module
 */
import { existsSync, realpathSync } from "node:fs"
import { homedir } from "node:os"
import { join, resolve } from "node:path"
import { Effect } from "effect"
import type { Keyring } from "../sops/index.ts"
import { parseArgs, UsageError, value } from "./args.ts"
import { type CheckReport, checkFiles, type Finding } from "./check-findings.ts"
import { walkPath } from "./check-walk.ts"
import { reportUsage } from "./command.ts"
import { ageKeyTexts, cliKeyring } from "./keys.ts"
import { styles } from "./progress.ts"

export const checkUsage = `usage: kustodian check [flags] [PATH…]
  check a repository before commit or in CI (PATH: files or directories, default .):
  plaintext Secrets or Secret-like values a .sops.yaml creation rule says are encrypted, Secrets no rule covers,
  kustomize patches putting plaintext under keys an encrypted resource's encrypted_regex covers, recipients
  that differ from the creation rule (what updatekeys would change), stale MACs (with a key only: SOPS_AGE_KEY,
  SOPS_AGE_KEY_FILE, ~/.config/sops/age/keys.txt, GNUPGHOME, AWS credentials), a .sops.pub.asc that is not the
  rule's pgp key. One line per finding, FILE:KEYPATH: finding — fix. Exit code 1 with findings, 0 without,
  2 on usage mistakes.
  --format text|json           json: an array of {file, path, kind, message, fix} on stdout
  -h, --help                   this text`

/** The keys a check may use: local ones only, and a KMS only when AWS credentials are configured. */
const checkKeyring = (env: NodeJS.ProcessEnv): { keyring: Keyring; hasKeys: boolean } => {
  const base = cliKeyring(env)
  const aws = Boolean(
    (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) ||
      env.AWS_PROFILE ||
      env.AWS_WEB_IDENTITY_TOKEN_FILE,
  )
  const gpg = Boolean(env.GNUPGHOME) || existsSync(join(env.HOME || homedir(), ".gnupg"))
  const age = ageKeyTexts(env).length > 0
  const { gpg: gpgOpts, ...rest } = base
  return {
    keyring: {
      ...rest,
      ...(gpg && gpgOpts !== undefined ? { gpg: gpgOpts } : {}),
      providers: aws ? (base.providers ?? []) : [],
    },
    hasKeys: age || gpg || aws,
  }
}

/** One text line of a finding. */
export const findingLine = (f: Finding, style: ReturnType<typeof styles> = styles({ write: () => true })) =>
  `${style.underline(f.file)}:${f.path}: ${style.red(f.message)} — ${f.fix}`

const order = (a: Finding, b: Finding) =>
  a.file < b.file ? -1 : a.file > b.file ? 1 : a.path < b.path ? -1 : a.path > b.path ? 1 : 0

/** Runs the checks; the report and the notices (skipped paths) to print on stderr. */
export const runCheck = Effect.fn("check.run")(function* (
  paths: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv,
  cwd: string,
) {
  const { keyring, hasKeys } = checkKeyring(env)
  const findings: Array<Finding> = []
  const notices: Array<string> = []
  let macNotChecked = 0
  let filesChecked = 0
  const files = new Set<string>()
  const oversized = new Set<string>()
  const roots = [realpathSync(cwd)]
  for (const path of paths) {
    const walk = yield* walkPath(resolve(cwd, path))
    roots.push(walk.root)
    for (const s of walk.skipped) notices.push(`${s.path}: ${s.reason}`)
    for (const f of walk.files) files.add(f)
    for (const f of walk.oversized) oversized.add(f)
  }
  const r: CheckReport = yield* checkFiles([...files], [...oversized], { cwd, keyring, hasKeys, roots })
  findings.push(...r.findings)
  macNotChecked += r.macNotChecked
  filesChecked += r.filesChecked
  const seen = new Set<string>()
  const unique = findings.sort(order).filter((f) => {
    const k = `${f.file}\u0000${f.path}\u0000${f.kind}\u0000${f.message}`
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
  if (macNotChecked > 0)
    notices.push(
      `MACs of ${macNotChecked} encrypted file(s) not checked: no key (set SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or GNUPGHOME to check them)`,
    )
  return { findings: unique, notices, filesChecked }
})

/** `kustodian check …`; resolves with the exit code. */
export const checkCommand = async (
  argv: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<number> => {
  let format: string
  let paths: ReadonlyArray<string>
  try {
    const p = parseArgs(argv, { values: ["format"], flags: ["help"], aliases: { h: "help", o: "format" } })
    if (p.flags.has("help")) {
      process.stdout.write(`${checkUsage}\n`)
      return 0
    }
    format = value(p, "format") ?? "text"
    if (format !== "text" && format !== "json")
      throw new UsageError(`--format must be text or json, not ${JSON.stringify(format)}`)
    paths = p.positional.length > 0 ? p.positional : ["."]
  } catch (e) {
    return reportUsage("check", (e as Error).message)
  }
  const result = await Effect.runPromise(Effect.result(runCheck(paths, env, cwd)))
  if (result._tag === "Failure") {
    process.stderr.write(`kustodian check: ${result.failure.message}\n`)
    return 2
  }
  const { findings, notices, filesChecked } = result.success
  for (const n of notices) process.stderr.write(`kustodian check: ${n}\n`)
  if (format === "json") process.stdout.write(`${JSON.stringify(findings, null, 2)}\n`)
  else {
    const style = styles(process.stdout, env)
    for (const f of findings) process.stdout.write(`${findingLine(f, style)}\n`)
    process.stderr.write(
      findings.length === 0
        ? `kustodian check: no findings in ${filesChecked} file(s)\n`
        : `kustodian check: ${findings.length} finding(s) in ${filesChecked} file(s)\n`,
    )
  }
  return findings.length > 0 ? 1 : 0
}
