/**
 * The container engine of the image tests: Debian's podman (rootful, runc, cgroupfs), serving the Docker API on a
 * socket of the test's own so testcontainers talks to it as to a Docker engine, and the operator image built by
 * `scripts/image.sh` (base images made locally; no registry is reachable here).
 */
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { request } from "node:http"
import { join } from "node:path"
import { Effect } from "effect"
import { daemon, waitReady } from "./process.ts"
import { repoRoot } from "./tools.ts"

/** Why the image tests cannot run on this machine, or undefined when they can. */
export const podmanUnavailable = (): string | undefined => {
  const dirs = (process.env.PATH ?? "").split(":").concat(["/usr/bin", "/usr/local/bin"])
  if (!dirs.some((d) => d !== "" && existsSync(join(d, "podman"))))
    return "podman is not installed (bash scripts/tools.sh image installs it with debootstrap and runc)"
  if (process.getuid?.() !== 0) return "podman runs rootful here and the tests are not running as root"
  return undefined
}

/** rlimits no higher than the machine's: runc cannot raise them, and podman's defaults would. */
export const runLimits = ["--ulimit=nofile=1024:1024", "--ulimit=nproc=1024:1024"] as const

/** The podman flags every call needs on this machine (no systemd: cgroupfs). */
export const podmanGlobalFlags = ["--cgroup-manager=cgroupfs"] as const

const exec = (command: string, args: ReadonlyArray<string>, timeoutMs: number) =>
  Effect.tryPromise({
    try: () =>
      new Promise<string>((resolve, reject) =>
        execFile(
          command,
          [...args],
          { cwd: repoRoot, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
          (err, stdout, stderr) =>
            err
              ? reject(new Error(`${command} ${args.join(" ")}: ${stderr.slice(-4000) || err.message}`))
              : resolve(stdout),
        ),
      ),
    catch: (e) => e as Error,
  })

/** `podman …` with the machine's flags; resolves with stdout. */
export const podman = (args: ReadonlyArray<string>, timeoutMs = 120_000) =>
  exec("podman", [...podmanGlobalFlags, ...args], timeoutMs)

/**
 * The operator image for this checkout: built by scripts/image.sh unless an image for these exact sources exists
 * (the first build on a machine makes the base images too: minutes; later ones reuse podman's layer cache).
 */
export const operatorImage = exec("bash", [join(repoRoot, "scripts/image.sh")], 40 * 60_000).pipe(
  Effect.map((out) => out.trim().split("\n").at(-1)!),
)

/**
 * podman's Docker-compatible API on `dir/podman.sock`, for testcontainers (DOCKER_HOST), stopped with the scope.
 * The reaper container testcontainers would start (Ryuk) cannot be pulled here; the scope removes what it made.
 */
export const podmanService = Effect.fn("podmanService")(function* (dir: string) {
  const socket = join(dir, "podman.sock")
  const d = yield* daemon({
    name: "podman-service",
    command: "podman",
    args: [...podmanGlobalFlags, "system", "service", "--time=0", `unix://${socket}`],
    logFile: join(dir, "podman-service.log"),
    groupsFile: join(dir, "pgids"),
  })
  yield* waitReady(
    d,
    () =>
      new Promise<boolean>((resolve) => {
        if (!existsSync(socket)) return resolve(false)
        const req = request({ socketPath: socket, path: "/_ping", timeout: 2_000 }, (res) => {
          res.resume()
          resolve(res.statusCode === 200)
        })
        req.on("error", () => resolve(false))
        req.end()
      }),
    30_000,
    "serving the API",
  )
  return { socket, dockerHost: `unix://${socket}` }
})
