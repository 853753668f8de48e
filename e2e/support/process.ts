/**
 * Long-running helper processes for tests (etcd, kube-apiserver, sshd, git servers' peers), each in its own
 * process group so that stopping it also stops whatever it forked. Use {@link daemon} inside a Scope: closing the
 * scope stops the process. A module-wide registry lets signal handlers kill every group synchronously, and
 * {@link spawnReaper} covers the case where the test runner itself is killed with SIGKILL.
 */
import { spawn } from "node:child_process"
import { appendFileSync, closeSync, openSync, readFileSync } from "node:fs"
import { Data, Effect, Schedule } from "effect"

/** A started process; `exited` settles with the exit code (or signal name) when it ends. */
export interface Daemon {
  readonly name: string
  readonly pid: number
  /** Process start time from /proc, to tell this process from a later one that reuses the pid. */
  readonly startTime: string
  readonly logFile: string
  readonly exited: Promise<number | string>
}

/** A helper process did not start, died early or did not become ready. */
export class ProcessError extends Data.TaggedError("ProcessError")<{
  readonly process: string
  readonly reason: string
  readonly logTail: string
}> {
  override get message(): string {
    return `${this.process}: ${this.reason}${this.logTail ? `\n--- last lines of its log ---\n${this.logTail}` : ""}`
  }
}

const live = new Map<number, string>()

/** The process groups started by this Node process and not yet stopped. */
export const liveProcessGroups = (): ReadonlyArray<number> => [...live.keys()]

/** The last lines of a log file, for error messages. */
export const logTail = (file: string, lines = 25): string => {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n")
  } catch {
    return ""
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks), or undefined when the process is gone or a zombie. */
export const procStartTime = (pid: number): string | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    if (fields[0] === "Z" || fields[0] === "X") return undefined
    return fields[19]
  } catch {
    return undefined
  }
}

/** Whether the process with this pid (and, when given, this start time) is still running. */
export const isRunning = (pid: number, startTime?: string): boolean => {
  const t = procStartTime(pid)
  return t !== undefined && (startTime === undefined || t === startTime)
}

const signalGroup = (pid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(-pid, signal)
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** Kills every live group with SIGKILL; for `exit`/signal handlers, where nothing asynchronous can run. */
export const killAllSync = (): void => {
  for (const pid of live.keys()) signalGroup(pid, "SIGKILL")
  live.clear()
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Stops a process group started earlier (possibly by another Node process, e.g. `cluster:up`): SIGTERM, then
 * SIGKILL after `graceMs`. Resolves once the leader is gone. A pid reused by an unrelated process is left alone.
 */
export const stopGroup = async (pid: number, startTime: string, graceMs = 10_000): Promise<void> => {
  if (!isRunning(pid, startTime)) {
    signalGroup(pid, "SIGKILL") // stragglers of a dead leader
    live.delete(pid)
    return
  }
  signalGroup(pid, "SIGTERM")
  const deadline = Date.now() + graceMs
  while (isRunning(pid, startTime) && Date.now() < deadline) await sleep(50)
  signalGroup(pid, "SIGKILL")
  while (isRunning(pid, startTime) && Date.now() < deadline + 5_000) await sleep(50)
  live.delete(pid)
}

export interface DaemonOptions {
  readonly name: string
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** stdout and stderr go here (appended). */
  readonly logFile: string
  readonly env?: NodeJS.ProcessEnv
  readonly cwd?: string
  /** Append the new process group id to this file (read by {@link spawnReaper}). */
  readonly groupsFile?: string
}

/**
 * Starts a process in its own group without tying the Node event loop to it (so `cluster:up` can exit and leave it
 * running). Prefer {@link daemon}, which stops it with the scope.
 */
export const startDetached = (opts: DaemonOptions): Daemon => {
  const fd = openSync(opts.logFile, "a")
  try {
    const child = spawn(opts.command, opts.args, {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    })
    const exited = new Promise<number | string>((resolve) => {
      child.once("exit", (code, signal) => {
        if (child.pid !== undefined) live.delete(child.pid)
        resolve(code ?? signal ?? "unknown")
      })
      child.once("error", (e) => resolve(`spawn error: ${e.message}`))
    })
    child.unref()
    const pid = child.pid ?? -1
    if (pid > 0) live.set(pid, opts.name)
    if (pid > 0 && opts.groupsFile !== undefined) appendFileSync(opts.groupsFile, `${pid}\n`)
    return { name: opts.name, pid, startTime: procStartTime(pid) ?? "", logFile: opts.logFile, exited }
  } finally {
    closeSync(fd)
  }
}

/** Starts a process that is stopped (its whole group, SIGTERM then SIGKILL) when the scope closes. */
export const daemon = (opts: DaemonOptions) =>
  Effect.acquireRelease(
    Effect.suspend(() => {
      const d = startDetached(opts)
      return d.pid > 0
        ? Effect.succeed(d)
        : Effect.fail(
            new ProcessError({
              process: opts.name,
              reason: "could not spawn",
              logTail: logTail(opts.logFile),
            }),
          )
    }),
    (d) => Effect.promise(() => stopGroup(d.pid, d.startTime)),
  )

/**
 * Polls `check` every 100 ms until it succeeds, failing early when the process exits and after `timeoutMs`.
 * `check` should fail (or return false) while the process is not ready.
 */
export const waitReady = Effect.fn("waitReady")(function* (
  d: Daemon,
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
) {
  let exitCode: number | string | undefined
  d.exited.then((c) => {
    exitCode = c
  })
  const failure = (reason: string) =>
    new ProcessError({ process: d.name, reason, logTail: logTail(d.logFile) })
  const attempt = Effect.promise(() => check().catch(() => false)).pipe(
    Effect.flatMap((ok) => {
      if (exitCode !== undefined) return Effect.die(failure(`exited (${exitCode}) before ${what}`))
      return ok ? Effect.void : Effect.fail("not ready" as const)
    }),
  )
  yield* attempt.pipe(
    Effect.retry({ schedule: Schedule.spaced("100 millis") }),
    Effect.mapError(() => failure(`not ${what}`)),
    Effect.timeoutOrElse({
      duration: timeoutMs,
      orElse: () => Effect.die(failure(`not ${what} after ${timeoutMs} ms`)),
    }),
    // Early exit and timeout travel as defects so the retry does not swallow them; surface them typed again.
    Effect.catchDefect((defect) =>
      defect instanceof ProcessError ? Effect.fail(defect) : Effect.die(defect),
    ),
  )
})

/**
 * A detached `sh` loop that, once `ownerPid` is gone, kills every process group listed (one pid a line) in
 * `groupsFile` and optionally removes `removeDir` — the last line of defence when the test runner is SIGKILLed and
 * no handler runs. Start it before the processes it guards and list each with `groupsFile` in {@link DaemonOptions}.
 * Stopped (by group) like any daemon.
 */
export const spawnReaper = (
  ownerPid: number,
  groupsFile: string,
  logFile: string,
  removeDir?: string,
): Daemon => {
  const groups = `$(sed 's/^/-/' '${groupsFile}' 2>/dev/null)`
  const script = [
    `while kill -0 ${ownerPid} 2>/dev/null; do sleep 1; done`,
    `kill -TERM ${groups} 2>/dev/null; sleep 3; kill -KILL ${groups} 2>/dev/null`,
    removeDir === undefined ? "" : `rm -rf '${removeDir}'`,
    "exit 0",
  ]
    .filter((l) => l !== "")
    .join("; ")
  return startDetached({ name: "reaper", command: "/bin/sh", args: ["-c", script], logFile })
}
