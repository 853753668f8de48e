/**
 * The seed's user side done with `kustodian` instead of age-keygen, gpg, kubectl and flux: `keygen`, `create
 * secret … --apply` (server-side apply through the project's kube client), `create source git` and `create
 * kustomization --apply`, then the operator (its own process) decrypting a file the real sops encrypted to the
 * key, against the test control plane and a real git server.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  createTestNamespace,
  installFluxCrds,
  kubectl,
  runKubectl,
  secretValues,
  testKubeconfigPath,
} from "../../../e2e/support/cluster.ts"
import { commitFiles, createBareRepo, gitHttpServer } from "../../../e2e/support/git-server.ts"
import { operatorProcess } from "../../../e2e/support/operator-process.ts"
import { logTail } from "../../../e2e/support/process.ts"
import { scratchDir, secretManifest, sopsEncryptInPlace } from "../../../e2e/support/seed.ts"
import { gnupgHome } from "../sops/testing/gpg.ts"
import { runKustodian } from "./testing/kustodian-process.ts"

const kustodian = (args: ReadonlyArray<string>, cwd: string) => {
  const r = runKustodian(args, { cwd, env: { PATH: process.env.PATH, HOME: cwd } })
  if (r.code !== 0) throw new Error(`kustodian ${args.join(" ")}: exit ${r.code}: ${r.stderr}`)
  return r
}

/** A namespace, a git server with `my-secrets`, the CRDs, the operator watching the namespace. */
const setup = (prefix: string) =>
  Effect.gen(function* () {
    yield* Effect.promise(() => installFluxCrds())
    const ns = yield* Effect.promise(() => createTestNamespace(prefix))
    const server = yield* gitHttpServer()
    const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "my-secrets"))
    const operator = yield* operatorProcess({ kubeconfig: testKubeconfigPath(), namespace: ns })
    yield* Effect.addFinalizer((exit) =>
      exit._tag === "Success"
        ? Effect.void
        : Effect.promise(async () => {
            const objects = await runKubectl(["-n", ns, "get", "gitrepository,kustomization", "-o", "yaml"])
            console.error(`--- ${ns} objects ---\n${objects.stdout}${objects.stderr}`)
            console.error(`--- operator log (last lines) ---\n${logTail(operator.logFile, 40)}`)
          }),
    )
    return { ns, bare, url: server.repoUrl("my-secrets") }
  })

/** `kustodian create source git` + `create kustomization --decryption-secret`, applied; waits for Ready. */
const applyFluxObjects = (ns: string, url: string, secret: string, work: string) =>
  Effect.promise(async () => {
    const kc = `--kubeconfig=${testKubeconfigPath()}`
    const source = ["create", "source", "git", "my-secrets", `--url=${url}`, "--branch=main", "-n", ns]
    kustodian([...source, "--apply", kc], work)
    const ks = [
      "create",
      "kustomization",
      "my-secrets",
      "--source=my-secrets",
      "--path=./clusters/cluster0",
      "--prune=true",
      "--interval=10m",
      "--decryption-provider=sops",
      `--decryption-secret=${secret}`,
      "-n",
      ns,
    ]
    const applied = kustodian([...ks, "--apply", kc], work)
    expect(applied.stderr).toBe(
      `kustomization.kustomize.toolkit.fluxcd.io/my-secrets applied in namespace ${ns}\n`,
    )
    // what --apply sent is what --export prints
    const live = await kubectl(["-n", ns, "get", "kustomization", "my-secrets", "-o", "json"])
    expect((JSON.parse(live) as { spec: unknown }).spec).toMatchObject({
      decryption: { provider: "sops", secretRef: { name: secret } },
      interval: "10m0s",
      path: "./clusters/cluster0",
      prune: true,
      sourceRef: { kind: "GitRepository", name: "my-secrets" },
    })
    await kubectl(["-n", ns, "wait", "--for=condition=Ready", "--timeout=120s", "kustomization/my-secrets"])
  })

