/**
 * The fleet tests' world: a namespace for the Flux objects and one where their Kustomizations put what they
 * apply (`targetNamespace`), a real git server, age keys and decryption Secrets made as a user makes them, and
 * the operator as its own process — running as a ServiceAccount of its own so that kube-apiserver can count its
 * requests alone (`apiserver-requests.ts`), with its kustomize runs recorded (`kustomize-spawns.ts`) and its
 * temp root in a directory the test can look into.
 *
 * Each app is the benchmark's unit (`bench/reconcile.ts`): a sops/age-encrypted Secret, a ConfigMap and a
 * Deployment in a directory of its own.
 */
import { mkdir, readFile, rm } from "node:fs/promises"
import { dirname, join } from "node:path"
import { Effect } from "effect"
import {
  applyYaml,
  createTestNamespace,
  installFluxCrds,
  runKubectl,
  serviceAccountKubeConfig,
} from "../support/cluster.ts"
import { commitFiles, createBareRepo, type FileChanges, gitHttpServer } from "../support/git-server.ts"
import { type OperatorProcess, operatorProcess } from "../support/operator-process.ts"
import { logTail } from "../support/process.ts"
import { type AgeKey, generateAgeKey, scratchDir, sopsEncryptInPlace } from "../support/seed.ts"
import { type RequestMeter, requestMeter } from "./apiserver-requests.ts"
import { clusterView } from "./cluster-view.ts"
import { type KustomizeSpawns, kustomizeSpawns } from "./kustomize-spawns.ts"

export const installCrds = Effect.promise(installFluxCrds)

export interface FleetOperator {
  readonly process: OperatorProcess
  readonly spawns: KustomizeSpawns
  readonly requests: RequestMeter
  /** The operator's `$TMPDIR`: its temp root (build views, extracted artifacts) lives in here. */
  readonly tmpdir: string
}

/**
 * `kustodian controller` watching `ns`, as the ServiceAccount `ns/<name>` (allowed everything: what is measured
 * here is what it asks, not what RBAC lets it do).
 */
export const fleetOperator = (
  ns: string,
  appsNs: string,
  options: {
    readonly name?: string
    readonly flags?: ReadonlyArray<string>
    readonly env?: Readonly<Record<string, string>>
  } = {},
) =>
  Effect.gen(function* () {
    const name = options.name ?? "kustodian"
    const sa = yield* Effect.acquireRelease(
      Effect.promise(() =>
        serviceAccountKubeConfig(ns, name, [], {
          clusterRules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }],
        }),
      ),
      // The cluster-wide grant goes with the test; so does the kubeconfig holding the token.
      (sa) =>
        Effect.promise(async () => {
          await runKubectl([
            "delete",
            "--ignore-not-found",
            `clusterrolebinding/${ns}-${name}`,
            `clusterrole/${ns}-${name}`,
          ])
          await rm(dirname(sa.path), { recursive: true, force: true })
        }),
    )
    const requests = yield* requestMeter({ namespace: ns, name }, appsNs)
    const spawns = yield* kustomizeSpawns
    const tmpdir = yield* scratchDir("kustodian-fleet-tmp-")
    const process = yield* operatorProcess({
      kubeconfig: sa.path,
      namespace: ns,
      flags: options.flags,
      env: { ...spawns.env, TMPDIR: tmpdir, ...options.env },
    })
    return { process, spawns, requests, tmpdir } satisfies FleetOperator
  })

export interface App {
  /** The directory in the repository, e.g. `apps/web`. */
  readonly path: string
  /** Names of its objects: `<name>-secret`, `<name>-config`, `<name>` (the Deployment). */
  readonly name: string
  /** The Secret's values (plaintext; encrypted in the repository). */
  readonly secret: Readonly<Record<string, string>>
  /** The ConfigMap's data (may hold `${var}` for postBuild substitution). */
  readonly config: Readonly<Record<string, string>>
  /** Recipients the Secret is encrypted for. */
  readonly recipients: ReadonlyArray<AgeKey>
  /** Extra `resources:` entries of its kustomization.yaml (e.g. `../other/secret.yaml`). */
  readonly extraResources?: ReadonlyArray<string>
}

const yamlMap = (indent: string, entries: Readonly<Record<string, string>>) =>
  Object.entries(entries)
    .map(([k, v]) => `${indent}${k}: ${JSON.stringify(v)}`)
    .join("\n")

const b64 = (s: string) => Buffer.from(s).toString("base64")

