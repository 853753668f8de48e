// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Flux variable syntax (${var}) is what these tests are about
// biome-ignore-all lint/suspicious/noExplicitAny: assertions reach into built objects of open shape
/**
 * Build + decrypt scenarios on trees encrypted at test time with the real sops CLI, real age and gpg keys,
 * built by the real kustomize.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Metric } from "effect"
import * as YAML from "yaml"
import { commitFiles, createBareRepo, gitHttpServer } from "../../../../e2e/support/git-server.ts"
import { hasTool } from "../../../../e2e/support/tools.ts"
import type { KubeObject } from "../../kube/object.ts"
import { treePrefix } from "../build/artifact-trees.ts"
import { scratchParent } from "../build/workdir.ts"
import { dataKeyCacheHits, dataKeyCacheMisses } from "../decrypt/data-key-cache.ts"
import { Decryptor } from "../decrypt/decryptor.ts"
import { Builder } from "./builder.ts"
import {
  type AgeKey,
  ageKey,
  builderLayer,
  buildTree,
  failureText,
  fetchStageUnpacker,
  localArtifact,
  type PgpKey,
  packArtifact,
  pgpKey,
  removeGnupgHome,
  scopedTempDir,
  secretData,
  serveFiles,
  sopsEncrypt,
  tempDir,
  writeTree,
} from "./testing/scenario.ts"

const ready = hasTool("sops") && hasTool("kustomize") && hasTool("age-keygen") && hasTool("gpg")

const regex = "^(data|stringData)$"
const secretYaml = (name: string, values: Record<string, string>, annotations = "") =>
  `apiVersion: v1
kind: Secret
metadata:
  name: ${name}
${annotations}type: Opaque
stringData:
${Object.entries(values)
  .map(([k, v]) => `  ${k}: ${v}`)
  .join("\n")}
`

const decode = (o: KubeObject, key: string) =>
  Buffer.from((o.data as Record<string, string>)[key]!, "base64").toString("utf8")
const byName = (objects: ReadonlyArray<KubeObject>, prefix: string) => {
  const o = objects.find((x) => x.metadata.name.startsWith(prefix))
  if (!o) throw new Error(`no object named ${prefix}*: ${objects.map((x) => x.metadata.name).join(", ")}`)
  return o
}
const ok = <A>(exit: Exit.Exit<A, unknown>): A =>
  Exit.isSuccess(exit) ? exit.value : expect.fail(String(exit))

describe.skipIf(!ready)("decryption scenarios (real sops, age, gpg, kustomize)", () => {
  let work: string
  let age: AgeKey
  let wrongAge: AgeKey
  let pgp: PgpKey
  let keys: ReturnType<typeof secretData>
  const decryption = { provider: "sops" as const, secretRef: { name: "sops-keys" } }

  beforeAll(() => {
    work = tempDir("kustodian-keys-")
    age = ageKey()
    wrongAge = ageKey()
    pgp = pgpKey(path.join(work, "gnupg"))
    keys = secretData("apps", "sops-keys", { "identity.agekey": age.identity, "ops.asc": pgp.armored })
  })
  afterAll(() => {
    removeGnupgHome(pgp.home)
    fs.rmSync(work, { recursive: true, force: true })
  })

  const encAge =
    (rel: string, extra: Parameters<typeof sopsEncrypt>[1] = {}) =>
    (root: string) =>
      sopsEncrypt(path.join(root, rel), { age: [age.recipient], ...extra })

  it.effect("whole Secrets encrypted for age, for OpenPGP and with two key groups", () =>
    Effect.gen(function* () {
      const exit = yield* buildTree(
        {
          "age.yaml": secretYaml("by-age", { password: "age-pass" }),
          "pgp.yaml": secretYaml("by-pgp", { password: "pgp-pass" }),
          "groups.yaml": secretYaml("by-groups", { password: "groups-pass" }),
        },
        { decryption },
        { secrets: [keys] },
        {},
        (root) => {
          sopsEncrypt(path.join(root, "age.yaml"), { age: [age.recipient], encryptedRegex: regex })
          sopsEncrypt(path.join(root, "pgp.yaml"), {
            pgp: [pgp.fingerprint],
            gnupgHome: pgp.home,
            encryptedRegex: regex,
          })
          sopsEncrypt(path.join(root, "groups.yaml"), {
            gnupgHome: pgp.home,
            encryptedRegex: regex,
            keyGroups: { groups: [{ age: [age.recipient] }, { pgp: [pgp.fingerprint] }], threshold: 2 },
          })
        },
      )
      const result = ok(exit)
      expect(result.objects.map((o) => [o.metadata.name, (o.stringData as any).password])).toEqual([
        ["by-age", "age-pass"],
        ["by-groups", "groups-pass"],
        ["by-pgp", "pgp-pass"],
      ])
      expect(result.objects.every((o) => !("sops" in o))).toBe(true)
      expect([...result.decryptedFiles].sort()).toEqual(["age.yaml", "groups.yaml", "pgp.yaml"])
      expect(result.warnings).toEqual([])
    }),
  )

  it.effect(
    "without a secretRef, the controller-level age Secret (--sops-age-secret) is used, age keys only",
    () =>
      Effect.gen(function* () {
        const global = secretData("kustodian-system", "global-age", { "global.agekey": age.identity })
        const files = { "secret.yaml": secretYaml("by-global", { password: "global-pass" }) }
        const encrypt = encAge("secret.yaml", { encryptedRegex: regex })
        const options = {
          decrypt: { globalAgeSecret: { namespace: "kustodian-system", name: "global-age" } },
        }
        const result = ok(
          yield* buildTree(
            files,
            { decryption: { provider: "sops" } },
            { secrets: [global] },
            options,
            encrypt,
          ),
        )
        expect((result.objects[0] as any).stringData.password).toBe("global-pass")
        // without the controller-level Secret there are no keys at all
        const none = yield* buildTree(files, { decryption: { provider: "sops" } }, {}, {}, encrypt)
        expect(failureText(none)).toContain("failed to get the data key")
      }),
  )

  it.effect("dotenv and binary files in secret and configMap generators", () =>
    Effect.gen(function* () {
      const exit = yield* buildTree(
        {
          "kustomization.yaml": `secretGenerator:
  - name: app
    envs: [app.env]
    files: [token=token.encrypted, config.json]
configMapGenerator:
  - name: settings
    envs: [settings.env]
`,
          "app.env": "DB_PASSWORD=hunter2\nDB_USER=app\n",
          "token.encrypted": "raw-token-bytes\n",
          "config.json": '{"apiKey": "k-123"}',
          "settings.env": "MODE=fast\n",
        },
        { decryption },
        { secrets: [keys] },
        {},
        (root) => {
          for (const f of ["app.env", "token.encrypted", "config.json", "settings.env"]) encAge(f)(root)
        },
      )
      const result = ok(exit)
      const secret = byName(result.objects, "app-")
      expect(decode(secret, "DB_PASSWORD")).toBe("hunter2")
      expect(decode(secret, "DB_USER")).toBe("app")
      expect(decode(secret, "token")).toBe("raw-token-bytes\n")
      expect(JSON.parse(decode(secret, "config.json"))).toEqual({ apiKey: "k-123" })
      expect((byName(result.objects, "settings-").data as any).MODE).toBe("fast")
    }),
  )

  it.effect("encrypted patch files and a component with an encrypted env file", () =>
    Effect.gen(function* () {
      const exit = yield* buildTree(
        {
          "app/kustomization.yaml": `resources: [secret.yaml]
patches:
  - path: patch.yaml
components: [../components/extra]
`,
          "app/secret.yaml": secretYaml("creds", { user: "placeholder" }),
          "app/patch.yaml": secretYaml("creds", { password: "from-patch" }),
          "components/extra/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
secretGenerator:
  - name: extra
    envs: [extra.env]
`,
          "components/extra/extra.env": "EXTRA=from-component\n",
        },
        { decryption, path: "app" },
        { secrets: [keys] },
        {},
        (root) => {
          encAge("app/patch.yaml", { encryptedRegex: regex })(root)
          encAge("components/extra/extra.env")(root)
        },
      )
      const result = ok(exit)
      const creds = byName(result.objects, "creds") as any
      expect(creds.stringData).toEqual({ user: "placeholder", password: "from-patch" })
      expect(decode(byName(result.objects, "extra-"), "EXTRA")).toBe("from-component")
    }),
  )

  it.effect("a SOPS document inside Secret.data, re-emitted in the format of the data key", () =>
    Effect.gen(function* () {
      const exit = yield* buildTree(
        { "inner.yaml": "database:\n  password: inner-pass\n" },
        { decryption },
        { secrets: [keys] },
        {},
        (root) => {
          const inner = path.join(root, "inner.yaml")
          encAge("inner.yaml")(root)
          const encoded = fs.readFileSync(inner).toString("base64")
          fs.rmSync(inner)
          fs.writeFileSync(
            path.join(root, "secret.yaml"),
            `apiVersion: v1\nkind: Secret\nmetadata:\n  name: inside\ndata:\n  config.yaml: ${encoded}\n  plain: ${Buffer.from("x").toString("base64")}\n`,
          )
        },
      )
      const result = ok(exit)
      const inside = byName(result.objects, "inside")
      expect(YAML.parse(decode(inside, "config.yaml"))).toEqual({ database: { password: "inner-pass" } })
      expect(decode(inside, "config.yaml")).not.toContain("sops")
      expect(decode(inside, "plain")).toBe("x")
    }),
  )

  it.effect("an object opted out with kustomize.toolkit.fluxcd.io/decrypt: disabled stays encrypted", () =>
    Effect.gen(function* () {
      const exit = yield* buildTree(
        {
          "kept.yaml": secretYaml(
            "kept-encrypted",
            { password: "stay-secret" },
            "  annotations:\n    kustomize.toolkit.fluxcd.io/decrypt: disabled\n",
          ),
          "open.yaml": secretYaml("opened", { password: "open-pass" }),
        },
        { decryption },
        { secrets: [keys] },
        {},
        (root) => {
          encAge("kept.yaml", { encryptedRegex: regex })(root)
          encAge("open.yaml", { encryptedRegex: regex })(root)
        },
      )
      const result = ok(exit)
      const kept = byName(result.objects, "kept-encrypted") as any
      expect(kept.sops).toBeDefined()
      expect(kept.stringData.password).toMatch(/^ENC\[AES256_GCM,/)
      expect((byName(result.objects, "opened") as any).stringData.password).toBe("open-pass")
    }),
  )

  it.effect("the seed's encrypted_regex conflict builds: the base is decrypted before the patch merges", () =>
    Effect.gen(function* () {
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
      const exit = yield* buildTree(
        {
          "kustomization.yaml": "resources: [pod.yaml]\npatches:\n  - path: patch.yaml\n",
          "pod.yaml": pod,
          "patch.yaml": patch,
        },
        { decryption },
        { secrets: [keys] },
        {},
        encAge("pod.yaml", { encryptedRegex: "^env$" }),
      )
      const result = ok(exit)
      expect(result.objects).toHaveLength(1)
      const containers = (result.objects[0] as any).spec.containers
      const env = Object.fromEntries(containers.map((c: any) => [c.name, c.env]))
      expect(env).toEqual({
        patched: [{ name: "MainEnvValueIsEncrypted", value: "but this one is not" }],
        main: [{ name: "SECRET_NAME", value: "secret value" }],
      })
      expect("sops" in result.objects[0]!).toBe(false)
    }),
  )

  it.effect(
    "a remote base served by a git server: its encrypted documents are decrypted after the build",
    () =>
      Effect.gen(function* () {
        const server = yield* gitHttpServer()
        const repo = yield* Effect.promise(() => createBareRepo(server.reposDir, "base"))
        const staging = yield* scopedTempDir()
        writeTree(staging, { "remote.yaml": secretYaml("remote-secret", { password: "remote-pass" }) })
        encAge("remote.yaml", { encryptedRegex: regex })(staging)
        yield* Effect.promise(() =>
          commitFiles(repo, {
            "base/kustomization.yaml": "resources: [remote.yaml, cm.yaml]\n",
            "base/remote.yaml": fs.readFileSync(path.join(staging, "remote.yaml")),
            "base/cm.yaml":
              "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: remote-config\ndata:\n  a: b\n",
          }),
        )
        const exit = yield* buildTree(
          { "kustomization.yaml": `resources:\n  - ${server.repoUrl("base")}//base?ref=main\n` },
          { decryption, targetNamespace: "tenant" },
          { secrets: [keys] },
          // A loopback http server is refused as a remote base unless the admin trusts it.
          { build: { trustedRemotePrefixes: [`${new URL(server.repoUrl("base")).origin}/`] } },
        )
        const result = ok(exit)
        expect(
          result.objects.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`).sort(),
        ).toEqual(["ConfigMap/tenant/remote-config", "Secret/tenant/remote-secret"])
        const remote = byName(result.objects, "remote-secret") as any
        expect(remote.stringData).toEqual({ password: "remote-pass" })
        expect(remote.sops).toBeUndefined()
        expect(server.requests.length).toBeGreaterThan(0)
        const refused = yield* buildTree(
          { "kustomization.yaml": `resources:\n  - ${server.repoUrl("base")}//base?ref=main\n` },
          { decryption },
          { secrets: [keys] },
          { build: { noRemoteBases: true } },
        )
        expect(failureText(refused)).toContain("remote bases are disabled (--no-remote-bases)")
      }).pipe(Effect.scoped),
  )

  describe("failures give the documented error and no objects", () => {
    const files = { "secret.yaml": secretYaml("creds", { password: "p4ssw0rd-value" }) }
    const encrypt = encAge("secret.yaml", { encryptedRegex: regex })

    it.effect("a wrong key", () =>
      Effect.gen(function* () {
        const wrong = secretData("apps", "sops-keys", { "identity.agekey": wrongAge.identity })
        const text = failureText(yield* buildTree(files, { decryption }, { secrets: [wrong] }, {}, encrypt))
        expect(text).toContain("BuildFailed")
        expect(text).toContain("error decrypting sources: 'secret.yaml'")
        expect(text).toContain("failed to get the data key")
        expect(text).not.toContain("p4ssw0rd-value")
      }),
    )

    it.effect("tampered ciphertext", () =>
      Effect.gen(function* () {
        const text = failureText(
          yield* buildTree(files, { decryption }, { secrets: [keys] }, {}, (root) => {
            encrypt(root)
            const p = path.join(root, "secret.yaml")
            // flip one character of the first encrypted value's data
            fs.writeFileSync(
              p,
              fs
                .readFileSync(p, "utf8")
                .replace(
                  /ENC\[AES256_GCM,data:(.)/,
                  (_m, c: string) => `ENC[AES256_GCM,data:${c === "A" ? "B" : "A"}`,
                ),
            )
          }),
        )
        expect(text).toContain("secret.yaml")
        expect(text).not.toContain("p4ssw0rd-value")
      }),
    )

    const tamperMac = (root: string) => {
      encrypt(root)
      const p = path.join(root, "secret.yaml")
      // an edit after encryption: a plaintext value the MAC covers
      fs.writeFileSync(p, fs.readFileSync(p, "utf8").replace("type: Opaque", "type: Edited"))
    }

    it.effect("a MAC mismatch fails under strict", () =>
      Effect.gen(function* () {
        const text = failureText(
          yield* buildTree(
            files,
            { decryption },
            { secrets: [keys] },
            { decrypt: { macPolicy: "strict" } },
            tamperMac,
          ),
        )
        expect(text).toContain("secret.yaml: MAC mismatch")
      }),
    )

    it.effect(
      "a MAC mismatch is a warning naming the file under warn (the default), and silent under ignore",
      () =>
        Effect.gen(function* () {
          const warned = ok(yield* buildTree(files, { decryption }, { secrets: [keys] }, {}, tamperMac))
          expect(warned.warnings).toEqual([
            expect.objectContaining({ reason: "SopsMacMismatch", file: "secret.yaml" }),
          ])
          expect(warned.warnings[0]!.message).not.toContain("p4ssw0rd-value")
          expect((warned.objects[0] as any).stringData.password).toBe("p4ssw0rd-value")
          const ignored = ok(
            yield* buildTree(
              files,
              { decryption },
              { secrets: [keys] },
              { decrypt: { macPolicy: "ignore" } },
              tamperMac,
            ),
          )
          expect(ignored.warnings).toEqual([])
        }),
    )

    it.effect("a missing decryption Secret", () =>
      Effect.gen(function* () {
        const text = failureText(yield* buildTree(files, { decryption }, {}, {}, encrypt))
        expect(text).toContain(
          `cannot get sops decryption Secret 'apps/sops-keys': secrets "sops-keys" not found`,
        )
      }),
    )

    it.effect("a file that needs a key provider this operator lacks names the provider", () =>
      Effect.gen(function* () {
        const vault = secretData("apps", "sops-keys", { "sops.vault-token": "s.token" })
        const text = failureText(
          yield* buildTree(files, { decryption }, { secrets: [vault] }, {}, (root) => {
            encrypt(root)
            // Re-point the data key at a Vault transit key, as `sops --hc-vault-transit` would have.
            const p = path.join(root, "secret.yaml")
            const doc = YAML.parse(fs.readFileSync(p, "utf8"))
            doc.sops.hc_vault = [
              {
                vault_address: "http://127.0.0.1:8200",
                engine_path: "sops",
                key_name: "team",
                created_at: "2026-11-27T00:00:00Z",
                enc: "vault:v1:AAAA",
              },
            ]
            delete doc.sops.age
            fs.writeFileSync(p, YAML.stringify(doc))
          }),
        )
        expect(text).toContain("failed to get the data key")
        expect(text).toContain("needs the HashiCorp Vault / OpenBao transit key provider")
        expect(text).not.toContain("s.token")
      }),
    )

    it.effect("a kustomize error quoting a decrypted patch has the secret values redacted", () =>
      Effect.gen(function* () {
        const text = failureText(
          yield* buildTree(
            {
              "kustomization.yaml": "resources: [deploy.yaml]\npatches:\n  - path: patch.yaml\n",
              "deploy.yaml":
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          image: x\n",
              "patch.yaml":
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers: TOP-SECRET-VALUE\n",
            },
            { decryption },
            { secrets: [keys] },
            {},
            encAge("patch.yaml"),
          ),
        )
        expect(text).toContain("kustomize build failed")
        expect(text).toContain("***")
        expect(text).not.toContain("TOP-SECRET-VALUE")
      }),
    )

    it.effect("a mis-named key entry is reported with the name it should have", () =>
      Effect.gen(function* () {
        const misnamed = secretData("apps", "sops-keys", { "age.key": age.identity })
        const text = failureText(
          yield* buildTree(files, { decryption }, { secrets: [misnamed] }, {}, encrypt),
        )
        expect(text).toContain("failed to get the data key")
        expect(text).toContain("'age.key' (rename it to 'age.agekey')")
        expect(text).not.toContain("AGE-SECRET-KEY")
      }),
    )
  })

  it.effect("data keys are cached per decryption Secret identity: warm hits, other tenants start cold", () =>
    Effect.gen(function* () {
      const dir = yield* scopedTempDir()
      const root = path.join(dir, "repo")
      writeTree(root, { "secret.yaml": secretYaml("creds", { password: "cached" }) })
      encAge("secret.yaml", { encryptedRegex: regex })(root)
      const artifact = localArtifact(root)
      const other = secretData(
        "apps",
        "other-keys",
        { "identity.agekey": age.identity },
        { uid: "another-uid" },
      )
      const run = (secretName: string) =>
        Effect.flatMap(Builder, (b) =>
          b.build({
            namespace: "apps",
            name: "web",
            spec: { decryption: { provider: "sops", secretRef: { name: secretName } } },
            artifact,
          }),
        )
      const intruder = secretData("apps", "intruder-keys", { "identity.agekey": wrongAge.identity })
      const stats = yield* Effect.gen(function* () {
        const cache = (yield* Decryptor).cache
        // the counters are process-wide: compare against where they stood
        const before = {
          hits: (yield* Metric.value(dataKeyCacheHits)).count,
          misses: (yield* Metric.value(dataKeyCacheMisses)).count,
        }
        yield* run("sops-keys")
        const cold = cache.stats()
        yield* run("sops-keys")
        const warm = cache.stats()
        yield* run("other-keys")
        const other = cache.stats()
        // The data key is in the cache, but a tenant whose keys cannot open it must still fail.
        const intrusion = yield* Effect.exit(run("intruder-keys"))
        const metrics = {
          hits: (yield* Metric.value(dataKeyCacheHits)).count - before.hits,
          misses: (yield* Metric.value(dataKeyCacheMisses)).count - before.misses,
        }
        return { cold, warm, other, intrusion, metrics }
      }).pipe(Effect.provide(builderLayer({ secrets: [keys, other, intruder] })))
      expect(failureText(stats.intrusion)).toContain("failed to get the data key")
      // the exported counters saw the same: 1 hit; misses for sops-keys, other-keys and the intruder
      expect(stats.metrics).toEqual({ hits: 1, misses: 3 })
      expect(stats.cold).toEqual({ hits: 0, misses: 1 })
      expect(stats.warm).toEqual({ hits: 1, misses: 1 })
      expect(stats.other).toEqual({ hits: 1, misses: 2 })
    }).pipe(Effect.scoped),
  )

  it.live("builds on one artifact share its extracted tree, and plaintext never enters it", () =>
    Effect.gen(function* () {
      const dir = yield* scopedTempDir()
      const repo = path.join(dir, "repo")
      writeTree(repo, {
        "a/kustomization.yaml": "secretGenerator:\n  - name: a\n    envs: [a.env]\n",
        "a/a.env": "A_PASSWORD=alpha-plaintext\n",
        "b/kustomization.yaml": "secretGenerator:\n  - name: b\n    envs: [b.env]\n",
        "b/b.env": "B_PASSWORD=bravo-plaintext\n",
      })
      encAge("a/a.env")(repo)
      encAge("b/b.env")(repo)
      const packed = packArtifact(repo)
      const { url } = yield* serveFiles(new Map([["/artifact.tar.gz", packed.url]]))
      const artifact = {
        ...packed,
        url: `${url}/artifact.tar.gz`,
        kind: "GitRepository",
        namespace: "apps",
        name: "repo",
      }
      const parent = yield* Effect.promise(() => scratchParent())
      const trees = () => fs.readdirSync(parent).filter((n) => n.startsWith(treePrefix))
      const before = trees()
      const built = yield* Effect.gen(function* () {
        const b = yield* Builder
        const spec = (p: string) => ({ path: p, decryption })
        const results = yield* Effect.all(
          ["a", "b", "a", "b"].map((p) => b.build({ namespace: "apps", name: p, spec: spec(p), artifact })),
          { concurrency: "unbounded" },
        )
        const added = trees().filter((n) => !before.includes(n))
        // One extraction for the four builds, kept while it is the source's current revision.
        expect(added).toHaveLength(1)
        const files = fs.readdirSync(path.join(parent, added[0]!), { recursive: true, encoding: "utf8" })
        for (const f of files) {
          const p = path.join(parent, added[0]!, f)
          if (!fs.statSync(p).isFile()) continue
          const text = fs.readFileSync(p, "utf8")
          expect(text, f).not.toContain("alpha-plaintext")
          expect(text, f).not.toContain("bravo-plaintext")
        }
        return results
      }).pipe(Effect.provide(builderLayer({ secrets: [keys] }, { unpacker: fetchStageUnpacker })))
      expect(built.map((r) => r.objects.map((o) => o.metadata.name.split("-")[0]))).toEqual([
        ["a"],
        ["b"],
        ["a"],
        ["b"],
      ])
      expect(decode(byName(built[0]!.objects, "a-"), "A_PASSWORD")).toBe("alpha-plaintext")
      expect(decode(byName(built[1]!.objects, "b-"), "B_PASSWORD")).toBe("bravo-plaintext")
      // The Builder's end removes the tree.
      expect(trees().filter((n) => !before.includes(n))).toEqual([])
    }).pipe(Effect.scoped),
  )
})
