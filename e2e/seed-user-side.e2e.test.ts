/**
 * Issue 15's acceptance: the seed's whole user side ("Manage Kubernetes secrets with SOPS") done with the built
 * `kustodian` — the bundle the published package ships (`scripts/bundle.ts`, as `npm pack` builds it), run from
 * a directory outside the repository — instead of gpg, age-keygen, kubectl create secret, sops and flux: key
 * generation with the seed's parameters, the decryption Secret applied to the cluster, the seed's `.sops.yaml`,
 * `encrypt --in-place` of basic-auth.yaml, the GitRepository and Kustomization from `create … --export` applied
 * with kubectl as the seed's GitOps section does. The operator (the same bundle, `kustodian controller`) then
 * reconciles it: Ready, and the Secret decrypted in the cluster. The committed file also decrypts with the real
 * sops (and gpg) from the tool cache.
 *
 * One step stays gpg's for OpenPGP, as in the seed and in sops: a team member encrypting to the fingerprint
 * imports the committed `.sops.pub.asc` into a keyring (`gpg --import`), which is where `kustodian encrypt`,
 * like sops, looks a PGP recipient up. The age scenario needs no other tool at all.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { parse } from "yaml"
import { gnupgHome, gpg } from "../operator/src/sops/testing/gpg.ts"
import {
  createTestNamespace,
  installFluxCrds,
  kubectl,
  runKubectl,
  secretValues,
  testKubeconfigPath,
} from "./support/cluster.ts"
import { commitFiles, createBareRepo, gitHttpServer } from "./support/git-server.ts"
import { operatorProcess } from "./support/operator-process.ts"
import { logTail } from "./support/process.ts"
import { scratchDir } from "./support/seed.ts"
import { repoRoot, toolPath } from "./support/tools.ts"

const build = mkdtempSync(join(tmpdir(), "kustodian-user-side-"))
const cli = join(build, "cli", "kustodian.mjs")
beforeAll(() => {
  execFileSync(
    process.execPath,
    [join(repoRoot, "scripts/bundle.ts"), "--outdir", join(build, "cli"), "--no-sourcemap"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  )
}, 300_000)
afterAll(() => rmSync(build, { recursive: true, force: true }))

/** The built `kustodian`, with the user's environment: PATH (kubectl is not needed), HOME, and what a step adds. */
const kustodian = (args: ReadonlyArray<string>, cwd: string, env: NodeJS.ProcessEnv = {}) => {
  const r = spawnSync(process.execPath, [cli, ...args], {
    cwd,
    env: { PATH: "/usr/bin:/bin", HOME: cwd, ...env },
    encoding: "utf8",
  })
  if (r.status !== 0) throw new Error(`kustodian ${args.join(" ")}: exit ${r.status}: ${r.stderr}`)
  return r
}

/** What `kubectl -n NS create secret generic basic-auth --from-literal=… --dry-run=client -o yaml` prints. */
const basicAuth = (ns: string) => `apiVersion: v1
data:
  password: ${Buffer.from("change-me").toString("base64")}
  user: ${Buffer.from("admin").toString("base64")}
kind: Secret
metadata:
  creationTimestamp: null
  name: basic-auth
  namespace: ${ns}
`

/** The seed's `.sops.yaml`, with the key of a scenario. */
const sopsYaml = (key: string) => `creation_rules:
- path_regex: .*.yaml
  encrypted_regex: ^(data|stringData)$
  ${key}
`

/** A namespace, a git server with `my-secrets`, the CRDs, the operator (the built bundle) watching the namespace. */
const setup = (prefix: string) =>
  Effect.gen(function* () {
    yield* Effect.promise(() => installFluxCrds())
    const ns = yield* Effect.promise(() => createTestNamespace(prefix))
    const server = yield* gitHttpServer()
    const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "my-secrets"))
    const operator = yield* operatorProcess({
      kubeconfig: testKubeconfigPath(),
      namespace: ns,
      entry: { bundle: cli },
    })
    yield* Effect.addFinalizer((exit) =>
      exit._tag === "Success"
        ? Effect.void
        : Effect.promise(async () => {
            const objects = await runKubectl(["-n", ns, "get", "gitrepository,kustomization", "-o", "yaml"])
            console.error(`--- ${ns} objects ---\n${objects.stdout}${objects.stderr}`)
            console.error(`--- operator log (last lines) ---\n${logTail(operator.logFile, 40)}`)
          }),
    )
    const work = yield* scratchDir(`kustodian-${prefix}-`)
    const cluster0 = join(work, "clusters/cluster0")
    mkdirSync(cluster0, { recursive: true })
    return { ns, bare, url: server.repoUrl("my-secrets"), work, cluster0 }
  })

