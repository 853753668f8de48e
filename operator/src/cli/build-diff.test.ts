/**
 * `kustodian build|diff kustomization` without a cluster: Flux's masking, the diff's masking, the unified diff,
 * flag parsing, and `build --dry-run` as a real process on a repository the real sops encrypted (real kustomize
 * in the sandbox), including the refusal of a substituteFrom that needs the cluster.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import * as YAML from "yaml"
import { hasTool, toolPath } from "../../../e2e/support/tools.ts"
import { UsageError } from "./args.ts"
import { HelpRequested } from "./command.ts"
import { parseKustomizationArgs } from "./kustomization-build.ts"
import { maskDecrypted, maskForBuild, maskPair } from "./secret-mask.ts"
import { runKustodian } from "./testing/kustodian-process.ts"
import { unifiedDiff } from "./unified-diff.ts"

const work = mkdtempSync(join(tmpdir(), "kustodian-build-diff-"))
afterAll(() => rmSync(work, { recursive: true, force: true }))

describe("masking", () => {
  it("build: every Secret value becomes Flux's **SOPS** (base64 in data), the sops metadata goes", () => {
    const masked = maskForBuild({
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: "s",
        annotations: { "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"a":"c2VjcmV0"}}' },
      },
      data: { a: Buffer.from("secret").toString("base64") },
      stringData: { b: "plain" },
      sops: { mac: "ENC[…]" },
    })
    expect(masked).toEqual({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s", annotations: { "kubectl.kubernetes.io/last-applied-configuration": "***" } },
      data: { a: "KipTT1BTKio=" },
      stringData: { b: "**SOPS**" },
    })
  })

  it("build: a dockerconfigjson Secret keeps JSON values, as Flux masks it", () => {
    const masked = maskForBuild({
      apiVersion: "v1",
      kind: "Secret",
      type: "kubernetes.io/dockerconfigjson",
      metadata: { name: "pull" },
      data: { ".dockerconfigjson": Buffer.from('{"auths":{}}').toString("base64") },
    }) as { data: Record<string, string> }
    expect(Buffer.from(masked.data[".dockerconfigjson"]!, "base64").toString()).toBe('{"mask":"**SOPS**"}')
  })

  it("build: other kinds are left as they are", () => {
    const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" }, data: { a: "1" } }
    expect(maskForBuild(cm)).toBe(cm)
  })

  it("build: decrypted values outside Secrets become **SOPS**, whole or inside a string; name, namespace and labels stay", () => {
    const cm = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "ab", namespace: "ab", labels: { l: "ab" } },
      data: { short: "ab", url: "https://user:p4ssw0rd@host/", other: "abc" },
    }
    expect(maskDecrypted(cm, ["ab", "p4ssw0rd"])).toEqual({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "ab", namespace: "ab", labels: { l: "ab" } },
      data: { short: "**SOPS**", url: "https://user:**SOPS**@host/", other: "abc" },
    })
    const secret = { apiVersion: "v1", kind: "Secret", metadata: { name: "s" }, data: { a: "YWI=" } }
    expect(maskDecrypted(secret, ["ab"])).toBe(secret)
  })

  it("diff: equal values *** on both sides, changed ones *** (before) / *** (after)", () => {
    const secret = (data: Record<string, string>) => ({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s" },
      data,
    })
    const { before, after } = maskPair(
      secret({ same: "eA==", changed: "b2xk", gone: "eg==" }),
      secret({ same: "eA==", changed: "bmV3", added: "eQ==" }),
    )
    expect(before.data).toEqual({ same: "***", changed: "*** (before)", gone: "***" })
    expect(after.data).toEqual({ same: "***", changed: "*** (after)", added: "***" })
  })
})

describe("unified diff", () => {
  it("prints what diff -u prints: hunks with three lines of context, merged when closer than six", () => {
    const a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n"
    const b = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n11\n"
    expect(unifiedDiff(a, b, { before: "a", after: "b" })).toBe(
      "--- a\n+++ b\n@@ -2,9 +2,10 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n 9\n 10\n+11\n",
    )
  })

  it("is empty for equal texts, and counts an empty side as 0 lines", () => {
    expect(unifiedDiff("x\n", "x\n", { before: "a", after: "b" })).toBe("")
    expect(unifiedDiff("", "x\n", { before: "a", after: "b" })).toBe("--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n")
  })
})

describe("flags", () => {
  const dir = join(work, "flags")
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, "ks.yaml"), "")
  const parse = (argv: ReadonlyArray<string>, command: "build" | "diff" = "build") =>
    parseKustomizationArgs(command, argv, dir, {})

  it("reads flux's flags; the namespace defaults to flux-system", () => {
    const a = parse(["kustomization", "apps", "--path", ".", "--kustomization-file=ks.yaml", "--dry-run"])
    expect(a).toMatchObject({
      name: "apps",
      namespace: "flux-system",
      path: dir,
      kustomizationFile: join(dir, "ks.yaml"),
      dryRun: true,
      showSecrets: false,
    })
    expect(
      parse(["ks", "apps", "--path=.", "-n", "team", "--decryption-secret", "-", "--show-secrets"]),
    ).toMatchObject({ namespace: "team", decryptionSecret: "-", showSecrets: true, dryRun: false })
  })

  it("refuses what flux refuses, and what would be ignored", () => {
    expect(() => parse(["ks", "apps"])).toThrow(new UsageError('invalid resource path ""'))
    expect(() => parse(["ks", "apps", "--path", "missing"])).toThrow('invalid resource path "missing"')
    expect(() => parse(["ks", "--path", "."])).toThrow("Kustomization name is required")
    expect(() => parse(["gitrepository", "x", "--path", "."])).toThrow("only kustomization (ks)")
    expect(() => parse(["ks", "a", "--path", ".", "--kustomization-file", "nope.yaml"])).toThrow(
      'invalid kustomization file "nope.yaml"',
    )
    expect(() => parse(["ks", "a", "--path", ".", "--dry-run", "--kubeconfig", "k"])).toThrow(
      "--dry-run does not",
    )
    expect(() => parse(["ks", "a", "--path", ".", "--dry-run"], "diff")).toThrow("unknown flag --dry-run")
    expect(() => parse(["ks", "a", "--path", ".", "--recursive"])).toThrow("unknown flag --recursive")
    expect(() => parse(["--help"])).toThrow(HelpRequested)
  })

  it("usage mistakes exit 2 with one line; --help exits 0", () => {
    const r = runKustodian(["build", "kustomization", "apps"], { cwd: dir })
    expect(r).toMatchObject({
      code: 2,
      stdout: "",
      stderr: 'kustodian build: invalid resource path ""\nsee: kustodian build --help\n',
    })
    const d = runKustodian(["diff", "ks", "apps", "--path", "missing"], { cwd: dir })
    expect(d).toMatchObject({
      code: 2,
      stderr: 'kustodian diff: invalid resource path "missing"\nsee: kustodian diff --help\n',
    })
    const h = runKustodian(["help", "build"], { cwd: dir })
    expect(h.code).toBe(0)
    expect(h.stdout).toContain("usage: kustodian build kustomization|ks NAME --path PATH")
  })
})

describe.skipIf(!hasTool("kustomize") || !hasTool("sops") || !hasTool("age-keygen"))(
  "build --dry-run (real sops, age and kustomize)",
  () => {
    const repo = join(work, "repo")
    const env = () => ({
      PATH: process.env.PATH,
      HOME: work,
      KUSTODIAN_KUSTOMIZE: toolPath("kustomize"),
      ...(hasTool("kustodian-sandbox") ? { KUSTODIAN_SANDBOX: toolPath("kustodian-sandbox") } : {}),
    })
    let made: Promise<string> | undefined
    const setup = () => {
      made ??= make()
      return made
    }
    const make = async () => {
      const { execFileSync } = await import("node:child_process")
      mkdirSync(join(repo, "app"), { recursive: true })
      execFileSync("git", ["init", "-q", repo])
      execFileSync(toolPath("age-keygen"), ["-o", join(work, "age.agekey")], { stdio: "ignore" })
      const key = (await import("node:fs")).readFileSync(join(work, "age.agekey"), "utf8")
      const recipient = /public key: (age1\w+)/.exec(key)![1]!
      // Written, then encrypted in place by the real sops for the age recipient.
      const encrypted = (file: string, manifest: string) => {
        writeFileSync(join(repo, file), manifest)
        execFileSync(toolPath("sops"), ["--encrypt", "--in-place", "--age", recipient, join(repo, file)], {
          env: { PATH: process.env.PATH ?? "", HOME: work },
        })
      }
      encrypted(
        "app/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: basic-auth\n  namespace: apps\nstringData:\n  password: hunter2-secret\n",
      )
      encrypted(
        "app/token.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: token\n  namespace: apps\ndata:\n  token: tok-en-value-123\n",
      )
      writeFileSync(
        join(repo, "app/cm.yaml"),
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Flux's substitution syntax
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: apps\ndata:\n  greeting: ${greeting}\n",
      )
      return key
    }

    it("decrypts with the local key, masks, substitutes; --show-secrets shows", async () => {
      const key = await setup()
      writeFileSync(
        join(work, "ks.yaml"),
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: apps\nspec:\n  interval: 10m\n  prune: true\n  path: ./elsewhere\n  sourceRef:\n    kind: GitRepository\n    name: repo\n  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n  postBuild:\n    substitute:\n      greeting: hello\n",
      )
      const args = [
        "build",
        "ks",
        "apps",
        "--path",
        join(repo, "app"),
        "--kustomization-file",
        join(work, "ks.yaml"),
        "--dry-run",
        "-n",
        "apps",
      ]
      const masked = runKustodian(args, { cwd: work, env: { ...env(), SOPS_AGE_KEY: key } })
      expect(masked.stderr).toBe("")
      expect(masked.code).toBe(0)
      expect(masked.stdout).not.toContain("hunter2")
      expect(masked.stdout).not.toContain("tok-en-value")
      expect(masked.stdout).not.toContain(Buffer.from("hunter2-secret").toString("base64"))
      const docs = YAML.parseAllDocuments(masked.stdout)
        .map((d) => d.toJS())
        .filter(Boolean)
      expect(docs).toEqual([
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: {
            name: "settings",
            namespace: "apps",
            labels: {
              "kustomize.toolkit.fluxcd.io/name": "apps",
              "kustomize.toolkit.fluxcd.io/namespace": "apps",
            },
          },
          data: { greeting: "hello" },
        },
        expect.objectContaining({ kind: "ConfigMap", data: { token: "**SOPS**" } }),
        expect.objectContaining({ kind: "Secret", data: { password: "KipTT1BTKio=" } }),
      ])
      const shown = runKustodian([...args, "--show-secrets"], {
        cwd: work,
        env: { ...env(), SOPS_AGE_KEY: key },
      })
      expect(shown.code).toBe(0)
      expect(shown.stdout).toContain(`password: ${Buffer.from("hunter2-secret").toString("base64")}`)
      expect(shown.stdout).toContain("token: tok-en-value-123")

      // the decryption Secret's manifest on stdin instead of the local key
      const secret = `apiVersion: v1\nkind: Secret\nmetadata:\n  name: sops-age\nstringData:\n  age.agekey: |\n${key
        .trimEnd()
        .split("\n")
        .map((l) => `    ${l}`)
        .join("\n")}\n`
      const fromSecret = runKustodian([...args, "--decryption-secret", "-"], {
        cwd: work,
        env: env(),
        input: secret,
      })
      expect(fromSecret.code).toBe(0)
      expect(fromSecret.stdout).toBe(masked.stdout)
      // without any key: the operator's error, naming the file, no value
      const none = runKustodian(args, { cwd: work, env: env() })
      expect(none.code).toBe(1)
      expect(none.stderr).toContain("app/secret.yaml")
      expect(none.stderr).not.toContain("hunter2")
    })

    it("a substituteFrom that is not optional is refused under --dry-run; an optional one is reported", async () => {
      const key = await setup()
      const ks = (optional: boolean) =>
        `apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: apps\nspec:\n  interval: 10m\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: repo\n  decryption:\n    provider: sops\n  postBuild:\n    substitute:\n      greeting: hi\n    substituteFrom:\n      - kind: Secret\n        name: vars\n        optional: ${optional}\n`
      writeFileSync(join(work, "ks-from.yaml"), ks(false))
      const args = [
        "build",
        "ks",
        "apps",
        "--path",
        join(repo, "app"),
        "--kustomization-file",
        join(work, "ks-from.yaml"),
        "--dry-run",
        "-n",
        "apps",
      ]
      const refused = runKustodian(args, { cwd: work, env: { ...env(), SOPS_AGE_KEY: key } })
      expect(refused.code).toBe(1)
      expect(refused.stderr).toBe(
        "kustodian: spec.postBuild.substituteFrom[0] (Secret/apps/vars) is read from the cluster, which --dry-run does not contact; run without --dry-run, or mark it optional\n",
      )
      writeFileSync(join(work, "ks-from.yaml"), ks(true))
      const optional = runKustodian(args, { cwd: work, env: { ...env(), SOPS_AGE_KEY: key } })
      expect(optional.code).toBe(0)
      expect(optional.stderr).toContain(
        "substituteFrom[0] (Secret/apps/vars) is optional and not read under --dry-run",
      )
      expect(optional.stdout).toContain("greeting: hi")
    })
  },
)
