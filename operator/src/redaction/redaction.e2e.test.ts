/**
 * Redaction end to end: Kustomizations whose objects the real kube-apiserver refuses with messages that echo
 * their values — a field-error quote (`Invalid value: "…"`), a whole pod template when an immutable field
 * changed (`%#v`), structured-merge-diff's mistyped value, and admission denials (a ValidatingAdmissionPolicy
 * whose `messageExpression` quotes an env value, a decrypted SOPS password and part of a `substituteFrom`
 * value). For each, the same object is first sent with `kubectl apply --dry-run=server` to show the server
 * really echoes the value (so the test can fail); then the operator's Ready condition, the Kubernetes Events,
 * the operator's JSON log and its /metrics must name the object and the field but hold none of the values.
 *
 * One operator process serves the file, watching this file's namespace only; the admission policy is bound to
 * that namespace only, so other e2e files on the shared control plane are not affected.
 */
import { randomBytes } from "node:crypto"
import { mkdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Option, Scope } from "effect"
import {
  applyYaml,
  createTestNamespace,
  installFluxCrds,
  kubectl,
  runKubectl,
  testKubeconfigPath,
} from "../../../e2e/support/cluster.ts"
import { eventually } from "../../../e2e/support/eventually.ts"
import {
  commitFiles,
  createBareRepo,
  type GitHttpServer,
  gitHttpServer,
} from "../../../e2e/support/git-server.ts"
import { type OperatorProcess, operatorProcess } from "../../../e2e/support/operator-process.ts"
import { logTail } from "../../../e2e/support/process.ts"
import { generateAgeKey, scratchDir, secretManifest, sopsEncryptInPlace } from "../../../e2e/support/seed.ts"

interface Condition {
  readonly type: string
  readonly status: string
  readonly reason: string
  readonly message: string
}

interface Kustomization {
  readonly status?: {
    readonly conditions?: ReadonlyArray<Condition>
    readonly lastAttemptedRevision?: string
    readonly lastAppliedRevision?: string
  }
}

interface KubeEvent {
  readonly type: string
  readonly reason: string
  readonly note: string
  readonly regarding: { readonly kind: string; readonly name: string }
}

// Every value that must not leave the operator carries this run's suffix, so a hit cannot be a coincidence.
const r = randomBytes(4).toString("hex")
const leak = {
  refName: `Refleak_${r}`,
  envValue: `envleak-${r}`,
  port: 70_000_000 + Number.parseInt(r.slice(0, 5), 16),
  vapValue: `vapleak-${r}`,
  substToken: `substleak-${r}`,
  sopsPassword: `sopsleak-${r}`,
  sopsConfig: `sopsleak-cm-${r}`,
  jobV1: `jobleak-v1-${r}`,
  jobV2: `jobleak-v2-${r}`,
  frozenV1: `frozenleak-v1-${r}`,
  frozenV2: `frozenleak-v2-${r}`,
}
const b64 = (s: string) => Buffer.from(s).toString("base64")
const allLeaks = [...Object.values(leak).map(String), b64(leak.sopsPassword), b64(leak.sopsConfig)]

let ns = ""
let server: GitHttpServer
let operator: OperatorProcess
const scope = Effect.runSync(Scope.make())

const policy = () => `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: redaction-${ns}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: ["", "apps"]
        apiVersions: ["v1"]
        operations: ["CREATE", "UPDATE"]
        resources: ["configmaps", "secrets", "deployments"]
  validations:
    - expression: "object.kind != 'Deployment' || object.spec.template.spec.containers.all(c, !has(c.env) || c.env.all(e, !has(e.value) || !e.value.startsWith('vapleak-')))"
      messageExpression: "'env value ' + object.spec.template.spec.containers[0].env[0].value + ' is not allowed'"
    - expression: "object.kind != 'ConfigMap' || !has(object.data) || !('url' in object.data) || !object.data.url.contains('@')"
      messageExpression: "'token ' + object.data.url.substring(8, object.data.url.indexOf('@')) + ' must not be in a URL'"
    - expression: "object.kind != 'ConfigMap' || !has(object.data) || !('password' in object.data) || !object.data.password.startsWith('sopsleak-')"
      messageExpression: "'password ' + object.data.password + ' is too weak'"
    # Admission sees Secret data as base64 text or as bytes (then string() decodes it): either form is echoed.
    - expression: "object.kind != 'Secret' || !has(object.data) || !('password' in object.data) || !(string(object.data.password) in ['${leak.sopsPassword}', '${b64(leak.sopsPassword)}'])"
      messageExpression: "'password ' + string(object.data.password) + ' is too weak'"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: redaction-${ns}
spec:
  policyName: redaction-${ns}
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: ${ns}
`

