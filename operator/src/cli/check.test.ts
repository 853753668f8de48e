/**
 * `kustodian check` on a corpus of repositories made with the real sops, age-keygen, gpg and kubectl: one bad
 * repository per finding kind (each asserting the exact line and the exit code), `--format=json`, usage
 * mistakes, and the seed's own files (its OpenPGP key made as the seed makes it, its `.sops.yaml`,
 * `.sops.pub.asc`, the `basic-auth` Secret encrypted by sops, the Flux manifests) with no finding.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { generateGpgKey, secretManifest, sopsEncryptInPlace } from "../../../e2e/support/seed.ts"
import { repoRoot, toolPath } from "../../../e2e/support/tools.ts"
import { makeGpgKey, tempGnupgHome } from "../sops/testing/peers.ts"
import { type AgeKey, type Peer, peer } from "./testing/sops-peer.ts"

let p: Peer
let k1: AgeKey
let k2: AgeKey
const secret = `apiVersion: v1
kind: Secret
metadata:
  name: basic-auth
  namespace: default
stringData:
  password: change-me
  user: admin
`
const put = (name: string, text: string) => {
  mkdirSync(dirname(join(p.dir, name)), { recursive: true })
  writeFileSync(join(p.dir, name), text)
}
/** `sops encrypt` of `text` into `name`, run where the file is. */
const sopsEncrypt = (name: string, text: string, flags: ReadonlyArray<string> = []) => {
  put(name, text)
  const r = p.sops(["encrypt", ...flags, "-i", name])
  if (r.code !== 0) throw new Error(`sops encrypt ${name}: ${r.stderr}`)
}
const check = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) =>
  p.kustodian(["check", ...args], { env })
const rule = (path: string, recipient: string) =>
  `creation_rules:\n  - path_regex: ${path}\n    encrypted_regex: ^(data|stringData)$\n    age: ${recipient}\n`

beforeAll(() => {
  p = peer("kcheck-")
  k1 = p.ageKey("k1")
  k2 = p.ageKey("k2")
})
afterAll(() => p.dispose())