/** `${name}` in a manifest: a postBuild substitution variable. */
export const variable = (name: string) => `\${${name}}`

/** Scaled by another manager in the drift tests; the repository says 1. */
export const deploymentReplicas = 1

/** The objects an app applies, in the order Flux applies them (Secret and ConfigMap before the Deployment). */
export const appObjects = (app: Pick<App, "name">) => [
  { kind: "secret", name: `${app.name}-secret` },
  { kind: "configmap", name: `${app.name}-config` },
  { kind: "deployment", name: app.name },
]

export interface Fleet {
  readonly ns: string
  readonly appsNs: string
  /** The Flux objects' namespace, and the one their objects land in. */
  readonly view: ReturnType<typeof clusterView>
  readonly apps: ReturnType<typeof clusterView>
  readonly logs: Array<string>
  /** A new age key (`age-keygen`). */
  readonly ageKey: (name: string) => Effect.Effect<AgeKey>
  /** Creates or replaces the decryption Secret `name` (entry `age.agekey`, as in Flux's guide). */
  readonly decryptionSecret: (
    name: string,
    key: AgeKey,
    labels?: Readonly<Record<string, string>>,
  ) => Effect.Effect<void>
  /** Creates or replaces a `substituteFrom` source in the Flux objects' namespace. */
  readonly variables: (
    kind: "ConfigMap" | "Secret",
    name: string,
    data: Readonly<Record<string, string>>,
    labels?: Readonly<Record<string, string>>,
  ) => Effect.Effect<void>
  /** An app's files, its Secret encrypted with the real `sops`. */
  readonly appFiles: (app: App) => Effect.Effect<FileChanges>
  /** A repository on the git server with a GitRepository for it (branch main, interval 1h). */
  readonly repository: (
    name: string,
    files: FileChanges,
    labels?: Readonly<Record<string, string>>,
  ) => Effect.Effect<Repository>
  /** Applies a Kustomization (interval 1h, prune, `targetNamespace` the apps namespace unless given). */
  readonly kustomization: (
    name: string,
    spec: Readonly<Record<string, unknown>>,
    labels?: Readonly<Record<string, string>>,
  ) => Effect.Effect<void>
}

export interface Repository {
  readonly name: string
  /** `main@sha1:<first commit>`. */
  readonly revision: string
  readonly sourceRef: { readonly kind: "GitRepository"; readonly name: string }
  /** Commits `changes` and asks for a fetch (`flux reconcile source git`); the new revision. */
  readonly push: (changes: FileChanges) => Effect.Effect<string>
}

/**
 * Namespaces, a git server, keys and the objects' helpers; no operator yet. On failure, the objects and every
 * operator's log are printed.
 */