beforeAll(async () => {
  await installFluxCrds()
  ns = await createTestNamespace("redact")
  await applyYaml(policy())
  server = await Effect.runPromise(Scope.provide(scope)(gitHttpServer()))
  operator = await Effect.runPromise(
    Scope.provide(scope)(operatorProcess({ kubeconfig: testKubeconfigPath(), namespace: ns })),
  )
}, 300_000)

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  if (ns !== "")
    await runKubectl([
      "delete",
      "--ignore-not-found",
      `validatingadmissionpolicybinding/redaction-${ns}`,
      `validatingadmissionpolicy/redaction-${ns}`,
    ])
}, 60_000)

// ------------------------------------------------------------------------------------------ manifests

const deployment = (name: string, env: ReadonlyArray<string>, extra = "") => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      containers:
        - name: app
          image: registry.example/app:1
          env:
${env.map((e) => `            - ${e}`).join("\n")}
${extra}`

const refDeployment = () =>
  deployment(
    "redact-ref",
    [`name: API_TOKEN\n              value: "${leak.envValue}"`],
    `          envFrom:\n            - configMapRef:\n                name: "${leak.refName}"\n`,
  )
const portDeployment = () => deployment("redact-port", [`name: PORT\n              value: ${leak.port}`])
const vapDeployment = () => deployment("redact-vap", [`name: MODE\n              value: "${leak.vapValue}"`])
const substConfigMap = (token: string) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: redact-subst
  namespace: ${ns}
data:
  url: "https://${token}@example.com"
`
const sopsConfigMap = () => `apiVersion: v1
kind: ConfigMap
metadata:
  name: redact-sops-cm
  namespace: ${ns}
data:
  password: "${leak.sopsConfig}"
`
const job = (value: string) => `apiVersion: batch/v1
kind: Job
metadata:
  name: redact-job
  namespace: ${ns}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: registry.example/migrate:1
          env:
            - name: DB_PASSWORD
              value: "${value}"
`
const frozen = (value: string) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: redact-frozen
  namespace: ${ns}
immutable: true
data:
  password: "${value}"
`

// ------------------------------------------------------------------------------------------ what a user looks at

/** What the API server answers a dry-run apply of `yaml` with (the raw message, before any redaction). */
const serverSays = (yaml: string) =>
  Effect.promise(async () => {
    const res = await runKubectl(
      ["apply", "--server-side", "--force-conflicts", "--field-manager=probe", "--dry-run=server", "-f", "-"],
      { input: yaml },
    )
    return res.code === 0 ? "" : res.stderr
  })

const getKs = (name: string) =>
  Effect.promise(async (): Promise<Kustomization | undefined> => {
    const res = await runKubectl(["-n", ns, "get", "kustomization", name, "-o", "json"])
    return res.code === 0 ? (JSON.parse(res.stdout) as Kustomization) : undefined
  })

const ready = (ks: Kustomization | undefined) => ks?.status?.conditions?.find((c) => c.type === "Ready")

/** Waits until the Kustomization's Ready condition satisfies `predicate`; on timeout shows it and the log. */
const waitReady = (
  name: string,
  what: string,
  predicate: (ks: Kustomization) => boolean,
  timeoutMs = 90_000,
) =>
  eventually(
    `${name}: ${what}`,
    getKs(name).pipe(
      Effect.map((ks) => (ks !== undefined && predicate(ks) ? Option.some(ks) : Option.none())),
    ),
    timeoutMs,
    300,
  ).pipe(
    Effect.catchDefect((d) =>
      Effect.gen(function* () {
        const ks = yield* getKs(name)
        return yield* Effect.die(
          new Error(
            `${String(d)}\n--- kustomization ---\n${JSON.stringify(ks?.status, null, 2)}\n` +
              `--- operator log ---\n${logTail(operator.logFile, 30)}`,
          ),
        )
      }),
    ),
  )

const failed = (name: string) =>
  waitReady(name, "Ready=False", (ks) => ready(ks)?.status === "False").pipe(
    Effect.map((ks) => ready(ks)?.message ?? ""),
  )

const events = (name: string) =>
  Effect.promise(async (): Promise<ReadonlyArray<KubeEvent>> => {
    const out = await kubectl(["-n", ns, "get", "events.v1.events.k8s.io", "-o", "json"])
    return (JSON.parse(out) as { items: KubeEvent[] }).items.filter(
      (e) => e.regarding.kind === "Kustomization" && e.regarding.name === name,
    )
  })

const warningAbout = (name: string, ref: string) =>
  eventually(
    `a Warning Event of ${name} naming ${ref}`,
    events(name).pipe(
      Effect.map((es) => Option.fromNullishOr(es.find((e) => e.type === "Warning" && e.note.includes(ref)))),
    ),
    30_000,
    300,
  )

const expectNoLeak = (text: string) => {
  for (const v of allLeaks) expect(text).not.toContain(v)
}

const source = (name: string, files: Readonly<Record<string, string>>) =>
  Effect.gen(function* () {
    const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, name))
    yield* Effect.promise(() => commitFiles(bare, files))
    yield* Effect.promise(() =>
      applyYaml(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  interval: 1h
  ref:
    branch: main
  url: ${server.repoUrl(name)}
`),
    )
    return {
      push: (changes: Readonly<Record<string, string>>) =>
        Effect.gen(function* () {
          const commit = yield* Effect.promise(() => commitFiles(bare, changes))
          yield* Effect.promise(() =>
            kubectl([
              "-n",
              ns,
              "annotate",
              "--overwrite",
              "gitrepository",
              name,
              `reconcile.fluxcd.io/requestedAt=${new Date().toISOString()}`,
            ]),
          )
          return `main@sha1:${commit}`
        }),
    }
  })