describe("kustodian check", { timeout: 180_000 }, () => {
  it("a plaintext Secret and a Secret-like value a creation rule covers", () => {
    put("plain/.sops.yaml", rule("\\.yaml$", k1.recipient))
    put("plain/basic-auth.yaml", secret)
    put(
      "plain/app.yaml",
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  db_password: hunter2\n  url: \${URL}\n`,
    )
    const r = check(["plain"])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stdout).toBe(
      "plain/app.yaml:data.db_password: plaintext secret-like value in a file plain/.sops.yaml says is encrypted — move it into a Secret and encrypt that, or kustodian encrypt -i --config plain/.sops.yaml plain/app.yaml\n" +
        "plain/basic-auth.yaml:stringData: plaintext Secret default/basic-auth: plain/.sops.yaml says files matching its path_regex are encrypted — kustodian encrypt -i --config plain/.sops.yaml plain/basic-auth.yaml\n",
    )
    expect(r.stdout).not.toContain("hunter2")
    expect(r.stderr).toContain("2 finding(s) in 2 file(s)")
    // fixed with kustodian encrypt: no finding
    const enc = p.kustodian(["encrypt", "-i", "plain/basic-auth.yaml"])
    expect(enc.code, enc.stderr).toBe(0)
    put("plain/app.yaml", `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  url: \${URL}\n`)
    const after = check(["plain"])
    expect([after.code, after.stdout], after.stderr).toEqual([0, ""])
  })

  it("a Secret in a file no creation rule covers", () => {
    put("uncovered/.sops.yaml", rule("^secrets/.*\\.yaml$", k1.recipient))
    put("uncovered/apps/basic-auth.yaml", secret)
    put("uncovered/apps/deploy.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
    const r = check(["uncovered"])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stdout).toBe(
      "uncovered/apps/basic-auth.yaml:stringData: Secret default/basic-auth is in a file no creation rule of uncovered/.sops.yaml covers — add a creation rule whose path_regex matches uncovered/apps/basic-auth.yaml, then kustodian encrypt -i uncovered/apps/basic-auth.yaml\n",
    )
  })

  it("the seed's encrypted_regex conflict: a patch putting plaintext under an encrypted key", () => {
    const pod = `apiVersion: v1
kind: Pod
metadata:
  name: pod
spec:
  containers:
    - name: main
      image: nginx:stable-alpine
      env:
        - name: SECRET_NAME
          value: secret value
`
    sopsEncrypt("conflict/pod.yaml", pod, ["--age", k1.recipient, "--encrypted-regex", "^env$"])
    put(
      "conflict/patch.yaml",
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod\nspec:\n  containers:\n    - name: patched\n      image: nginx:stable-alpine\n      env:\n        - name: MainEnvValueIsEncrypted\n          value: but this one is not\n",
    )
    put("conflict/kustomization.yaml", "resources:\n  - pod.yaml\npatches:\n  - path: patch.yaml\n")
    const r = check(["conflict"])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stdout).toBe(
      "conflict/patch.yaml:spec.containers[0].env: patch puts plaintext under a key encrypted_regex ^env$ of encrypted Pod pod (conflict/pod.yaml) covers; sops fails on it after the build — encrypt the patch with the same rule (kustodian encrypt -i --encrypted-regex '^env$' conflict/patch.yaml) or keep its values out of covered keys\n",
    )
    // an overlay's inline JSON 6902 patch on the same base
    put(
      "overlay/kustomization.yaml",
      "resources:\n  - ../conflict\npatches:\n  - target: {kind: Pod, name: pod}\n    patch: |-\n      - op: add\n        path: /spec/containers/0/env/-\n        value: {name: X, value: plain}\n      - op: replace\n        path: /spec/containers/0/image\n        value: nginx:latest\n",
    )
    const o = check(["overlay", "conflict/pod.yaml"])
    expect(o.code, o.stderr).toBe(1)
    expect(o.stdout).toContain(
      "overlay/kustomization.yaml:patches[0].patch: /spec/containers/0/env/-: patch puts plaintext under a key encrypted_regex ^env$ of encrypted Pod pod (conflict/pod.yaml) covers",
    )
    expect(o.stdout.split("\n").filter(Boolean)).toHaveLength(1) // the image replacement is not covered
  })

  it("recipients that differ from the creation rule, fixed by updatekeys", () => {
    put("recipients/.sops.yaml", rule("\\.yaml$", k2.recipient))
    sopsEncrypt("recipients/basic-auth.yaml", secret, [
      "--age",
      k1.recipient,
      "--encrypted-regex",
      "^(data|stringData)$",
    ])
    const r = check(["recipients"])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stdout).toBe(
      `recipients/basic-auth.yaml:sops: recipients differ from the creation rule of recipients/.sops.yaml: missing ${k2.recipient}; not in the rule ${k1.recipient} — kustodian updatekeys -y --config recipients/.sops.yaml recipients/basic-auth.yaml\n`,
    )
    const u = p.kustodian(
      ["updatekeys", "-y", "--config", "recipients/.sops.yaml", "recipients/basic-auth.yaml"],
      {
        env: { SOPS_AGE_KEY_FILE: k1.file },
      },
    )
    expect(u.code, u.stderr).toBe(0)
    expect(check(["recipients"], { SOPS_AGE_KEY_FILE: k2.file })).toMatchObject({ code: 0, stdout: "" })
  })

  it("a stale MAC with a key; without one it says not checked: no key once and passes", () => {
    sopsEncrypt("mac/a.yaml", secret, ["--age", k1.recipient, "--encrypted-regex", "^(data|stringData)$"])
    sopsEncrypt("mac/b.yaml", secret, ["--age", k1.recipient, "--encrypted-regex", "^(data|stringData)$"])
    // a hand edit of a value the MAC covers (sops' MAC is over every value, encrypted or not)
    put(
      "mac/a.yaml",
      readFileSync(join(p.dir, "mac/a.yaml"), "utf8").replace("name: basic-auth", "name: other"),
    )
    const r = check(["mac"], { SOPS_AGE_KEY_FILE: k1.file })
    expect(r.code, r.stderr).toBe(1)
    expect(r.stdout).toBe(
      "mac/a.yaml:sops.mac: the MAC does not match the values (changed after encryption, by hand or by a merge) — check the values with kustodian decrypt --ignore-mac mac/a.yaml, then kustodian edit --ignore-mac mac/a.yaml and save to write a new MAC, or restore the file from git\n",
    )
    const none = check(["mac"])
    expect([none.code, none.stdout]).toEqual([0, ""])
    expect(none.stderr.match(/not checked: no key/g)).toHaveLength(1)
    expect(none.stderr).toContain("MACs of 2 encrypted file(s) not checked: no key")
    // a key that opens neither file is no key either
    const other = check(["mac"], { SOPS_AGE_KEY_FILE: k2.file })
    expect([other.code, other.stdout]).toEqual([0, ""])
    expect(other.stderr).toContain("not checked: no key")
  })

  it("a .sops.pub.asc that is not the rule's pgp key, and one holding a private key", () => {
    const g = tempGnupgHome()
    try {
      const ruleKey = makeGpgKey(g.home, "rule")
      const other = makeGpgKey(g.home, "other")
      const gpg = (args: ReadonlyArray<string>) =>
        execFileSync(toolPath("gpg"), ["--batch", "--homedir", g.home, ...args], { encoding: "utf8" })
      put(
        "pub/.sops.yaml",
        `creation_rules:\n  - path_regex: .*.yaml\n    encrypted_regex: ^(data|stringData)$\n    pgp: ${ruleKey.fp}\n`,
      )
      put("pub/.sops.pub.asc", gpg(["--export", "--armor", other.fp]))
      const r = check(["pub"])
      expect(r.code, r.stderr).toBe(1)
      expect(r.stdout).toBe(
        `pub/.sops.pub.asc:fingerprint: key ${other.fp} is not the pgp key of .sops.yaml (${ruleKey.fp}) — gpg --export --armor ${ruleKey.fp} > .sops.pub.asc\n`,
      )
      put("pub/.sops.pub.asc", gpg(["--export", "--armor", ruleKey.fp]))
      expect(check(["pub"])).toMatchObject({ code: 0, stdout: "" })
      put("pub/.sops.pub.asc", ruleKey.armored)
      const priv = check(["pub"])
      expect(priv.code).toBe(1)
      expect(priv.stdout).toBe(
        "pub/.sops.pub.asc:-: holds a PRIVATE key: anyone with the repository can decrypt — remove it from git history, rotate the key, commit gpg --export --armor FINGERPRINT (public only)\n",
      )
    } finally {
      g.dispose()
    }
  })

  it("--format=json, usage mistakes (exit 2), --help, symlinks leaving PATH not followed", () => {
    const j = check(["--format=json", "plain", "uncovered"])
    expect(j.code).toBe(1)
    expect(JSON.parse(j.stdout)).toEqual([
      {
        file: "uncovered/apps/basic-auth.yaml",
        path: "stringData",
        kind: "uncovered",
        message: "Secret default/basic-auth is in a file no creation rule of uncovered/.sops.yaml covers",
        fix: "add a creation rule whose path_regex matches uncovered/apps/basic-auth.yaml, then kustodian encrypt -i uncovered/apps/basic-auth.yaml",
      },
    ])
    expect(check(["--format=xml"])).toMatchObject({ code: 2 })
    expect(check(["--bogus"]).code).toBe(2)
    expect(check(["does-not-exist"]).code).toBe(2)
    const help = check(["--help"])
    expect([help.code, help.stdout.startsWith("usage: kustodian check")]).toEqual([0, true])
    // a link to a plaintext Secret outside PATH: not read, said so
    put("outside/basic-auth.yaml", secret)
    put("linked/.sops.yaml", rule("\\.yaml$", k1.recipient))
    symlinkSync(join(p.dir, "outside/basic-auth.yaml"), join(p.dir, "linked/basic-auth.yaml"))
    const l = check(["linked"])
    expect([l.code, l.stdout]).toEqual([0, ""])
    expect(l.stderr).toContain("basic-auth.yaml: symbolic link leaving the checked path, not followed")
  })

  it("no finding on the seed's own files (OpenPGP key, .sops.yaml, .sops.pub.asc, basic-auth, Flux manifests)", async () => {
    const g = tempGnupgHome()
    try {
      const key = await generateGpgKey(g.home)
      const dir = join(p.dir, "seed/clusters/cluster0")
      mkdirSync(dir, { recursive: true })
      writeFileSync(
        join(dir, ".sops.yaml"),
        `creation_rules:\n- path_regex: .*.yaml\n  encrypted_regex: ^(data|stringData)$\n  pgp: ${key.fingerprint}\n`,
      )
      writeFileSync(
        join(dir, ".sops.pub.asc"),
        execFileSync(toolPath("gpg"), ["--batch", "--export", "--armor", key.fingerprint], {
          env: { ...process.env, GNUPGHOME: key.home },
        }),
      )
      await sopsEncryptInPlace(
        join(dir, "basic-auth.yaml"),
        await secretManifest("default", "basic-auth", { user: "admin", password: "change-me" }),
        [],
        { GNUPGHOME: key.home },
      )
      for (const m of ["gitrepository.yaml", "kustomization.yaml", "flux-create-export.yaml"])
        writeFileSync(
          join(p.dir, "seed", m),
          readFileSync(join(repoRoot, "model/testdata/seed-manifests", m)),
        )
      const withKey = check(["seed"], { GNUPGHOME: key.home })
      expect([withKey.code, withKey.stdout], withKey.stderr).toEqual([0, ""])
      expect(withKey.stderr).not.toContain("not checked")
      expect(withKey.stderr).toContain("no findings in 4 file(s)")
      const noKey = check(["seed"])
      expect([noKey.code, noKey.stdout], noKey.stderr).toEqual([0, ""])
      expect(noKey.stderr).toContain("not checked: no key")
    } finally {
      g.dispose()
    }
  })
})