describe("kustodian create secret --apply, decrypted by the operator", () => {
  it.live(
    "age: keygen age → create secret sops-age --apply → sops --age → Kustomization Ready, Secret decrypted",
    () =>
      Effect.gen(function* () {
        const { ns, bare, url } = yield* setup("cli-age")
        const work = yield* scratchDir("kustodian-cli-age-")
        const keygen = kustodian(["keygen", "age", "-o", "age.agekey"], work)
        const recipient = /^Public key: (age1\S+)\n$/.exec(keygen.stderr)![1]!
        const applied = kustodian(
          [
            "create",
            "secret",
            "sops-age",
            "sops-age",
            `-n=${ns}`,
            "--from-file=age.agekey",
            "--apply",
          ].concat(`--kubeconfig=${testKubeconfigPath()}`),
          work,
        )
        expect(applied.stdout).toBe("")
        expect(applied.stderr).toBe(`secret/sops-age applied in namespace ${ns}\n`)
        expect(yield* secretValues(ns, "sops-age")).toEqual({
          "age.agekey": readFileSync(join(work, "age.agekey"), "utf8"),
        })

        const plain = yield* Effect.promise(() =>
          secretManifest(ns, "basic-auth", { user: "admin", password: "change-me" }),
        )
        const encrypted = yield* Effect.promise(() =>
          sopsEncryptInPlace(join(work, "repo/basic-auth.yaml"), plain, [
            `--age=${recipient}`,
            "--encrypted-regex",
            "^(data|stringData)$",
          ]),
        )
        expect(encrypted).not.toContain("Y2hhbmdlLW1l")
        yield* Effect.promise(() =>
          commitFiles(bare, { "clusters/cluster0/basic-auth.yaml": encrypted }, { branch: "main" }),
        )
        yield* applyFluxObjects(ns, url, "sops-age", work)
        expect(yield* secretValues(ns, "basic-auth")).toEqual({ user: "admin", password: "change-me" })
      }).pipe(Effect.scoped),
    300_000,
  )

  it.live(
    "OpenPGP: keygen pgp → create secret sops-gpg --apply → sops --pgp (public key only) → decrypted",
    () =>
      Effect.gen(function* () {
        const { ns, bare, url } = yield* setup("cli-pgp")
        const work = yield* scratchDir("kustodian-cli-pgp-")
        const keygen = kustodian(
          [
            "keygen",
            "pgp",
            "--name=cluster0.yourdomain.com",
            "--comment=flux secrets",
            "-o",
            "private.asc",
          ].concat("--public=.sops.pub.asc"),
          work,
        )
        const fingerprint = /^Fingerprint: ([0-9A-F]{40})\n$/.exec(keygen.stderr)![1]!
        kustodian(
          [
            "create",
            "secret",
            "sops-gpg",
            "sops-gpg",
            "-n",
            ns,
            "--from-file=sops.asc=private.asc",
            "--apply",
          ].concat(`--kubeconfig=${testKubeconfigPath()}`),
          work,
        )
        // a team member encrypts with the committed public key only
        const home = yield* gnupgHome([readFileSync(join(work, ".sops.pub.asc"), "utf8")])
        const plain = yield* Effect.promise(() =>
          secretManifest(ns, "basic-auth", { user: "admin", password: "s3cr3t" }),
        )
        const encrypted = yield* Effect.promise(() =>
          sopsEncryptInPlace(
            join(work, "repo/basic-auth.yaml"),
            plain,
            [`--pgp=${fingerprint}`, "--encrypted-regex", "^(data|stringData)$"],
            { GNUPGHOME: home },
          ),
        )
        yield* Effect.promise(() =>
          commitFiles(bare, { "clusters/cluster0/basic-auth.yaml": encrypted }, { branch: "main" }),
        )
        yield* applyFluxObjects(ns, url, "sops-gpg", work)
        expect(yield* secretValues(ns, "basic-auth")).toEqual({ user: "admin", password: "s3cr3t" })
      }).pipe(Effect.scoped),
    300_000,
  )
})
