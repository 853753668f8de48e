/**
 * Every command `main.ts` knows (its `commands` table, so a new command is in here without being listed): `--help`
 * and `help NAME` print its usage on stdout with exit code 0; an unknown flag, and a missing argument where the
 * command needs one, print one line and a hint naming its `--help` on stderr with exit code 2, except that sops'
 * own subcommands exit as the real sops 3.13 does for a missing file (100, `no file specified`, or 1). Never a
 * stack trace. In process (the CLI's `run`) for the whole table, and through the real executable for a few.
 */
import { afterAll, describe, expect, it, vi } from "@effect/vitest"
import { commands, run } from "./main.ts"
import { sopsSubcommands } from "./sops-commands.ts"
import { runKustodian } from "./testing/kustodian-process.ts"
import { type Peer, peer } from "./testing/sops-peer.ts"

interface Output {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the CLI in this process, capturing what it writes. */
const cli = async (argv: ReadonlyArray<string>): Promise<Output> => {
  let stdout = ""
  let stderr = ""
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk)
    return true
  })
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk)
    return true
  })
  try {
    const code = await run(argv, { PATH: process.env.PATH, HOME: "/nonexistent" })
    return { code, stdout, stderr }
  } finally {
    out.mockRestore()
    err.mockRestore()
  }
}

const stackTrace = /^\s+at .+[:(]\d+|\.ts:\d+:\d+|Error: .*\n\s+at /mu

/** What a usage mistake of `kustodian NAME` looks like: one line naming the command, then the hint. */
const expectUsageMistake = (r: Output, name: string, help = name) => {
  expect(r.code, r.stderr).toBe(2)
  expect(r.stdout).toBe("")
  const lines = r.stderr.split("\n")
  expect(lines, r.stderr).toHaveLength(3)
  expect(lines[0]).toMatch(new RegExp(`^kustodian ${name}[: ]`, "u"))
  expect(lines[1]).toBe(`see: kustodian ${help} --help`)
  expect(lines[2]).toBe("")
  expect(r.stderr).not.toMatch(stackTrace)
}

/**
 * The arguments each command cannot do without, when it has any: `[]` (no arguments) is then a usage mistake.
 * Commands absent here fail the test: a new command must say what it needs. `undefined`: runs without any
 * (`demo` would run, `check` checks `.`, `groups` prints its usage as sops does). sops' subcommands are
 * compared with the real sops below instead.
 */
const needsArguments: Readonly<Record<string, boolean>> = {
  controller: false,
  decrypt: true,
  encrypt: true,
  demo: false,
  keygen: true,
  create: true,
  check: false,
  history: true,
  build: true,
  diff: true,
  version: false,
}

const names = Object.keys(commands)
const ours = names.filter((n) => !Object.hasOwn(sopsSubcommands, n))

describe("every kustodian command", () => {
  it("the table holds every command of the top-level usage, and the usage lists every command of the table", async () => {
    const usage = (await cli(["--help"])).stdout
    const listed = [...usage.matchAll(/^ {2}([a-z][a-z-]+)\b/gmu)].map((m) => m[1]!)
    expect(new Set(listed)).toEqual(new Set([...names, "help"]))
    expect(names.length).toBeGreaterThanOrEqual(17)
    for (const n of ours)
      expect(Object.keys(needsArguments), `${n}: say whether it needs arguments`).toContain(n)
  })

  it.each(names)("%s --help, -h and help %s: its usage on stdout, exit 0", async (name) => {
    for (const argv of [
      [name, "--help"],
      [name, "-h"],
      ["help", name],
    ]) {
      const r = await cli(argv)
      expect(r.code, `${argv.join(" ")}: ${r.stderr}`).toBe(0)
      expect(r.stderr).toBe("")
      expect(r.stdout.split("\n")[0]).toMatch(new RegExp(`^(usage: )?kustodian ${name}\\b`, "u"))
      expect(r.stdout).not.toMatch(stackTrace)
    }
  })

  it.each(names)("%s --no-such-flag: one line and a hint, exit 2", async (name) => {
    // keygen and create read their first argument as the key type or kind: give them one first
    const prefix = name === "keygen" ? ["age"] : name === "create" ? ["kustomization", "apps"] : []
    const help = name === "create" ? "create kustomization" : name
    expectUsageMistake(await cli([name, ...prefix, "--no-such-flag"]), name, help)
  })

  it.each(ours.filter((n) => needsArguments[n] === true))(
    "%s without its arguments: one line and a hint, exit 2",
    async (name) => {
      expectUsageMistake(await cli([name]), name)
    },
  )

  it("the top level: no command, an unknown one, help for an unknown one: one line and a hint, exit 2", async () => {
    for (const [argv, line] of [
      [[], "kustodian: missing command"],
      [["bogus"], 'kustodian: unknown command "bogus"'],
      [["help", "bogus"], 'kustodian help: unknown command "bogus"'],
    ] as const) {
      const r = await cli(argv)
      expect(r, argv.join(" ")).toEqual({ code: 2, stdout: "", stderr: `${line}\nsee: kustodian --help\n` })
    }
    for (const argv of [["--help"], ["-h"], ["help"], ["help", "help"]]) {
      const r = await cli(argv)
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/^usage: kustodian <command> \[flags\]\n/u)
    }
  })
})

describe("sops' own subcommands keep sops' exit codes", { timeout: 120_000 }, () => {
  let p: Peer | undefined
  afterAll(() => p?.dispose())

  it.each(Object.keys(sopsSubcommands))(
    "%s without a file: the exit code of the real sops 3.13 (a code of its own, or 1), one line, no stack trace",
    (name) => {
      p ??= peer("kusage-")
      const sops = p.sops([name])
      const ours = p.kustodian([name])
      expect(ours.code, `sops ${name}: ${sops.stderr}; ours: ${ours.stderr}`).toBe(sops.code)
      expect(ours.stderr).not.toMatch(stackTrace)
      // sops prints its help for a bare `groups`; everything else is one line
      if (sops.code !== 0) expect(ours.stderr.trimEnd().split("\n")).toHaveLength(1)
      else expect(ours.stdout).toMatch(new RegExp(`^usage: kustodian ${name}\\b`, "u"))
    },
  )
})

describe("the kustodian executable", { timeout: 120_000 }, () => {
  it("prints help and usage mistakes as the in-process CLI does, without a stack trace", () => {
    const help = runKustodian(["history", "--help"])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^kustodian history /u)
    const bogus = runKustodian(["decrypt", "--bogus", "x.yaml"])
    expect(bogus).toEqual({
      code: 2,
      stdout: "",
      stderr: "kustodian decrypt: unknown flag --bogus\nsee: kustodian decrypt --help\n",
    })
    const none = runKustodian([])
    expect(none).toEqual({
      code: 2,
      stdout: "",
      stderr: "kustodian: missing command\nsee: kustodian --help\n",
    })
  })
})