/**
 * The seed's `.sops.yaml` and basic-auth.yaml, encrypted in place by `kustodian encrypt` (the creation rule found
 * from the file's directory), committed with `extra` files; returns the encrypted text.
 */
const encryptAndPush = (
  s: { ns: string; bare: string; cluster0: string },
  key: string,
  env: NodeJS.ProcessEnv,
  extra: Readonly<Record<string, string>> = {},
) =>
  Effect.promise(async () => {
    writeFileSync(join(s.cluster0, ".sops.yaml"), sopsYaml(key))
    writeFileSync(join(s.cluster0, "basic-auth.yaml"), basicAuth(s.ns))
    kustodian(["encrypt", "--in-place", "basic-auth.yaml"], s.cluster0, env)
    const encrypted = readFileSync(join(s.cluster0, "basic-auth.yaml"), "utf8")
    expect(encrypted).toContain("password: ENC[AES256_GCM,")
    expect(encrypted).not.toContain(Buffer.from("change-me").toString("base64"))
    expect(encrypted).toContain("encrypted_regex: ^(data|stringData)$")
    expect(encrypted).toContain("name: basic-auth") // metadata stays readable, as the seed's rule says
    await commitFiles(
      s.bare,
      {
        "clusters/cluster0/.sops.yaml": sopsYaml(key),
        "clusters/cluster0/basic-auth.yaml": encrypted,
        ...extra,
      },
      { branch: "main" },
    )
    return encrypted
  })

/** `kustodian create source git` / `create kustomization … --export`, applied with kubectl; waits for Ready. */
const exportAndApply = (s: { ns: string; url: string; work: string }, decryptionSecret: string) =>
  Effect.promise(async () => {
    const source = kustodian(
      ["create", "source", "git", "my-secrets", `--url=${s.url}`, "--branch=main", "-n", s.ns, "--export"],
      s.work,
    ).stdout
    const kustomization = kustodian(
      [
        "create",
        "kustomization",
        "my-secrets",
        "--source=my-secrets",
        "--path=./clusters/cluster0",
        "--prune=true",
        "--interval=10m",
        "--decryption-provider=sops",
        `--decryption-secret=${decryptionSecret}`,
        "-n",
        s.ns,
        "--export",
      ],
      s.work,
    ).stdout
    expect(source).toContain("kind: GitRepository")
    expect(kustomization).toContain(`name: ${decryptionSecret}`)
    writeFileSync(join(s.work, "gotk-sync.yaml"), `${source}---\n${kustomization}`)
    await kubectl(["apply", "-f", join(s.work, "gotk-sync.yaml")])
    await kubectl(["-n", s.ns, "wait", "--for=condition=Ready", "--timeout=120s", "kustomization/my-secrets"])
    const ready = JSON.parse(
      await kubectl(["-n", s.ns, "get", "kustomization", "my-secrets", "-o", "json"]),
    ) as {
      status: { conditions: Array<{ type: string; reason: string; message: string }> }
    }
    const condition = ready.status.conditions.find((c) => c.type === "Ready")
    expect(condition?.reason).toBe("ReconciliationSucceeded")
    expect(condition?.message).toMatch(/^Applied revision: main@sha1:[0-9a-f]{40}$/)
  })

/** `sops decrypt FILE` with the real sops from the tool cache, parsed (sops re-indents YAML by 4). */
const sopsDecrypt = (file: string, env: NodeJS.ProcessEnv) =>
  parse(
    execFileSync(toolPath("sops"), ["decrypt", file], {
      env: { PATH: "/usr/bin:/bin", ...env },
      encoding: "utf8",
    }),
  ) as unknown

