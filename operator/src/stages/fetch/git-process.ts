/**
 * Running the `git` binary safely: explicit argv (no shell), a private HOME with no user or system config,
 * hooks and credential helpers off, terminal prompts off, and the whole process group killed when the
 * operation is interrupted or times out (git spawns ssh and remote helpers that would otherwise survive).
 */
import { spawn } from "node:child_process"
import { Duration, Effect } from "effect"
import { defaultLimits, formatLimit, limitFlag } from "../../limits.ts"
import { GitOperationError } from "./errors.ts"
import { CappedCapture, HeadTailCapture } from "./output-capture.ts"
import { redact } from "./redact.ts"

/** The git binary: `KUSTODIAN_GIT` when set, else `git` from PATH. */
export const gitBinary = (): string => process.env.KUSTODIAN_GIT ?? "git"

/** Config every git invocation gets on its command line; none of it is secret. */
export const baseConfig: ReadonlyArray<string> = [
  "core.hooksPath=/dev/null",
  "credential.helper=",
  "core.askPass=",
  "core.fsmonitor=false",
  "protocol.allow=never",
  "protocol.http.allow=always",
  "protocol.https.allow=always",
  "protocol.ssh.allow=always",
  "advice.detachedHead=false",
  "init.defaultBranch=main",
  "transfer.fsckObjects=false",
]

export interface GitRun {
  /** Arguments after `git -c …`; user-controlled values must follow a `--`. */
  readonly args: ReadonlyArray<string>
  readonly cwd?: string
  /** Environment from the auth materialisation (GIT_CONFIG_GLOBAL, GIT_SSH_COMMAND, HOME, …). */
  readonly env: Readonly<Record<string, string>>
  readonly timeout: Duration.Duration
  /** URL for error messages (already without userinfo). */
  readonly url: string
  /** Short name of the operation for errors and spans, e.g. "ls-remote". */
  readonly operation: string
  /** Secret values to scrub from stderr. */
  readonly secrets: ReadonlyArray<string>
  /** `--max-git-output-size`: stdout past this fails the run (default: the limit table's). */
  readonly maxStdout?: number
}

export interface GitOutput {
  readonly stdout: string
  readonly stderr: string
}

/** The failure of a git child: exit code and scrubbed stderr, before classification. */
export class GitExit {
  readonly code: number | null
  readonly stderr: string
  constructor(code: number | null, stderr: string) {
    this.code = code
    this.stderr = stderr
  }
}

/** Only the variables git and ssh need; nothing from the operator's own environment leaks into git. */
const inheritedEnv = (): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const key of ["PATH", "LANG", "LC_ALL", "TZ", "TMPDIR"]) {
    const v = process.env[key]
    if (v !== undefined) env[key] = v
  }
  return env
}

const killGroup = (pid: number | undefined): void => {
  if (pid === undefined) return
  try {
    process.kill(-pid, "SIGKILL")
  } catch {
    // Already gone.
  }
}

/**
 * Run git once. Fails with the raw exit (scrubbed) so the caller can classify it (auth vs. not found vs.
 * network), or with a GitOperationError on timeout or spawn failure.
 */
export const runGit = (run: GitRun): Effect.Effect<GitOutput, GitExit | GitOperationError> => {
  const child = Effect.callback<GitOutput, GitExit | GitOperationError>((resume) => {
    const argv = [...baseConfig.flatMap((c) => ["-c", c]), ...run.args]
    const proc = spawn(gitBinary(), argv, {
      cwd: run.cwd,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...inheritedEnv(),
        GIT_TERMINAL_PROMPT: "0",
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_ASKPASS: "/bin/false",
        GIT_PROTOCOL_FROM_USER: "0",
        LC_ALL: "C",
        ...run.env,
      },
    })
    // The server decides what git prints: stderr keeps only its ends, stdout is capped (callers parse it).
    const maxStdout = run.maxStdout ?? defaultLimits.maxGitOutputSize
    const out = new CappedCapture(maxStdout)
    const err = new HeadTailCapture()
    proc.stdout.on("data", (b: Buffer) => {
      if (!out.push(b)) killGroup(proc.pid)
    })
    proc.stderr.on("data", (b: Buffer) => err.push(b))
    proc.on("error", (e) =>
      resume(
        Effect.fail(
          new GitOperationError({
            url: run.url,
            operation: run.operation,
            message: `cannot run git: ${e.message}`,
            transient: false,
          }),
        ),
      ),
    )
    proc.on("close", (code) => {
      if (out.overflowed) {
        resume(
          Effect.fail(
            new GitOperationError({
              url: run.url,
              operation: run.operation,
              message: `git ${run.operation} printed more than ${formatLimit("maxGitOutputSize", maxStdout)} (raise it with ${limitFlag("maxGitOutputSize")})`,
              transient: false,
            }),
          ),
        )
        return
      }
      // Redaction runs on at most 32 KiB, whatever the server sent.
      const stderr = redact(err.text(), run.secrets).trim()
      if (code === 0) resume(Effect.succeed({ stdout: out.text(), stderr }))
      else resume(Effect.fail(new GitExit(code, stderr)))
    })
    return Effect.sync(() => killGroup(proc.pid))
  })
  return child.pipe(
    Effect.timeoutOrElse({
      duration: run.timeout,
      orElse: () =>
        Effect.fail(
          new GitOperationError({
            url: run.url,
            operation: run.operation,
            message: `${run.operation} timed out after ${Duration.format(run.timeout)}`,
            transient: true,
          }),
        ),
    }),
  )
}