export const fleetWorld = (prefix: string) =>
  Effect.gen(function* () {
    yield* installCrds
    const ns = yield* Effect.promise(() => createTestNamespace(prefix))
    const appsNs = yield* Effect.promise(() => createTestNamespace(`${prefix}-apps`))
    const server = yield* gitHttpServer()
    const work = yield* scratchDir("kustodian-fleet-")
    const logs: Array<string> = []
    const view = clusterView(ns)
    const apps = clusterView(appsNs)

    yield* Effect.addFinalizer((exit) =>
      exit._tag === "Success"
        ? Effect.void
        : Effect.promise(async () => {
            const objects = await runKubectl(["-n", ns, "get", "gitrepository,kustomization", "-o", "yaml"])
            console.error(`--- ${ns} objects ---\n${objects.stdout}${objects.stderr}`)
            for (const f of logs) console.error(`--- ${f} (last lines) ---\n${logTail(f, 60)}`)
          }),
    )

    const ageKey = (name: string) =>
      Effect.promise(async () => {
        const dir = join(work, "keys", name)
        await mkdir(dir, { recursive: true })
        return generateAgeKey(dir)
      })

    const decryptionSecret = (name: string, key: AgeKey, labels: Readonly<Record<string, string>> = {}) =>
      Effect.promise(async () => {
        const identity = await readFile(key.keyFile, "utf8")
        await applyYaml(
          JSON.stringify({
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name, namespace: ns, labels },
            data: { "age.agekey": b64(identity) },
          }),
        )
      })

    const variables = (
      kind: "ConfigMap" | "Secret",
      name: string,
      data: Readonly<Record<string, string>>,
      labels: Readonly<Record<string, string>> = {},
    ) =>
      Effect.promise(() =>
        applyYaml(
          JSON.stringify({
            apiVersion: "v1",
            kind,
            metadata: { name, namespace: ns, labels },
            data:
              kind === "Secret"
                ? Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)]))
                : data,
          }),
        ).then(() => undefined),
      )

    let files = 0
    const appFiles = (app: App) =>
      Effect.promise(async (): Promise<FileChanges> => {
        const plain = `apiVersion: v1
kind: Secret
metadata:
  name: ${app.name}-secret
type: Opaque
data:
${yamlMap("  ", Object.fromEntries(Object.entries(app.secret).map(([k, v]) => [k, b64(v)])))}
`
        const file = join(work, "encrypt", String(files++), "secret.yaml")
        const encrypted = await sopsEncryptInPlace(file, plain, [
          "--age",
          app.recipients.map((k) => k.recipient).join(","),
          "--encrypted-regex",
          "^(data|stringData)$",
        ])
        const resources = ["secret.yaml", "configmap.yaml", "deployment.yaml", ...(app.extraResources ?? [])]
        return {
          [`${app.path}/kustomization.yaml`]: `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
${resources.map((r) => `  - ${r}`).join("\n")}
`,
          [`${app.path}/secret.yaml`]: encrypted,
          [`${app.path}/configmap.yaml`]: `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${app.name}-config
data:
${yamlMap("  ", app.config)}
`,
          [`${app.path}/deployment.yaml`]: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${app.name}
spec:
  replicas: ${deploymentReplicas}
  selector:
    matchLabels:
      app: ${app.name}
  template:
    metadata:
      labels:
        app: ${app.name}
    spec:
      containers:
        - name: app
          image: registry.invalid/${app.name}:1
`,
        }
      })

    const requestFetch = (name: string) => view.requestReconcile("gitrepository", name)

    const repository = (name: string, initial: FileChanges, labels: Readonly<Record<string, string>> = {}) =>
      Effect.gen(function* () {
        const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, name))
        const first = yield* Effect.promise(() => commitFiles(bare, initial))
        yield* Effect.promise(() =>
          applyYaml(
            JSON.stringify({
              apiVersion: "source.toolkit.fluxcd.io/v1",
              kind: "GitRepository",
              metadata: { name, namespace: ns, labels },
              spec: { interval: "1h", ref: { branch: "main" }, url: server.repoUrl(name) },
            }),
          ),
        )
        const push = (changes: FileChanges) =>
          Effect.gen(function* () {
            const commit = yield* Effect.promise(() => commitFiles(bare, changes))
            yield* requestFetch(name)
            return `main@sha1:${commit}`
          })
        return {
          name,
          revision: `main@sha1:${first}`,
          sourceRef: { kind: "GitRepository", name },
          push,
        } satisfies Repository
      })

    const kustomization = (
      name: string,
      spec: Readonly<Record<string, unknown>>,
      labels: Readonly<Record<string, string>> = {},
    ) =>
      Effect.promise(() =>
        applyYaml(
          JSON.stringify({
            apiVersion: "kustomize.toolkit.fluxcd.io/v1",
            kind: "Kustomization",
            metadata: { name, namespace: ns, labels },
            spec: { interval: "1h", prune: true, targetNamespace: appsNs, ...spec },
          }),
        ).then(() => undefined),
      )

    return {
      ns,
      appsNs,
      view,
      apps,
      logs,
      ageKey,
      decryptionSecret,
      variables,
      appFiles,
      repository,
      kustomization,
    } satisfies Fleet
  })

/** An operator of the fleet; its log is printed when the test fails. */
export const startOperator = (world: Fleet, options: Parameters<typeof fleetOperator>[2] = {}) =>
  fleetOperator(world.ns, world.appsNs, options).pipe(
    Effect.tap((o) => Effect.sync(() => world.logs.push(o.process.logFile))),
  )

/** A fleet with one operator. */
export const fleet = (prefix: string) =>
  Effect.gen(function* () {
    const world = yield* fleetWorld(prefix)
    return { ...world, operator: yield* startOperator(world) }
  })

/** The Kustomization spec of an app: its path, its source, its own decryption Secret. */
export const appSpec = (app: Pick<App, "path">, repo: Repository, decryptionSecret: string) => ({
  path: `./${app.path}`,
  sourceRef: repo.sourceRef,
  decryption: { provider: "sops", secretRef: { name: decryptionSecret } },
})
