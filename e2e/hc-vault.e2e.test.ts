/**
 * The seed's "Encrypting secrets using HashiCorp Vault" section step by step, against the real Vault server in
 * dev mode (transit mounted at `sops`, as the guide's URI has it) and `kustodian controller` as its own process
 * against the test control plane:
 * - `sops --hc-vault-transit $VAULT_ADDR/v1/sops/keys/my-encryption-key --encrypt --encrypted-regex … --in-place`
 *   with VAULT_ADDR and VAULT_TOKEN exported, the `sops-hcvault` Secret made with the guide's pipeline
 *   (`echo $VAULT_TOKEN | kubectl create secret generic sops-hcvault … --from-file=sops.vault-token=/dev/stdin`),
 *   the seed's Kustomization with `decryption.secretRef: sops-hcvault` → Ready and the Secret decrypted;
 * - a tenant token Vault refuses: BuildFailed naming the file, the key and Vault's error, never the token;
 * - a decryption Secret without `sops.vault-token`: the controller's own VAULT_TOKEN (valid here) is not sent.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Option, Scope } from "effect"
import { ageKeygen } from "../operator/src/sops/testing/peers.ts"
import {
  applyYaml,
  createTestNamespace,
  installFluxCrds,
  kubectl,
  runKubectl,
  testKubeconfigPath,
} from "./support/cluster.ts"
import { eventually } from "./support/eventually.ts"
import { applyKustomization, gitSourceRef } from "./support/flux-objects.ts"
import { commitFiles, createBareRepo, type GitHttpServer, gitHttpServer } from "./support/git-server.ts"
import type { Obj } from "./support/kube-objects.ts"
import { type OperatorProcess, operatorProcess } from "./support/operator-process.ts"
import { logTail } from "./support/process.ts"
import { scratchDir, secretManifest, seedManifest, seedStep } from "./support/seed.ts"
import { hasTool, toolPath } from "./support/tools.ts"
import { type Vault, vaultServer } from "./support/vault.ts"

let ns = ""
let server: GitHttpServer
let vault: Vault
let operator: OperatorProcess
const scope = Effect.runSync(Scope.make())

const haveVault = hasTool("vault")

beforeAll(async () => {
  if (!haveVault) return
  await installFluxCrds()
  ns = await createTestNamespace("hc-vault")
  server = await Effect.runPromise(Scope.provide(scope)(gitHttpServer()))
  vault = await Effect.runPromise(Scope.provide(scope)(vaultServer()))
  operator = await Effect.runPromise(
    Scope.provide(scope)(
      operatorProcess({
        kubeconfig: testKubeconfigPath(),
        namespace: ns,
        // The controller's own environment holds a valid token: it must never go to an address from Git.
        env: { VAULT_ADDR: vault.address, VAULT_TOKEN: vault.token },
      }),
    ),
  )
}, 300_000)

afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), 60_000)

const get = (kind: string, name: string) =>
  Effect.promise(async (): Promise<Obj | undefined> => {
    const r = await runKubectl(["-n", ns, "get", kind, name, "-o", "json"])
    return r.code === 0 ? (JSON.parse(r.stdout) as Obj) : undefined
  })
const ready = (o: Obj | undefined) => o?.status?.conditions?.find((c) => c.type === "Ready")

const waitFor = (name: string, what: string, predicate: (o: Obj) => boolean) =>
  eventually(
    `Kustomization ${name}: ${what}`,
    get("kustomization", name).pipe(
      Effect.map((o) => Option.fromNullishOr(o && predicate(o) ? o : undefined)),
    ),
    90_000,
    300,
  ).pipe(
    Effect.onExit((exit) =>
      Exit.isSuccess(exit)
        ? Effect.void
        : Effect.sync(() => console.error(`--- operator log ---\n${logTail(operator.logFile, 40)}`)),
    ),
  )
const isFailed = (o: Obj) => ready(o)?.status === "False" && ready(o)?.reason === "BuildFailed"

const secretValues = (name: string) =>
  get("secret", name).pipe(
    Effect.map((o) =>
      o === undefined
        ? undefined
        : Object.fromEntries(
            Object.entries((o.data as Record<string, string> | undefined) ?? {}).map(([k, v]) => [
              k,
              Buffer.from(v, "base64").toString("utf8"),
            ]),
          ),
    ),
  )

/** A repository with `files` on the seed's branch, and the seed's GitRepository for it (named `name`). */
const repository = (name: string, files: Readonly<Record<string, string>>) =>
  Effect.promise(async () => {
    const bare = await createBareRepo(server.reposDir, name)
    await commitFiles(bare, files, { branch: "master" })
    const text = (await seedManifest("gitrepository", { namespace: ns, url: server.repoUrl(name) })).replace(
      /name: my-secrets/,
      `name: ${name}`,
    )
    await kubectl(["apply", "-f", "-"], { input: text })
  })

