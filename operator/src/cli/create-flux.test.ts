/**
 * `kustodian create source git` / `create kustomization` against the real flux CLI (v2.9.x) as peer: the same
 * flags print the same bytes, the seed's commands first; where flux drops a flag silently we refuse it, and
 * usage mistakes are one line with exit code 2.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { toolPath } from "../../../e2e/support/tools.ts"
import { runKustodian } from "./testing/kustodian-process.ts"

const cache = mkdtempSync(join(tmpdir(), "kflux-"))
afterAll(() => rmSync(cache, { recursive: true, force: true }))

const flux = (args: ReadonlyArray<string>): string =>
  execFileSync(toolPath("flux"), [...args, "--export", `--cache-dir=${cache}`], {
    encoding: "utf8",
    env: { PATH: process.env.PATH, HOME: cache, NO_COLOR: "1" },
  })

const same: ReadonlyArray<ReadonlyArray<string>> = [
  // the seed's two commands, as written
  ["create", "source", "git", "my-secrets", "--url=https://github.com/my-org/my-secrets", "--branch=main"],
  [
    "create",
    "kustomization",
    "my-secrets",
    "--source=my-secrets",
    "--path=./clusters/cluster0",
    "--prune=true",
    "--interval=10m",
    "--decryption-provider=sops",
    "--decryption-secret=sops-gpg",
  ],
  // refs, precedence, namespaces, labels, quoting of YAML 1.1 look-alikes and indicators
  [
    "create",
    "source",
    "git",
    "app",
    "--url=ssh://git@github.com/org/repo",
    "--tag=v1.0",
    "--interval=5m",
    "--secret-ref=ssh",
  ],
  ["create", "source", "git", "app", "--url=https://h/x", "--commit=abc123", "--branch=main"],
  ["create", "source", "git", "app", "--url=https://h/x", "--tag-semver=>=1.0.0", "-n", "apps"],
  ["create", "source", "git", "app", "--url=https://h/x", "--tag-semver=~1.2", "--label=team=y,tier=1"],
  ["create", "source", "git", "app", "--url=https://h/x", "--tag=0o17", "--label=ex.com/a_b=on,n=012,e="],
  ["create", "source", "git", "app", "--url=https://h/x", "--tag=.5_", "--ref-name=refs/tags/é"],
  ["create", "source", "git", "app", "--url=https://h/x?a=b#frag", "--tag=a:b"],
  [
    "create",
    "source",
    "git",
    "app",
    "--url=https://h/x",
    "--branch=main",
    "--interval=90s",
    "--ref-name=refs/heads/x",
  ],
  ["create", "source", "git", "app", "--url=https://h/x", "--branch=main", "--tag=yes", "--interval=1h"],
  [
    "create",
    "source",
    "git",
    "app",
    "--url=https://h/x",
    "--branch=1.10",
    "--provider=github",
    "--recurse-submodules",
  ],
  ["create", "source", "git", "app", "--url=https://h/x", "--branch=main", "--ignore-paths=a,b/c"],
  ["create", "source", "git", "app", "--url=https://h/x", "--branch=main", "--provider=generic"],
  [
    "create",
    "source",
    "git",
    "app",
    "--url=https://h/x",
    "--branch=main",
    "--sparse-checkout-paths=a,b",
    "--proxy-secret-ref=px",
  ],
  ["create", "source", "git", "app", "--url", "http://h/x", "--branch", "main", "--namespace", "team-a"],
  [
    "create",
    "kustomization",
    "apps",
    "--source=GitRepository/app.other",
    "--path=apps/x",
    "--target-namespace=t",
    "--depends-on=x,ns/y",
  ],
  ["create", "kustomization", "apps", "--source=app"],
  ["create", "kustomization", "apps", "--source=app", "--path=../../x"],
  ["create", "kustomization", "apps", "--source=app.ns", "--path=a//b/./c/", "--retry-interval=0s"],
  ["create", "kustomization", "apps", "--source=app", "--path=/abs/"],
  [
    "create",
    "kustomization",
    "apps",
    "--source=OCIRepository/podinfo",
    "--target-namespace=default",
    "--prune",
  ],
  [
    "create",
    "kustomization",
    "apps",
    "--source=app",
    "--wait",
    "--health-check-timeout=3m",
    "--service-account=sa",
    "--retry-interval=2m",
    "--label=a=b,c=d",
    "--decryption-provider=sops",
  ],
  ["create", "ks", "apps", "--source=Bucket/secrets", "--interval=1h30m", "--kubeconfig-secret-ref=remote"],
]

describe("create source git / kustomization --export", () => {
  it.each(same.map((args) => [args.join(" "), args] as const))("prints what flux prints: %s", (_, args) => {
    const expected = flux(args)
    const ours = runKustodian([...args, "--export"])
    expect(ours.stderr).toBe("")
    expect(ours.code).toBe(0)
    expect(ours.stdout).toBe(expected)
  })

  it("prints the same without --export (export is the default)", () => {
    const args = same[0]!
    expect(runKustodian(args).stdout).toBe(flux(args))
  })

  it.each([
    [["create", "source", "git", "app", "--url=https://h/x"], /a Git ref is required/],
    [
      ["create", "source", "git", "app", "--url=ftp://h/x", "--branch=main"],
      /git URL scheme 'ftp' not supported/,
    ],
    [["create", "source", "git", "app", "--branch=main"], /url is required/],
    [["create", "kustomization", "apps"], /source is required/],
    [["create", "kustomization", "a", "--source=app"], /name 'a' is invalid/],
    [["create", "kustomization", "apps", "--source=Foo/app"], /source kind 'Foo' is not supported/],
    [["create", "kustomization", "apps", "--source=app", "--interval=bad"], /time: invalid duration "bad"/],
    [["create", "kustomization", "apps", "--source=app", "--label=a=:x"], /invalid label value ':x'/],
    [["create", "kustomization", "apps", "--source=app", "--label=-a=b"], /invalid label '-a'/],
    [["create", "kustomization", "apps", "--source=app", "--label=bad"], /invalid label format 'bad'/],
    [
      ["create", "kustomization", "apps", "--source=app", "--decryption-provider=foo"],
      /unsupported decryption provider 'foo'/,
    ],
  ] as const)("fails as flux does: %j", (args, message) => {
    expect(() => flux(args)).toThrow()
    const ours = runKustodian(args)
    expect(ours.code).toBe(2)
    expect(ours.stdout).toBe("")
    expect(ours.stderr).toMatch(message)
    const lines = ours.stderr.trimEnd().split("\n")
    expect(lines).toHaveLength(2)
    expect(lines[1]).toMatch(/^see: kustodian create (source git|kustomization) --help$/u)
  })

  it("refuses what flux would drop silently or could only do by creating Secrets", () => {
    // flux prints these without the flag's effect; we name the flag instead
    expect(flux(["create", "kustomization", "apps", "--source=app", "--decryption-secret=x"])).not.toContain(
      "decryption",
    )
    const dropped = runKustodian(["create", "kustomization", "apps", "--source=app", "--decryption-secret=x"])
    expect(dropped.code).toBe(2)
    expect(dropped.stderr).toMatch(/--decryption-secret needs --decryption-provider=sops/)
    const timeout = runKustodian(["create", "ks", "apps", "--source=app", "--health-check-timeout=3m"])
    expect(timeout.code).toBe(2)
    expect(timeout.stderr).toMatch(/--health-check-timeout needs --wait/)
    const password = runKustodian([
      "create",
      "source",
      "git",
      "app",
      "--url=https://h/x",
      "--branch=b",
      "-p",
      "pw",
    ])
    expect(password.code).toBe(2)
    expect(password.stderr).toMatch(/--password: not implemented/)
    expect(password.stderr).not.toContain("pw")
  })

  it("usage errors in one line and a hint with exit 2 for unknown flags; --help on stdout with exit 0", () => {
    const unknown = runKustodian([
      "create",
      "kustomization",
      "apps",
      "--source=app",
      "--health-check=Deployment/x.y",
    ])
    expect(unknown).toMatchObject({
      code: 2,
      stdout: "",
      stderr: "kustodian create: unknown flag --health-check\nsee: kustodian create kustomization --help\n",
    })
    for (const args of [
      ["create", "source", "git", "--help"],
      ["help", "create", "source", "git"],
      ["create", "kustomization", "-h"],
      ["help", "create"],
    ]) {
      const help = runKustodian(args)
      expect(help.code).toBe(0)
      expect(help.stdout).toMatch(/^kustodian create (source git|kustomization|<kind>)/)
    }
    expect(runKustodian(["create", "source", "helm", "x"]).code).toBe(2)
  })

  it("--apply without a reachable cluster fails in one line, naming no value", () => {
    const r = runKustodian([...same[0]!, "--apply", "--kubeconfig=/nonexistent/kubeconfig"])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe("")
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1)
    const both = runKustodian([...same[0]!, "--apply", "--export"])
    expect(both.code).toBe(2)
  })
})
