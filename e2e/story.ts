/**
 * The README's main command (`npm start`): the seed's workflow on an embedded default, on this machine.
 *
 * Starts a local control plane (kube-apiserver + etcd) and a git server, installs the CRDs, runs the operator
 * (`kustodian controller`), encrypts a Secret with sops and a fresh age key and pushes it, applies the seed's
 * GitRepository and Kustomization, and shows what a user would check: the objects' status and the decrypted
 * Secret's keys (never its values). It keeps running until interrupted (Ctrl-C), then stops everything it
 * started.
 */
import { join } from "node:path"
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { startCluster } from "./cluster/index.ts"
import { commitFiles, createBareRepo, gitHttpServer } from "./support/git-server.ts"
import { operatorProcess } from "./support/operator-process.ts"
import {
  generateAgeKey,
  run,
  scratchDir,
  secretManifest,
  seedManifest,
  seedStep,
  sopsEncryptInPlace,
} from "./support/seed.ts"
import { repoRoot, toolPath } from "./support/tools.ts"

const namespace = "flux-system"

const say = (line: string) => Effect.sync(() => process.stdout.write(`${line}\n`))

const step = <A, E, R>(title: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const started = Date.now()
    yield* say(`▸ ${title}`)
    const result = yield* effect
    yield* say(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    return result
  })

const story = Effect.gen(function* () {
  const cluster = yield* step(
    "starting the local control plane (etcd + kube-apiserver)",
    Effect.acquireRelease(
      Effect.promise(() => startCluster()),
      (c) => Effect.promise(() => c.stop()),
    ),
  )
  const kubeconfig = cluster.cluster.kubeconfigPath
  const kubectl = (args: ReadonlyArray<string>, input?: string) =>
    Effect.promise(() =>
      run(toolPath("kubectl"), [`--kubeconfig=${kubeconfig}`, ...args], input === undefined ? {} : { input }),
    )

  yield* step(
    "installing the CRDs (GitRepository, Kustomization)",
    Effect.gen(function* () {
      yield* kubectl([
        "apply",
        "--server-side",
        "-f",
        join(repoRoot, "crds/source.toolkit.fluxcd.io_gitrepositories.yaml"),
        "-f",
        join(repoRoot, "crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml"),
        "-f",
        join(repoRoot, "crds/kustodian.io_reconcilejournals.yaml"),
      ])
      yield* kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"])
      yield* kubectl(["create", "namespace", namespace])
    }),
  )

  const git = yield* step("starting a git server (smart HTTP)", gitHttpServer())
  const bare = yield* Effect.promise(() => createBareRepo(git.reposDir, "my-secrets"))
  const url = git.repoUrl("my-secrets")

  const operator = yield* step("running the operator: kustodian controller", operatorProcess({ kubeconfig }))

  const work = yield* scratchDir("kustodian-story-")
  yield* step(
    "age-keygen, and the sops-age Secret made as the seed makes it",
    Effect.gen(function* () {
      const age = yield* Effect.promise(() => generateAgeKey(work))
      yield* Effect.promise(() =>
        seedStep(
          `cat ${age.keyFile} | kubectl create secret generic sops-age --namespace=${namespace} --from-file=age.agekey=/dev/stdin`,
          kubeconfig,
        ),
      )
      const plain = yield* Effect.promise(() =>
        secretManifest("default", "basic-auth", { user: "admin", password: "change-me" }),
      )
      const encrypted = yield* Effect.promise(() =>
        sopsEncryptInPlace(join(work, "basic-auth.yaml"), plain, [
          `--age=${age.recipient}`,
          "--encrypted-regex",
          "^(data|stringData)$",
        ]),
      )
      yield* say(`  encrypted basic-auth.yaml with sops; pushing it to ${url}`)
      // The seed's GitRepository names no ref: Flux's default branch, master.
      yield* Effect.promise(() => commitFiles(bare, { "basic-auth.yaml": encrypted }, { branch: "master" }))
    }),
  )

  yield* step(
    "applying the seed's GitRepository and Kustomization",
    Effect.gen(function* () {
      yield* kubectl(
        ["apply", "-f", "-"],
        yield* Effect.promise(() => seedManifest("gitrepository", { namespace, url })),
      )
      yield* kubectl(
        ["apply", "-f", "-"],
        yield* Effect.promise(() =>
          seedManifest("kustomization", { namespace, decryptionSecret: "sops-age" }),
        ),
      )
      yield* kubectl([
        "-n",
        namespace,
        "wait",
        "--for=condition=Ready",
        "--timeout=180s",
        "kustomization/my-secrets",
      ])
    }),
  )

  yield* say("")
  yield* say(yield* kubectl(["-n", namespace, "get", "gitrepositories,kustomizations"]))
  const secret = JSON.parse(
    yield* kubectl(["-n", "default", "get", "secret", "basic-auth", "-o", "json"]),
  ) as {
    data?: Record<string, string>
  }
  yield* say(
    `Secret default/basic-auth is in the cluster, decrypted; its keys: ${Object.keys(secret.data ?? {}).join(", ")}`,
  )
  yield* say("")
  yield* say(`kubeconfig: ${kubeconfig}`)
  yield* say(`operator log: ${operator.logFile}   metrics: ${operator.probeUrl}/metrics`)
  yield* say(`git repository: ${url} (push to it and watch the cluster follow)`)
  yield* say("Kustodian is running. Press Ctrl-C to stop everything it started.")
  yield* Effect.addFinalizer(() => say("\nStopping the operator, the git server and the control plane…"))
  return yield* Effect.never
})

NodeRuntime.runMain(Effect.scoped(story))