/** The seed's sops step with VAULT_ADDR and VAULT_TOKEN exported, on a Secret manifest of `name`. */
const vaultEncrypt = (work: string, name: string, password: string) =>
  Effect.promise(async () => {
    const dir = join(work, name)
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, "basic-auth.yaml"), await secretManifest(ns, name, { user: "admin", password }))
    await seedStep(
      `cd ${dir}
sops --hc-vault-transit $VAULT_ADDR/v1/sops/keys/my-encryption-key --encrypt \\
--encrypted-regex '^(data|stringData)$' --in-place basic-auth.yaml`,
      testKubeconfigPath(),
      { VAULT_ADDR: vault.address, VAULT_TOKEN: vault.token, HOME: work },
    )
    return readFile(join(dir, "basic-auth.yaml"), "utf8")
  })

describe.skipIf(!haveVault)(
  "HashiCorp Vault transit in the cluster (the seed's section, real Vault in dev mode)",
  () => {
    it.live(
      "sops --hc-vault-transit, the sops-hcvault Secret from stdin, decryption.secretRef sops-hcvault → Ready",
      () =>
        Effect.gen(function* () {
          const work = yield* scratchDir("kustodian-seed-vault-")
          yield* Effect.promise(() => vault.createKey("my-encryption-key", "sops"))
          const encrypted = yield* vaultEncrypt(work, "basic-auth", "vault-plaintext")
          expect(encrypted).toContain("hc_vault:")
          expect(encrypted).toContain(`vault_address: ${vault.address}`)
          expect(encrypted).not.toContain("vault-plaintext")
          // the guide's pipeline: echo adds a newline, which the controller trims as Flux does
          yield* Effect.promise(() =>
            seedStep(
              `echo $VAULT_TOKEN |
kubectl create secret generic sops-hcvault \\
--namespace=${ns} \\
--from-file=sops.vault-token=/dev/stdin`,
              testKubeconfigPath(),
              { VAULT_TOKEN: vault.token },
            ),
          )
          yield* repository("my-secrets", { "basic-auth.yaml": encrypted })
          yield* Effect.promise(async () => {
            await kubectl(["apply", "-f", "-"], {
              input: await seedManifest("kustomization", {
                namespace: ns,
                url: server.repoUrl("my-secrets"),
                decryptionSecret: "sops-hcvault",
              }),
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
          expect(yield* secretValues("basic-auth")).toEqual({ user: "admin", password: "vault-plaintext" })
        }).pipe(Effect.scoped),
      240_000,
    )

    it.live(
      "a token Vault refuses names the file, the key and Vault's error; without sops.vault-token nothing is sent",
      () =>
        Effect.gen(function* () {
          const work = yield* scratchDir("kustodian-vault-denied-")
          yield* Effect.promise(() => vault.createKey("my-encryption-key", "sops").catch(() => undefined))
          yield* Effect.promise(() => vault.createKey("other-team", "sops"))
          const file = yield* vaultEncrypt(work, "guarded", "guarded-plaintext")
          yield* repository("vault-denied", { "guarded/basic-auth.yaml": file })
          const scoped = yield* Effect.promise(() => vault.scopedToken("other-team", "sops"))
          yield* Effect.promise(() =>
            kubectl([
              "-n",
              ns,
              "create",
              "secret",
              "generic",
              "other-team",
              `--from-literal=sops.vault-token=${scoped}`,
            ]),
          )
          // a decryption Secret with only an age key: the Vault entry has no token to use
          yield* Effect.promise(() =>
            applyYaml(
              JSON.stringify({
                apiVersion: "v1",
                kind: "Secret",
                metadata: { name: "age-only", namespace: ns },
                stringData: { "age.agekey": ageKeygen(toolPath("age-keygen")).keyFile },
              }),
            ),
          )
          const uri = `${vault.address}/v1/sops/keys/my-encryption-key`
          for (const [name, secret] of [
            ["vault-denied", "other-team"],
            ["vault-no-token", "age-only"],
          ] as const)
            yield* applyKustomization(ns, name, {
              ...gitSourceRef("vault-denied"),
              interval: "10m",
              path: "./guarded",
              prune: true,
              decryption: { provider: "sops", secretRef: { name: secret } },
            })
          const denied = ready(yield* waitFor("vault-denied", "BuildFailed", isFailed))?.message ?? ""
          expect(denied).toContain("basic-auth.yaml")
          expect(denied).toContain(uri)
          expect(denied).toContain("Vault answered HTTP 403")
          expect(denied).toContain("permission denied")
          expect(denied).not.toContain(scoped)
          expect(denied).not.toContain(vault.token)
          expect(denied).not.toContain("guarded-plaintext")
          const none = ready(yield* waitFor("vault-no-token", "BuildFailed", isFailed))?.message ?? ""
          expect(none).toContain(uri)
          expect(none).toContain("no Vault token: the decryption Secret has no 'sops.vault-token' entry")
          expect(none).not.toContain(vault.token)
          expect(yield* get("secret", "guarded")).toBeUndefined()
        }).pipe(Effect.scoped),
      240_000,
    )
  },
)
