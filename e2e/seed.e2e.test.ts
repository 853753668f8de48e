/**
 * The seed ("Manage Kubernetes secrets with SOPS") end to end, as a user would run it: real gpg, age-keygen,
 * kubectl and sops on the user's side; a real git server; the operator as its own process (`kustodian
 * controller`) against the real kube-apiserver; the seed's GitRepository and Kustomization applied as written
 * (only the namespace and the repository URL point at this test's).
 */
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { runKustodian } from "../operator/src/cli/testing/kustodian-process.ts"
import { createTestNamespace, kubectl, runKubectl, testKubeconfigPath } from "./support/cluster.ts"
import { eventually } from "./support/eventually.ts"
import { commitFiles, createBareRepo, gitHttpServer } from "./support/git-server.ts"
import { operatorProcess } from "./support/operator-process.ts"
import { logTail } from "./support/process.ts"
import {
  generateAgeKey,
  generateGpgKey,
  scratchDir,
  secretManifest,
  seedManifest,
  seedStep,
  sopsEncryptInPlace,
} from "./support/seed.ts"
import { repoRoot } from "./support/tools.ts"

/** The seed's GitRepository names no ref, so Flux's default branch applies. */
const seedBranch = "master"

const crds = [
  "crds/source.toolkit.fluxcd.io_gitrepositories.yaml",
  "crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml",
  "crds/kustodian.io_reconcilejournals.yaml",
]

const installCrds = Effect.promise(async () => {
  await kubectl([
    "apply",
    "--server-side",
    "--force-conflicts",
    ...crds.flatMap((f) => ["-f", join(repoRoot, f)]),
  ])
  await kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/gitrepositories.source.toolkit.fluxcd.io",
    "crd/kustomizations.kustomize.toolkit.fluxcd.io",
  ])
})

const secretValues = (ns: string, name: string) =>
  Effect.promise(async () => {
    const r = await runKubectl(["-n", ns, "get", "secret", name, "-o", "json"])
    if (r.code !== 0) return undefined
    const data = (JSON.parse(r.stdout) as { data?: Record<string, string> }).data ?? {}
    return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]))
  })

interface Ready {
  readonly status: string
  readonly reason: string
  readonly message: string
}

const readyOf = (ns: string, kind: string, name: string) =>
  Effect.promise(async (): Promise<Ready | undefined> => {
    const r = await runKubectl(["-n", ns, "get", kind, name, "-o", "json"])
    if (r.code !== 0) return undefined
    const conditions = (JSON.parse(r.stdout) as { status?: { conditions?: Array<Ready & { type: string }> } })
      .status?.conditions
    return conditions?.find((c) => c.type === "Ready")
  })

/** Polls until `check` gives a value (what a user does with `kubectl get -w`). */
const until = <A>(what: string, check: Effect.Effect<A | undefined>) =>
  eventually(what, check.pipe(Effect.map(Option.fromNullishOr)), 90_000, 500)

/** `flux reconcile source git`: ask for a fetch now instead of waiting for the interval. */
const requestReconcile = (ns: string, kind: string, name: string) =>
  Effect.promise(() =>
    kubectl([
      "-n",
      ns,
      "annotate",
      "--overwrite",
      kind,
      name,
      `reconcile.fluxcd.io/requestedAt=${new Date().toISOString()}`,
    ]),
  )

/** A namespace, a git server with the repository `my-secrets`, the CRDs and the operator watching the namespace. */
const setup = (prefix: string) =>
  Effect.gen(function* () {
    yield* installCrds
    const ns = yield* Effect.promise(() => createTestNamespace(prefix))
    const server = yield* gitHttpServer()
    const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "my-secrets"))
    const operator = yield* operatorProcess({ kubeconfig: testKubeconfigPath(), namespace: ns })
    // When a step fails, show what a user would look at: the objects' status and the operator's log.
    yield* Effect.addFinalizer((exit) =>
      exit._tag === "Success"
        ? Effect.void
        : Effect.promise(async () => {
            const objects = await runKubectl(["-n", ns, "get", "gitrepository,kustomization", "-o", "yaml"])
            console.error(`--- ${ns} objects ---\n${objects.stdout}${objects.stderr}`)
            console.error(`--- operator log (last lines) ---\n${logTail(operator.logFile, 40)}`)
          }),
    )
    return { ns, server, bare, url: server.repoUrl("my-secrets") }
  })