const kustomization = (name: string, spec: Readonly<Record<string, unknown>>) =>
  Effect.promise(() =>
    applyYaml(
      JSON.stringify({
        apiVersion: "kustomize.toolkit.fluxcd.io/v1",
        kind: "Kustomization",
        metadata: { name, namespace: ns },
        spec: { interval: "1h", prune: true, ...spec },
      }),
    ),
  )

// ------------------------------------------------------------------------------------------ scenarios

describe("Redaction of what API errors echo", () => {
  it.live(
    "field-error quotes, mistyped values and admission denials: the object and the field stay, the values go",
    () =>
      Effect.gen(function* () {
        // The decrypted and substituted objects as the operator will apply them, for the raw server answers.
        const sopsPlain = yield* Effect.promise(() =>
          secretManifest(ns, "redact-sops", { password: leak.sopsPassword }),
        )

        // The policy takes effect once the API server has loaded it.
        const vapRaw = yield* eventually(
          "the admission policy to deny",
          serverSays(vapDeployment()).pipe(
            Effect.map((m) => (m.includes(leak.vapValue) ? Option.some(m) : Option.none())),
          ),
          60_000,
          500,
        )
        const raw = {
          ref: yield* serverSays(refDeployment()),
          port: yield* serverSays(portDeployment()),
          vap: vapRaw,
          subst: yield* serverSays(substConfigMap(leak.substToken)),
          sops: yield* serverSays(sopsPlain),
          sopsConfig: yield* serverSays(sopsConfigMap()),
        }
        // What a user of Flux would read today: the server quotes every one of these values.
        console.log(`raw API server messages:\n${Object.values(raw).join("")}`)
        expect(raw.ref).toContain(leak.refName)
        expect(raw.port).toContain(String(leak.port))
        expect(raw.vap).toContain(leak.vapValue)
        expect(raw.subst).toContain(leak.substToken)
        expect([leak.sopsPassword, b64(leak.sopsPassword)].some((v) => raw.sops.includes(v))).toBe(true)
        expect(raw.sopsConfig).toContain(leak.sopsConfig)

        const work = yield* scratchDir("kustodian-redact-")
        yield* Effect.promise(() => mkdir(join(work, "key"), { recursive: true }))
        const key = yield* Effect.promise(() => generateAgeKey(join(work, "key")))
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
        yield* Effect.promise(() =>
          kubectl([
            "-n",
            ns,
            "create",
            "secret",
            "generic",
            "redact-vars",
            `--from-literal=TOKEN=${leak.substToken}`,
          ]),
        )
        const sopsEncrypted = yield* Effect.promise(() =>
          sopsEncryptInPlace(join(work, "repo", "secret.yaml"), sopsPlain, [
            `--age=${key.recipient}`,
            "--encrypted-regex",
            "^(data|stringData)$",
          ]),
        )
        const sopsEncryptedConfig = yield* Effect.promise(() =>
          sopsEncryptInPlace(join(work, "repo", "cm.yaml"), sopsConfigMap(), [
            `--age=${key.recipient}`,
            "--encrypted-regex",
            "^data$",
          ]),
        )
        for (const text of [sopsEncrypted, sopsEncryptedConfig]) expectNoLeak(text)

        yield* source("redact", {
          "ref/deploy.yaml": refDeployment(),
          "port/deploy.yaml": portDeployment(),
          "vap/deploy.yaml": vapDeployment(),
          "subst/cm.yaml": substConfigMap(`\${TOKEN}`),
          "sops/secret.yaml": sopsEncrypted,
          "sops/cm.yaml": sopsEncryptedConfig,
        })
        const from = { sourceRef: { kind: "GitRepository", name: "redact" } }
        yield* kustomization("redact-ref", { ...from, path: "./ref" })
        yield* kustomization("redact-port", { ...from, path: "./port" })
        yield* kustomization("redact-vap", { ...from, path: "./vap" })
        yield* kustomization("redact-subst", {
          ...from,
          path: "./subst",
          postBuild: { substituteFrom: [{ kind: "Secret", name: "redact-vars" }] },
        })
        yield* kustomization("redact-sops", {
          ...from,
          path: "./sops",
          decryption: { provider: "sops", secretRef: { name: "sops-age" } },
        })

        const cases = [
          {
            ks: "redact-ref",
            ref: `Deployment/${ns}/redact-ref`,
            shows: ['spec.template.spec.containers[0].envFrom[0].configMapRef.name: Invalid value: "***"'],
          },
          {
            ks: "redact-port",
            ref: `Deployment/${ns}/redact-port`,
            shows: ["env", "expected string, got ***"],
          },
          { ks: "redact-vap", ref: `Deployment/${ns}/redact-vap`, shows: ["env value *** is not allowed"] },
          {
            ks: "redact-subst",
            ref: `ConfigMap/${ns}/redact-subst`,
            shows: ["token *** must not be in a URL"],
          },
          { ks: "redact-sops", ref: `Secret/${ns}/redact-sops`, shows: ["password *** is too weak"] },
          { ks: "redact-sops", ref: `ConfigMap/${ns}/redact-sops-cm`, shows: ["password *** is too weak"] },
        ]
        for (const c of cases) {
          const message = yield* failed(c.ks)
          console.log(`${c.ks} Ready message: ${message}`)
          expect(message).toContain(c.ref)
          for (const s of c.shows) expect(message).toContain(s)
          expectNoLeak(message)
          const warning = yield* warningAbout(c.ks, c.ref)
          for (const s of c.shows) expect(warning.note).toContain(s)
          expectNoLeak(warning.note)
        }
      }).pipe(Effect.scoped),
    240_000,
  )

  it.live(
    "an immutable field change quotes the whole new pod template: it is masked, the field path stays",
    () =>
      Effect.gen(function* () {
        const src = yield* source("redact-immutable", {
          "job.yaml": job(leak.jobV1),
          "frozen.yaml": frozen(leak.frozenV1),
        })
        yield* kustomization("redact-immutable", {
          sourceRef: { kind: "GitRepository", name: "redact-immutable" },
          path: "./",
        })
        yield* waitReady("redact-immutable", "Ready=True", (ks) => ready(ks)?.status === "True")

        const raw = yield* serverSays(`${job(leak.jobV2)}---\n${frozen(leak.frozenV2)}`)
        console.log(`raw API server messages:\n${raw}`)
        expect(raw).toContain(leak.jobV2)

        const revision = yield* src.push({
          "job.yaml": job(leak.jobV2),
          "frozen.yaml": frozen(leak.frozenV2),
        })
        const ks = yield* waitReady(
          "redact-immutable",
          "Ready=False for the new revision",
          (k) => ready(k)?.status === "False" && k.status?.lastAttemptedRevision === revision,
        )
        const message = ready(ks)?.message ?? ""
        expect(message).toContain(`Job/${ns}/redact-job dry-run failed`)
        expect(message).toContain("spec.template: Invalid value: ***: field is immutable")
        expect(message).toContain(`ConfigMap/${ns}/redact-frozen dry-run failed`)
        expect(message).toContain("field is immutable")
        expectNoLeak(message)
        const warning = yield* warningAbout("redact-immutable", `Job/${ns}/redact-job`)
        expectNoLeak(warning.note)
      }),
  )

  it.live("nothing of it in any Kustomization, Event, journal, log line or metric", () =>
    Effect.gen(function* () {
      const all = yield* Effect.promise(() =>
        kubectl(["-n", ns, "get", "kustomizations,events.v1.events.k8s.io", "-o", "json"]),
      )
      expect(all).toContain("redact-ref")
      expectNoLeak(all)
      // The journals hold every reconcile's events: failure messages and change sets, never values.
      const journals = yield* Effect.promise(() =>
        kubectl(["-n", ns, "get", "reconcilejournals.kustodian.io", "-o", "json"]),
      )
      expect(journals).toContain("redact-ref")
      expect(journals).toContain("StageFailed")
      expectNoLeak(journals)
      const log = yield* Effect.promise(() => readFile(operator.logFile, "utf8"))
      expect(log).toContain("Reconciliation failed after")
      expect(log).toContain(`Deployment/${ns}/redact-vap`)
      expectNoLeak(log)
      const metrics = yield* Effect.promise(() =>
        fetch(`${operator.probeUrl}/metrics`).then((res) => res.text()),
      )
      expect(metrics).toContain("redact-ref")
      expectNoLeak(metrics)
    }),
  )
})
