/**
 * `kustodian build kustomization` and `kustodian diff kustomization` against the test control plane: a
 * repository with a Secret the real sops encrypted to a real age key, reconciled by the operator (its own
 * process) from a real git server; then `build` of the same checkout equals what the operator applied, masked
 * unless `--show-secrets`, and `diff` reports nothing (exit 0), then created, drifted and deleted objects (exit
 * 1) with no plaintext. And `build --dry-run` of a plain repository prints byte for byte what the real
 * `flux build kustomization --dry-run` prints.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as YAML from "yaml"
import {
  applyYaml,
  createTestNamespace,
  installFluxCrds,
  kubectl,
  runKubectl,
  testKubeconfigPath,
} from "../../../e2e/support/cluster.ts"
import { commitFiles, createBareRepo, gitHttpServer } from "../../../e2e/support/git-server.ts"
import { operatorProcess } from "../../../e2e/support/operator-process.ts"
import { logTail } from "../../../e2e/support/process.ts"
import { generateAgeKey, scratchDir, secretManifest, sopsEncryptInPlace } from "../../../e2e/support/seed.ts"
import { hasTool, toolPath } from "../../../e2e/support/tools.ts"
import { runKustodian } from "./testing/kustodian-process.ts"

const cliEnv = (home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: home,
  KUSTODIAN_KUSTOMIZE: toolPath("kustomize"),
  KUSTODIAN_SANDBOX: toolPath("kustodian-sandbox"),
  ...extra,
})

const configMap = (ns: string, name: string, a: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${ns}\ndata:\n  a: "${a}"\n`

const b64 = (s: string) => Buffer.from(s).toString("base64")

describe("kustodian build / diff kustomization", () => {
  it.live(
    "build equals what the operator applied (masked unless --show-secrets); diff: unchanged, then created, drifted, deleted",
    () =>
      Effect.gen(function* () {
        yield* Effect.promise(() => installFluxCrds())
        const ns = yield* Effect.promise(() => createTestNamespace("cli-diff"))
        const server = yield* gitHttpServer()
        const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "app"))
        const operator = yield* operatorProcess({ kubeconfig: testKubeconfigPath(), namespace: ns })
        yield* Effect.addFinalizer((exit) =>
          exit._tag === "Success"
            ? Effect.void
            : Effect.promise(async () => {
                const objects = await runKubectl([
                  "-n",
                  ns,
                  "get",
                  "gitrepository,kustomization",
                  "-o",
                  "yaml",
                ])
                console.error(`--- objects ---\n${objects.stdout}${objects.stderr}`)
                console.error(`--- operator log ---\n${logTail(operator.logFile, 40)}`)
              }),
        )
        const work = yield* scratchDir("kustodian-cli-diff-")
        const key = yield* Effect.promise(() => generateAgeKey(work))
        yield* Effect.promise(() =>
          kubectl([
            "-n",
            ns,
            "create",
            "secret",
            "generic",
            "sops-age",
            `--from-file=age.agekey=${key.keyFile}`,
          ]),
        )
        // the checkout: a git work tree, committed to the server as it is
        const repo = join(work, "repo")
        const app = join(repo, "clusters/app")
        mkdirSync(app, { recursive: true })
        execFileSync("git", ["init", "-q", repo])
        const encrypt = (password: string) =>
          Effect.promise(async () =>
            sopsEncryptInPlace(
              join(app, "basic-auth.yaml"),
              await secretManifest(ns, "basic-auth", { user: "admin", password }),
              [`--age=${key.recipient}`, "--encrypted-regex", "^(data|stringData)$"],
            ),
          )
        const secret = yield* encrypt("change-me-now")
        writeFileSync(join(app, "settings.yaml"), configMap(ns, "settings", "1"))
        writeFileSync(join(app, "extra.yaml"), configMap(ns, "extra", "x"))
        yield* Effect.promise(() =>
          commitFiles(
            bare,
            {
              "clusters/app/basic-auth.yaml": secret,
              "clusters/app/settings.yaml": configMap(ns, "settings", "1"),
              "clusters/app/extra.yaml": configMap(ns, "extra", "x"),
            },
            { branch: "main" },
          ),
        )
        yield* Effect.promise(() =>
          applyYaml(
            `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: app
  namespace: ${ns}
spec:
  interval: 10m
  url: ${server.repoUrl("app")}
  ref:
    branch: main
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app
  namespace: ${ns}
spec:
  interval: 10m
  path: ./clusters/app
  prune: true
  sourceRef:
    kind: GitRepository
    name: app
  decryption:
    provider: sops
    secretRef:
      name: sops-age
`,
          ),
        )
        yield* Effect.promise(() =>
          kubectl(["-n", ns, "wait", "--for=condition=Ready", "--timeout=120s", "kustomization/app"]),
        )

        const kc = testKubeconfigPath()
        const env = cliEnv(work, { SOPS_AGE_KEY_FILE: key.keyFile })
        const cli = (args: ReadonlyArray<string>, input?: string) =>
          runKustodian(args, { cwd: work, env, ...(input === undefined ? {} : { input }) })
        const build = ["build", "kustomization", "app", "-n", ns, "--path", app, "--kubeconfig", kc]

        // build, masked: the spec comes from the cluster's Kustomization
        const masked = cli(build)
        expect(masked.stderr).toBe(`building with the spec of Kustomization ${ns}/app from the cluster\n`)
        expect(masked.code).toBe(0)
        for (const plain of ["change-me-now", b64("change-me-now")])
          expect(masked.stdout).not.toContain(plain)
        const maskedDocs = YAML.parseAllDocuments(masked.stdout)
          .map((d) => d.toJS())
          .filter(Boolean)
        const maskedSecret = maskedDocs.find((d) => d.kind === "Secret")
        expect(maskedSecret.data).toEqual({ user: b64("**SOPS**"), password: b64("**SOPS**") })

        // --show-secrets: every built object is in the cluster as built (the operator applied exactly this)
        const shown = cli([...build, "--show-secrets"])
        expect(shown.code).toBe(0)
        const docs = YAML.parseAllDocuments(shown.stdout)
          .map((d) => d.toJS())
          .filter(Boolean)
        expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual([
          "ConfigMap/extra",
          "ConfigMap/settings",
          "Secret/basic-auth",
        ])
        for (const doc of docs) {
          const live = JSON.parse(
            yield* Effect.promise(() =>
              kubectl(["-n", ns, "get", doc.kind.toLowerCase(), doc.metadata.name, "-o", "json"]),
            ),
          )
          expect(live).toMatchObject(doc)
        }
        expect(docs.find((d) => d.kind === "Secret").data.password).toBe(b64("change-me-now"))

        // the decryption Secret's manifest on stdin, no local key: the same output
        const manifest = yield* Effect.promise(() =>
          kubectl([
            "-n",
            ns,
            "create",
            "secret",
            "generic",
            "sops-age",
            `--from-file=age.agekey=${key.keyFile}`,
            "--dry-run=client",
            "-o",
            "yaml",
          ]),
        )
        const fromSecret = runKustodian([...build, "--decryption-secret", "-"], {
          cwd: work,
          env: cliEnv(work),
          input: manifest,
        })
        expect(fromSecret.code).toBe(0)
        expect(fromSecret.stdout).toBe(masked.stdout)

        // diff with nothing changed: no output, exit 0
        const diff = ["diff", "kustomization", "app", "-n", ns, "--path", app, "--kubeconfig", kc]
        const same = cli(diff)
        expect(same.stdout).toBe("")
        expect(same.code).toBe(0)

        // local changes: one ConfigMap changed, one added, one removed, the password rotated
        writeFileSync(join(app, "settings.yaml"), configMap(ns, "settings", "2"))
        writeFileSync(join(app, "added.yaml"), configMap(ns, "added", "y"))
        rmSync(join(app, "extra.yaml"))
        // a new Namespace and an object in it (dry-run only once the Namespace exists: planned as created), and an
        // object the operator would skip
        writeFileSync(
          join(app, "fresh.yaml"),
          `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}-fresh\n---\n${configMap(`${ns}-fresh`, "inside", "z")}`,
        )
        writeFileSync(
          join(app, "frozen.yaml"),
          configMap(ns, "frozen", "f").replace(
            `namespace: ${ns}\n`,
            `namespace: ${ns}\n  annotations:\n    kustomize.toolkit.fluxcd.io/reconcile: disabled\n`,
          ),
        )
        yield* encrypt("rotated-pass-99")
        const changed = cli(diff)
        expect(changed.stderr).toBe(`building with the spec of Kustomization ${ns}/app from the cluster\n`)
        expect(changed.code).toBe(1)
        const out = changed.stdout
        expect(out).toContain(`► ConfigMap/${ns}/added created\n`)
        expect(out).toContain(`► ConfigMap/${ns}/settings drifted\n`)
        expect(out).toContain(
          `--- ConfigMap/${ns}/settings (live)\n+++ ConfigMap/${ns}/settings (after apply)\n`,
        )
        expect(out).toContain('\n-  a: "1"\n+  a: "2"\n')
        expect(out).toContain(`► Secret/${ns}/basic-auth drifted\n`)
        expect(out).toContain("-  password: '*** (before)'\n+  password: '*** (after)'\n")
        expect(out).toContain("   user: '***'\n")
        expect(out).toContain(`► ConfigMap/${ns}/extra deleted\n`)
        // in apply order: the Namespace's stage first
        expect(out.startsWith(`► Namespace/${ns}-fresh created\n`)).toBe(true)
        expect(out).toContain(`► ConfigMap/${ns}-fresh/inside created\n`)
        expect(out).toContain(`► ConfigMap/${ns}/frozen skipped\n`)
        expect(out.match(/^► .*$/gm)?.length).toBe(7)
        for (const plain of [
          "change-me-now",
          "rotated-pass-99",
          b64("change-me-now"),
          b64("rotated-pass-99"),
        ])
          expect(out).not.toContain(plain)
        // nothing was written: the cluster is as the operator left it
        const live = JSON.parse(
          yield* Effect.promise(() => kubectl(["-n", ns, "get", "configmap", "settings", "-o", "json"])),
        )
        expect(live.data).toEqual({ a: "1" })
        expect(
          (yield* Effect.promise(() => runKubectl(["-n", ns, "get", "configmap", "added"]))).code,
        ).not.toBe(0)
        expect((yield* Effect.promise(() => runKubectl(["get", "namespace", `${ns}-fresh`]))).code).not.toBe(
          0,
        )

        // an error (a file no key decrypts) exits 2, naming the file, with no value
        const broken = runKustodian(diff, { cwd: work, env: cliEnv(work) })
        expect(broken.code).toBe(2)
        expect(broken.stderr).toContain("clusters/app/basic-auth.yaml")
        expect(broken.stderr).not.toContain("rotated")
      }).pipe(Effect.scoped),
    300_000,
  )

  it.live.skipIf(!hasTool("flux"))(
    "build --dry-run of a plain repository prints what flux build kustomization --dry-run prints",
    () =>
      Effect.gen(function* () {
        const work = yield* scratchDir("kustodian-cli-flux-build-")
        const dir = join(work, "repo/apps/web")
        mkdirSync(dir, { recursive: true })
        writeFileSync(
          join(dir, "deploy.yaml"),
          `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: nginx:1.27
          args: ["--port", "8080", "yes"]
`,
        )
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Flux's substitution syntax
        writeFileSync(join(dir, "cm.yaml"), configMap("default", "settings", "${greeting}"))
        const ksFile = join(work, "ks.yaml")
        writeFileSync(
          ksFile,
          `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: web
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps/web
  prune: true
  sourceRef:
    kind: GitRepository
    name: repo
  targetNamespace: prod
  namePrefix: p-
  commonMetadata:
    labels:
      team: web
  images:
    - name: nginx
      newTag: "1.28"
  postBuild:
    substitute:
      greeting: hello
`,
        )
        const args = [
          "build",
          "kustomization",
          "web",
          "--path",
          dir,
          "--kustomization-file",
          ksFile,
          "--dry-run",
        ]
        const flux = execFileSync(toolPath("flux"), args, {
          cwd: work,
          encoding: "utf8",
          env: { PATH: process.env.PATH ?? "", HOME: work },
        })
        const ours = runKustodian(args, { cwd: work, env: cliEnv(work) })
        expect(ours.stderr).toBe("")
        expect(ours.code).toBe(0)
        expect(ours.stdout).toBe(flux)
        expect(readFileSync(join(dir, "deploy.yaml"), "utf8")).toContain("nginx:1.27")
      }).pipe(Effect.scoped),
    120_000,
  )
})