describe("the seed's user side with kustodian alone, reconciled by the operator", () => {
  it.live(
    "age: keygen age, create secret sops-age, .sops.yaml, encrypt -i, create … --export → Ready, decrypted; the real sops decrypts it",
    () =>
      Effect.gen(function* () {
        const s = yield* setup("user-side-age")
        const keygen = kustodian(["keygen", "age", "-o", "age.agekey"], s.work)
        const recipient = /^Public key: (age1[0-9a-z]+)\n$/.exec(keygen.stderr)?.[1]
        expect(recipient).toBeDefined()
        expect(statSync(join(s.work, "age.agekey")).mode & 0o777).toBe(0o600)
        const applied = kustodian(
          [
            "create",
            "secret",
            "sops-age",
            "sops-age",
            `--namespace=${s.ns}`,
            "--from-file=age.agekey=age.agekey",
            "--apply",
            `--kubeconfig=${testKubeconfigPath()}`,
          ],
          s.work,
        )
        expect(applied.stderr).toBe(`secret/sops-age applied in namespace ${s.ns}\n`)
        expect(yield* secretValues(s.ns, "sops-age")).toEqual({
          "age.agekey": readFileSync(join(s.work, "age.agekey"), "utf8"),
        })

        const encrypted = yield* encryptAndPush(s, `age: ${recipient}`, {})
        yield* exportAndApply(s, "sops-age")
        expect(yield* secretValues(s.ns, "basic-auth")).toEqual({ user: "admin", password: "change-me" })

        // The same file with the real sops and the key file.
        writeFileSync(join(s.work, "committed.yaml"), encrypted)
        const bySops = sopsDecrypt(join(s.work, "committed.yaml"), {
          HOME: s.work,
          SOPS_AGE_KEY_FILE: join(s.work, "age.agekey"),
        })
        expect(bySops).toEqual(parse(basicAuth(s.ns)))
      }).pipe(Effect.scoped),
    300_000,
  )

  it.live(
    "OpenPGP: keygen pgp with the seed's parameters, create secret sops-gpg, .sops.pub.asc, encrypt -i → Ready; sops and gpg decrypt it",
    () =>
      Effect.gen(function* () {
        const s = yield* setup("user-side-pgp")
        const keygen = kustodian(
          [
            "keygen",
            "pgp",
            "--name=cluster0.yourdomain.com",
            "--comment=flux secrets",
            "-o",
            "private.asc",
            "--public=clusters/cluster0/.sops.pub.asc",
          ],
          s.work,
        )
        const fingerprint = /^Fingerprint: ([0-9A-F]{40})\n$/.exec(keygen.stderr)?.[1]
        expect(fingerprint).toBeDefined()
        expect(statSync(join(s.work, "private.asc")).mode & 0o777).toBe(0o600)
        kustodian(
          [
            "create",
            "secret",
            "sops-gpg",
            "sops-gpg",
            "-n",
            s.ns,
            "--from-file=sops.asc=private.asc",
            "--apply",
            `--kubeconfig=${testKubeconfigPath()}`,
          ],
          s.work,
        )
        expect(Object.keys(yield* secretValues(s.ns, "sops-gpg"))).toEqual(["sops.asc"])

        // The key gpg sees is the seed's: rsa4096 primary and subkey, no expiry, the seed's user ID.
        const publicKey = readFileSync(join(s.cluster0, ".sops.pub.asc"), "utf8")
        expect(publicKey).toContain("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        const team = yield* gnupgHome([publicKey])
        const colons = gpg(team, ["--with-colons", "--list-keys", fingerprint!]).split("\n")
        const pub = colons.find((l) => l.startsWith("pub:"))!.split(":")
        const sub = colons.find((l) => l.startsWith("sub:"))!.split(":")
        expect([pub[2], pub[3], pub[6]]).toEqual(["4096", "1", ""]) // bits, RSA, no expiry
        expect([sub[2], sub[3], sub[6], sub[11]]).toEqual(["4096", "1", "", "e"])
        expect(colons.find((l) => l.startsWith("uid:"))!.split(":")[9]).toBe(
          "cluster0.yourdomain.com (flux secrets)",
        )

        // A team member encrypts with the committed public key (imported above, the seed's `gpg --import`).
        const encrypted = yield* encryptAndPush(
          s,
          `pgp: ${fingerprint}`,
          { GNUPGHOME: team },
          { "clusters/cluster0/.sops.pub.asc": publicKey },
        )
        expect(encrypted).toContain(`fp: ${fingerprint}`)
        yield* exportAndApply(s, "sops-gpg")
        expect(yield* secretValues(s.ns, "basic-auth")).toEqual({ user: "admin", password: "change-me" })

        // The same file with the real sops and gpg, holding the private key.
        const admin = yield* gnupgHome([readFileSync(join(s.work, "private.asc"), "utf8")])
        writeFileSync(join(s.work, "committed.yaml"), encrypted)
        const bySops = sopsDecrypt(join(s.work, "committed.yaml"), { HOME: s.work, GNUPGHOME: admin })
        expect(bySops).toEqual(parse(basicAuth(s.ns)))
      }).pipe(Effect.scoped),
    300_000,
  )
})