describe("the seed, end to end", () => {
  it.live(
    "OpenPGP: seed key, sops-gpg Secret, .sops.yaml creation rule, encrypted basic-auth → plaintext Secret in the cluster",
    () =>
      Effect.gen(function* () {
        const { ns, bare, url } = yield* setup("seed-pgp")
        const work = yield* scratchDir("kustodian-seed-pgp-")
        const key = yield* Effect.promise(() => generateGpgKey(join(work, "gnupg")))

        yield* Effect.promise(() =>
          seedStep(
            `gpg --export-secret-keys --armor "\${KEY_FP}" |
             kubectl create secret generic sops-gpg --namespace=${ns} --from-file=sops.asc=/dev/stdin`,
            testKubeconfigPath(),
            { GNUPGHOME: key.home, KEY_FP: key.fingerprint },
          ),
        )

        const dir = join(work, "clusters/cluster0")
        const sopsYaml = `creation_rules:\n- path_regex: .*.yaml\n  encrypted_regex: ^(data|stringData)$\n  pgp: ${key.fingerprint}\n`
        const plain = yield* Effect.promise(() =>
          secretManifest(ns, "basic-auth", { user: "admin", password: "change-me" }),
        )
        yield* Effect.promise(() =>
          mkdir(dir, { recursive: true }).then(() => writeFile(join(dir, ".sops.yaml"), sopsYaml)),
        )
        const encrypted = yield* Effect.promise(() =>
          sopsEncryptInPlace(join(dir, "basic-auth.yaml"), plain, [], { GNUPGHOME: key.home }),
        )
        expect(encrypted).toContain("ENC[AES256_GCM,")
        expect(encrypted).not.toContain("Y2hhbmdlLW1l") // base64 of change-me

        yield* Effect.promise(() =>
          commitFiles(
            bare,
            { "clusters/cluster0/.sops.yaml": sopsYaml, "clusters/cluster0/basic-auth.yaml": encrypted },
            { branch: seedBranch },
          ),
        )
        for (const which of ["gitrepository", "kustomization"] as const) {
          const manifest = yield* Effect.promise(() => seedManifest(which, { namespace: ns, url }))
          yield* Effect.promise(() => kubectl(["apply", "-f", "-"], { input: manifest }))
        }

        yield* Effect.promise(() =>
          kubectl(["-n", ns, "wait", "--for=condition=Ready", "--timeout=120s", "kustomization/my-secrets"]),
        )
        expect(yield* secretValues(ns, "basic-auth")).toEqual({ user: "admin", password: "change-me" })
        const ready = yield* readyOf(ns, "kustomization", "my-secrets")
        expect(ready?.reason).toBe("ReconciliationSucceeded")
        expect(ready?.message).toMatch(/^Applied revision: master@sha1:[0-9a-f]{40}$/)
      }).pipe(Effect.scoped),
    300_000,
  )

  it.live(
    "age: sops-age Secret with age.agekey, --encrypted-regex; then change, tamper, the encrypted_regex conflict, prune",
    () =>
      Effect.gen(function* () {
        const { ns, bare, url } = yield* setup("seed-age")
        const work = yield* scratchDir("kustodian-seed-age-")
        const age = yield* Effect.promise(() => generateAgeKey(work))
        yield* Effect.promise(() =>
          seedStep(
            `cat ${age.keyFile} | kubectl create secret generic sops-age --namespace=${ns} --from-file=age.agekey=/dev/stdin`,
            testKubeconfigPath(),
          ),
        )
        const encryptSecret = (password: string) =>
          Effect.promise(async () =>
            sopsEncryptInPlace(
              join(work, "repo/basic-auth.yaml"),
              await secretManifest(ns, "basic-auth", { user: "admin", password }),
              [`--age=${age.recipient}`, "--encrypted-regex", "^(data|stringData)$"],
            ),
          )
        const commits: string[] = []
        const push = (files: Readonly<Record<string, string | null>>) =>
          Effect.promise(() => commitFiles(bare, files, { branch: seedBranch })).pipe(
            Effect.tap((sha) => Effect.sync(() => commits.push(sha))),
            Effect.andThen(requestReconcile(ns, "gitrepository", "my-secrets")),
          )

        const first = yield* encryptSecret("change-me")
        commits.push(
          yield* Effect.promise(() =>
            commitFiles(bare, { "basic-auth.yaml": first }, { branch: seedBranch }),
          ),
        )
        yield* Effect.promise(async () => {
          await kubectl(["apply", "-f", "-"], {
            input: await seedManifest("gitrepository", { namespace: ns, url }),
          })
          await kubectl(["apply", "-f", "-"], {
            input: await seedManifest("kustomization", { namespace: ns, url, decryptionSecret: "sops-age" }),
          })
          await kubectl([
            "-n",
            ns,
            "wait",
            "--for=condition=Ready",
            "--timeout=120s",
            "kustomization/my-secrets",
          ])
        })
        expect(yield* secretValues(ns, "basic-auth")).toEqual({ user: "admin", password: "change-me" })

        // A changed secret in Git: the cluster follows.
        yield* push({ "basic-auth.yaml": yield* encryptSecret("rotated-1") })
        yield* until(
          "the rotated password in the cluster",
          secretValues(ns, "basic-auth").pipe(
            Effect.map((v) => (v?.password === "rotated-1" ? v : undefined)),
          ),
        )

        // A tampered file: Ready=False with a clear message, and the cluster keeps what it had.
        const good = yield* encryptSecret("rotated-2")
        const tampered = good.replace(
          /(password: ENC\[AES256_GCM,data:)(.)/,
          (_m, head: string, c: string) => `${head}${c === "A" ? "B" : "A"}`,
        )
        expect(tampered).not.toBe(good)
        yield* push({ "basic-auth.yaml": tampered })
        const failed = yield* until(
          "Ready=False after the tampered push",
          readyOf(ns, "kustomization", "my-secrets").pipe(
            Effect.map((r) => (r?.status === "False" && r.reason === "BuildFailed" ? r : undefined)),
          ),
        )
        expect(failed.message).toContain("basic-auth.yaml")
        expect(failed.message).not.toContain("rotated")
        expect(yield* secretValues(ns, "basic-auth")).toEqual({ user: "admin", password: "rotated-1" })

        // The seed's encrypted_regex conflict: a directory with its own kustomization.yaml (listed as a whole by
        // the kustomization generated for the seed's path ./), whose patch adds plaintext env. Applied correctly.
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
      resources:
        limits:
          memory: 50Mi
          cpu: 50m
`
        const encryptedPod = yield* Effect.promise(() =>
          sopsEncryptInPlace(join(work, "repo/conflict/pod.yaml"), pod, [
            `--age=${age.recipient}`,
            "--encrypted-regex",
            "^env$",
          ]),
        )
        expect(encryptedPod).not.toContain("secret value")
        const patch = `apiVersion: v1
kind: Pod
metadata:
  name: pod
spec:
  containers:
    - name: patched
      image: nginx:stable-alpine
      env:
        - name: MainEnvValueIsEncrypted
          value: but this one is not
`
        yield* push({
          "basic-auth.yaml": good,
          "conflict/pod.yaml": encryptedPod,
          "conflict/patch.yaml": patch,
          "conflict/kustomization.yaml": `namespace: ${ns}\nresources:\n  - pod.yaml\npatches:\n  - path: patch.yaml\n`,
        })
        const podJson = yield* until(
          "the Pod of the encrypted_regex conflict",
          Effect.promise(async () => {
            const r = await runKubectl(["-n", ns, "get", "pod", "pod", "-o", "json"])
            return r.code === 0 ? r.stdout : undefined
          }),
        )
        const containers = (
          JSON.parse(podJson) as {
            spec: { containers: Array<{ name: string; env: Array<{ name: string; value: string }> }> }
          }
        ).spec.containers
        expect(Object.fromEntries(containers.map((c) => [c.name, c.env]))).toEqual({
          main: [{ name: "SECRET_NAME", value: "secret value" }],
          patched: [{ name: "MainEnvValueIsEncrypted", value: "but this one is not" }],
        })
        yield* until(
          "the good file after the tampered one",
          secretValues(ns, "basic-auth").pipe(
            Effect.map((v) => (v?.password === "rotated-2" ? v : undefined)),
          ),
        )

        // The file leaves Git: the Secret is pruned.
        yield* push({ "basic-auth.yaml": null })
        yield* until(
          "basic-auth pruned",
          secretValues(ns, "basic-auth").pipe(Effect.map((v) => (v === undefined ? true : undefined))),
        )
        const ready = yield* readyOf(ns, "kustomization", "my-secrets")
        expect(ready?.status).toBe("True")

        // The journals record what was applied and pruned (object ids, actions), never a value.
        const journals = yield* Effect.promise(() =>
          kubectl(["-n", ns, "get", "reconcilejournals.kustodian.io", "-o", "json"]),
        )
        expect(journals).toContain(`Secret/${ns}/basic-auth`)
        expect(journals).toContain('"deleted"')
        for (const secret of ["change-me", "rotated-1", "rotated-2", "secret value"])
          for (const form of [secret, Buffer.from(secret).toString("base64")])
            expect(journals).not.toContain(form)

        // `kustodian history`: every commit's revision in order, what it created, configured, deleted or why it failed.
        const cli = (args: ReadonlyArray<string>) =>
          runKustodian([...args, `--kubeconfig=${testKubeconfigPath()}`], {
            env: { PATH: process.env.PATH, HOME: process.env.HOME },
          })
        const history = cli(["history", "kustomization", "my-secrets", "-n", ns, "-o", "json"])
        expect(history.stderr).toBe("")
        expect(history.code).toBe(0)
        type Entry = {
          revision?: string
          outcome: string
          failure?: { stage: string; reason: string }
          changes?: Array<{ subject: string; action: string }>
        }
        const entries = (JSON.parse(history.stdout) as { entries: Entry[] }).entries
        const revisions = entries
          .map((e) => e.revision)
          .filter((r, i, all) => r !== undefined && r !== all[i - 1])
        expect(revisions).toEqual(commits.map((sha) => `${seedBranch}@sha1:${sha}`))
        const at = (sha: string) => entries.find((e) => e.revision === `${seedBranch}@sha1:${sha}`)!
        const secret = `Secret/${ns}/basic-auth`
        expect(at(commits[0]!).changes).toContainEqual({ subject: secret, action: "created" })
        expect(at(commits[1]!).changes).toEqual([{ subject: secret, action: "configured" }])
        expect(at(commits[2]!)).toMatchObject({
          outcome: "Failed",
          failure: { reason: "BuildFailed", stage: "build" },
        })
        expect(at(commits[3]!).changes).toContainEqual({ subject: `Pod/${ns}/pod`, action: "created" })
        expect(at(commits[4]!).changes).toContainEqual({ subject: secret, action: "deleted" })
        const table = cli(["history", "ks", "my-secrets", "-n", ns])
        expect(table.stdout.split("\n")[0]).toMatch(
          /^TIME\s+COUNT\s+REVISION\s+CREATED\s+CONFIGURED\s+DELETED\s+STATUS$/,
        )
        expect(table.stdout).toContain("BuildFailed in build:")
        const last = cli(["history", "--object", secret, "-o", "json"])
        expect(JSON.parse(last.stdout)).toMatchObject({
          object: secret,
          action: "deleted",
          by: { kind: "Kustomization", namespace: ns, name: "my-secrets" },
          revision: `${seedBranch}@sha1:${commits[4]}`,
        })
      }).pipe(Effect.scoped),
    400_000,
  )
})
