import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  commitFiles,
  createBareRepo,
  createBranch,
  createTag,
  type GitHttpServer,
  gitEnv,
  makeSshKeyPair,
  type RunningGitSshServer,
  randomSecret,
  revParse,
  runGit,
  startGitHttpServer,
  startGitSshServer,
} from "./git-server.ts"
import { isRunning } from "./process.ts"

const scratch = mkdtempSync(join(tmpdir(), "kustodian-git-test-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))
let n = 0
const target = () => join(scratch, `clone-${++n}`)

describe("git over smart HTTP", () => {
  const password = randomSecret()
  const token = randomSecret()
  let server: GitHttpServer
  let head: string
  beforeAll(async () => {
    server = await startGitHttpServer({
      auth: { basic: { username: "alice", password }, bearerToken: token },
    })
    const repo = await createBareRepo(server.reposDir, "app")
    await commitFiles(
      repo,
      { "deploy/cm.yaml": "kind: ConfigMap\n", "README.md": "v1\n" },
      { message: "first" },
    )
    head = await commitFiles(repo, { "README.md": "v2\n" }, { message: "second" })
    await createTag(repo, "v1.0.0", head, { message: "release" })
    await createBranch(repo, "stable", "v1.0.0")
    await commitFiles(repo, { "feature.txt": "x" }, { branch: "feature", from: "main" })
  })
  afterAll(() => server.stop())

  it("clones with basic auth and sees the committed files, branches and tags", async () => {
    const url = server.repoUrl("app").replace("://", `://alice:${password}@`)
    const dir = target()
    const r = await runGit(["clone", "--quiet", url, dir])
    expect(r.code, r.stderr).toBe(0)
    expect(readFileSync(join(dir, "README.md"), "utf8")).toBe("v2\n")
    expect(readFileSync(join(dir, "deploy/cm.yaml"), "utf8")).toBe("kind: ConfigMap\n")
    const refs = await runGit(["ls-remote", url])
    expect(refs.stdout).toContain(`${head}\trefs/heads/stable`)
    expect(refs.stdout).toContain("refs/heads/feature")
    expect(refs.stdout).toContain(`${head}\trefs/tags/v1.0.0^{}`)
    expect(server.requests.some((q) => q.user === "alice" && q.status === 200)).toBe(true)
  })

  it("refuses a wrong password and no credentials", async () => {
    const wrong = await runGit([
      "clone",
      "--quiet",
      server.repoUrl("app").replace("://", "://alice:nope@"),
      target(),
    ])
    expect(wrong.code).not.toBe(0)
    expect(wrong.stderr).toMatch(/Authentication failed|401/)
    const none = await runGit(["ls-remote", server.repoUrl("app")])
    expect(none.code).not.toBe(0)
  })

  it("accepts a bearer token and pushes", async () => {
    const env = gitEnv({
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "http.extraHeader",
      GIT_CONFIG_VALUE_0: `Authorization: Bearer ${token}`,
    })
    const dir = target()
    expect((await runGit(["clone", "--quiet", server.repoUrl("app"), dir], { env })).code).toBe(0)
    writeFileSync(join(dir, "pushed.txt"), "pushed\n")
    await runGit(["add", "."], { cwd: dir, env })
    await runGit(["commit", "-qm", "push"], { cwd: dir, env })
    const push = await runGit(["push", "--quiet", "origin", "HEAD:main"], { cwd: dir, env })
    expect(push.code, push.stderr).toBe(0)
    const local = (await runGit(["rev-parse", "HEAD"], { cwd: dir })).stdout.trim()
    expect(await revParse(join(server.reposDir, "app.git"), "main")).toBe(local)
  })
})

describe("git over HTTPS", () => {
  it("clones when the client trusts the server's CA, and refuses otherwise", async () => {
    const server = await startGitHttpServer({ tls: true })
    try {
      await commitFiles(await createBareRepo(server.reposDir, "tls"), { a: "1" })
      const trusted = await runGit(["clone", "--quiet", server.repoUrl("tls"), target()], {
        env: gitEnv({ GIT_SSL_CAINFO: server.caFile! }),
      })
      expect(trusted.code, trusted.stderr).toBe(0)
      const untrusted = await runGit(["clone", "--quiet", server.repoUrl("tls"), target()])
      expect(untrusted.code).not.toBe(0)
      expect(untrusted.stderr).toMatch(/certificate/i)
    } finally {
      await server.stop()
    }
  })
})

describe("git over SSH", () => {
  let server: RunningGitSshServer
  let head: string
  beforeAll(async () => {
    server = await startGitSshServer()
    head = await commitFiles(await createBareRepo(server.reposDir, "infra"), {
      "kustomization.yaml": "resources: []\n",
    })
  })
  afterAll(async () => {
    const pid = server.pid
    await server.stop()
    expect(isRunning(pid)).toBe(false)
  })

  it("clones with the authorised key and strict known_hosts checking", async () => {
    const dir = target()
    const r = await runGit(["clone", "--quiet", server.repoUrl("infra"), dir], {
      env: gitEnv({ GIT_SSH_COMMAND: server.sshCommand() }),
    })
    expect(r.code, r.stderr).toBe(0)
    expect(readFileSync(join(dir, "kustomization.yaml"), "utf8")).toBe("resources: []\n")
    expect((await runGit(["rev-parse", "HEAD"], { cwd: dir })).stdout.trim()).toBe(head)
  })

  it("accepts pushes over SSH", async () => {
    const env = gitEnv({ GIT_SSH_COMMAND: server.sshCommand() })
    const dir = target()
    expect((await runGit(["clone", "--quiet", server.repoUrl("infra"), dir], { env })).code).toBe(0)
    writeFileSync(join(dir, "new.yaml"), "x: 1\n")
    await runGit(["add", "."], { cwd: dir, env })
    await runGit(["commit", "-qm", "over ssh"], { cwd: dir, env })
    const push = await runGit(["push", "--quiet", "origin", "HEAD:refs/heads/ssh-branch"], { cwd: dir, env })
    expect(push.code, push.stderr).toBe(0)
    const local = (await runGit(["rev-parse", "HEAD"], { cwd: dir })).stdout.trim()
    expect(await revParse(join(server.reposDir, "infra.git"), "ssh-branch")).toBe(local)
  })

  it("refuses a host key that is not in known_hosts", async () => {
    const other = await makeSshKeyPair(mkdtempSync(join(scratch, "hk-")), "other_host")
    const knownHostsFile = join(scratch, "wrong_known_hosts")
    writeFileSync(knownHostsFile, `[127.0.0.1]:${server.port} ${other.publicKey}\n`)
    const r = await runGit(["ls-remote", server.repoUrl("infra")], {
      env: gitEnv({ GIT_SSH_COMMAND: server.sshCommand({ knownHostsFile }) }),
    })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/)
    const empty = join(scratch, "empty_known_hosts")
    writeFileSync(empty, "")
    const unknown = await runGit(["ls-remote", server.repoUrl("infra")], {
      env: gitEnv({ GIT_SSH_COMMAND: server.sshCommand({ knownHostsFile: empty }) }),
    })
    expect(unknown.code).not.toBe(0)
    expect(unknown.stderr).toMatch(/Host key verification failed/)
  })

  it("refuses a key it does not know and anything but git commands", async () => {
    const stranger = await makeSshKeyPair(mkdtempSync(join(scratch, "ck-")), "stranger")
    const r = await runGit(["ls-remote", server.repoUrl("infra")], {
      env: gitEnv({ GIT_SSH_COMMAND: server.sshCommand({ keyFile: stranger.privateKeyFile }) }),
    })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/Permission denied/)
    const outside = await runGit(["ls-remote", `ssh://${server.user}@127.0.0.1:${server.port}/../../etc`], {
      env: gitEnv({ GIT_SSH_COMMAND: server.sshCommand() }),
    })
    expect(outside.code).not.toBe(0)
    const shell = await new Promise<{ code: number; stderr: string }>((resolve) => {
      // GIT_SSH_COMMAND's options (no spaces in our temp paths), plus the port and a non-git command.
      const [, ...options] = server.sshCommand().split(" ")
      const args = [...options, "-p", String(server.port), `${server.user}@127.0.0.1`, "cat /etc/hostname"]
      execFile("ssh", args, (err, _out, stderr) => resolve({ code: err === null ? 0 : 1, stderr }))
    })
    expect(shell.code).not.toBe(0)
    expect(shell.stderr).toContain("only git fetch/push is allowed")
  })
})
