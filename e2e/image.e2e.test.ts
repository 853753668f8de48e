/**
 * The operator as users run it: the image the Dockerfile builds (here by podman, from base images made locally —
 * scripts/image.sh), started by testcontainers through podman's Docker API, configured the way a pod is — in-cluster
 * configuration from KUBERNETES_SERVICE_HOST/PORT and a ServiceAccount token (TokenRequest) mounted where client
 * libraries look for it, non-root, read-only root filesystem, /tmp and /data as tmpfs — against the test control
 * plane. Runs the seed's age workflow through it, then hands leadership over on SIGTERM to a standby.
 */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { GenericContainer, type StartedTestContainer } from "testcontainers"
import {
  createServiceAccount,
  createTestNamespace,
  installFluxCrds,
  kubectl,
  runKubectl,
  serviceAccountToken,
  testKubeconfigPath,
} from "./support/cluster.ts"
import { eventually } from "./support/eventually.ts"
import { commitFiles, createBareRepo, gitHttpServer } from "./support/git-server.ts"
import { operatorImage, podman, podmanService, podmanUnavailable, runLimits } from "./support/podman.ts"
import { freePort } from "./support/ports.ts"
import {
  generateAgeKey,
  scratchDir,
  secretManifest,
  seedManifest,
  seedStep,
  sopsEncryptInPlace,
} from "./support/seed.ts"

const unavailable = podmanUnavailable()

/** testcontainers' builder, plus the one pod setting it has no method for: a read-only root filesystem. */
class PodLikeContainer extends GenericContainer {
  withReadOnlyRootFilesystem(): this {
    this.hostConfig.ReadonlyRootfs = true
    return this
  }
}

const until = <A>(what: string, check: Effect.Effect<A | undefined>, timeoutMs = 120_000) =>
  eventually(what, check.pipe(Effect.map(Option.fromNullishOr)), timeoutMs, 500)

const json = <A>(args: ReadonlyArray<string>) =>
  Effect.promise(async () => {
    const r = await runKubectl([...args, "-o", "json"])
    return r.code === 0 ? (JSON.parse(r.stdout) as A) : undefined
  })

const leaseHolder = (ns: string) =>
  json<{ spec?: { holderIdentity?: string } }>(["-n", ns, "get", "lease", "kustodian-leader"]).pipe(
    Effect.map((l) => l?.spec?.holderIdentity),
  )

/** The API server's address as a pod sees it: KUBERNETES_SERVICE_HOST/PORT (host network: the loopback one). */
const apiServer = Effect.promise(async () => {
  const kc = JSON.parse(await kubectl(["config", "view", "--raw", "-o", "json"])) as {
    clusters: ReadonlyArray<{ cluster: { server: string; "certificate-authority-data": string } }>
  }
  const { server, "certificate-authority-data": ca } = kc.clusters[0]!.cluster
  const url = new URL(server)
  return { host: url.hostname, port: url.port, ca: Buffer.from(ca, "base64").toString() }
})

if (unavailable !== undefined) {
  describe("the operator image", () => {
    it.skip(`cannot run here: ${unavailable}`, () => undefined)
  })
} else {
  describe("the operator image", () => {
    it.live(
      "is non-root, read-only, built JavaScript with one Node, git, ssh, gpg and kustomize; --help prints usage",
      () =>
        Effect.gen(function* () {
          const image = yield* operatorImage
          const config = JSON.parse(yield* podman(["image", "inspect", image])) as ReadonlyArray<{
            Config: { User: string; Entrypoint: ReadonlyArray<string> }
          }>
          expect(config[0]!.Config.User).toBe("65532:65532")
          const probe = yield* podman([
            "run",
            "--rm",
            "--read-only",
            "--network=none",
            ...runLimits,
            "--entrypoint=/bin/sh",
            image,
            "-c",
            [
              "id -u",
              "find / -xdev -name node -type f -perm -u+x 2>/dev/null | wc -l",
              "node --version",
              "find /app -name '*.ts' | wc -l",
              "ls /app | grep -c '^kustodian.mjs$'",
              "git --version | cut -d' ' -f1-2",
              "ssh -V 2>&1 | cut -d_ -f1",
              "gpg --version | head -1 | cut -d' ' -f1-2",
              "kustomize version | cut -c1-2",
              "test -x /usr/local/bin/kustodian-sandbox && echo sandbox",
              "touch /written 2>/dev/null && echo writable || echo read-only",
            ].join("; "),
          ])
          expect(probe.trim().split("\n")).toEqual([
            "65532",
            "1",
            expect.stringMatching(/^v24\./),
            "0",
            "1",
            "git version",
            "OpenSSH",
            "gpg (GnuPG)",
            "v5",
            "sandbox",
            "read-only",
          ])
          const help = yield* podman([
            "run",
            "--rm",
            "--read-only",
            "--network=none",
            ...runLimits,
            image,
            "controller",
            "--help",
          ])
          expect(help).toMatch(/^kustodian controller \[flags\]/)
          expect(help).not.toMatch(/\bat .*\.m?js:\d+/)
        }),
      45 * 60_000,
    )

    it.live(
      "runs the seed in a container with in-cluster configuration, and hands the lease to a standby on SIGTERM",
      () =>
        Effect.gen(function* () {
          const image = yield* operatorImage
          const work = yield* scratchDir("kustodian-image-e2e-")
          const service = yield* podmanService(work)
          // testcontainers reads its engine from the environment; its reaper (Ryuk) cannot be pulled here, so
          // the scope stops and removes every container this test starts.
          process.env.DOCKER_HOST = service.dockerHost
          process.env.TESTCONTAINERS_RYUK_DISABLED = "true"

          // The CRDs, as every test that makes Flux objects installs them (idempotent): not left to test order.
          yield* Effect.promise(() => installFluxCrds())
          const ns = yield* Effect.promise(() => createTestNamespace("image"))
          yield* Effect.promise(() => createServiceAccount(ns, "kustodian-controller"))
          // Test-only RBAC: cluster-admin for this ServiceAccount (dist/install.yaml's own RBAC is tested in
          // synth/install.e2e.test.ts and shares cluster-scoped names this test must not touch).
          yield* Effect.acquireRelease(
            Effect.promise(() =>
              kubectl([
                "create",
                "clusterrolebinding",
                `${ns}-admin`,
                "--clusterrole=cluster-admin",
                `--serviceaccount=${ns}:kustodian-controller`,
              ]),
            ),
            () => Effect.promise(() => runKubectl(["delete", "clusterrolebinding", `${ns}-admin`])),
          )
          // What the kubelet mounts for a pod: token, CA and namespace, readable by the image's user.
          const api = yield* apiServer
          const saDir = join(work, "serviceaccount")
          const token = yield* Effect.promise(() => serviceAccountToken(ns, "kustodian-controller"))
          yield* Effect.promise(async () => {
            await mkdir(saDir, { recursive: true })
            await writeFile(join(saDir, "token"), token)
            await writeFile(join(saDir, "ca.crt"), api.ca)
            await writeFile(join(saDir, "namespace"), ns)
            await chmod(work, 0o755)
            await chmod(saDir, 0o755)
            for (const f of ["token", "ca.crt", "namespace"]) await chmod(join(saDir, f), 0o644)
          })

          // The seed's user side: an age key, the sops-age Secret, .sops.yaml, basic-auth encrypted and pushed.
          const server = yield* gitHttpServer()
          const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, "my-secrets"))
          const age = yield* Effect.promise(() => generateAgeKey(work))
          const ageIdentity = (yield* Effect.promise(() => readFile(age.keyFile, "utf8"))).match(
            /AGE-SECRET-KEY-\S+/,
          )![0]
          yield* Effect.promise(() =>
            seedStep(
              `cat "$AGE_KEY" | kubectl create secret generic sops-age --namespace=${ns} --from-file=age.agekey=/dev/stdin`,
              testKubeconfigPath(),
              { AGE_KEY: age.keyFile },
            ),
          )
          const sopsYaml = `creation_rules:\n- path_regex: .*.yaml\n  encrypted_regex: ^(data|stringData)$\n  age: ${age.recipient}\n`
          const encrypt = (password: string) =>
            Effect.promise(async () => {
              const dir = join(work, "repo")
              await mkdir(dir, { recursive: true })
              await writeFile(join(dir, ".sops.yaml"), sopsYaml)
              const plain = await secretManifest(ns, "basic-auth", { user: "admin", password })
              return sopsEncryptInPlace(join(dir, "basic-auth.yaml"), plain, [], {})
            })
          const push = (password: string) =>
            Effect.gen(function* () {
              const encrypted = yield* encrypt(password)
              expect(encrypted).not.toContain(Buffer.from(password).toString("base64"))
              return yield* Effect.promise(() =>
                commitFiles(
                  bare,
                  {
                    "clusters/cluster0/.sops.yaml": sopsYaml,
                    "clusters/cluster0/basic-auth.yaml": encrypted,
                  },
                  { branch: "master" },
                ),
              )
            })
          yield* push("change-me")
          const url = server.repoUrl("my-secrets")
          for (const which of ["gitrepository", "kustomization"] as const) {
            const manifest = yield* Effect.promise(() =>
              seedManifest(which, { namespace: ns, url, decryptionSecret: "sops-age" }),
            )
            yield* Effect.promise(() => kubectl(["apply", "-f", "-"], { input: manifest }))
          }

          // Two replicas, as a rolling update briefly has: each a container from the image, configured like a pod.
          const operator = (podName: string) =>
            Effect.gen(function* () {
              const [probe, storage] = yield* Effect.promise(() => Promise.all([freePort(), freePort()]))
              const container = yield* Effect.acquireRelease(
                Effect.promise(() =>
                  new PodLikeContainer(image)
                    .withPullPolicy({ shouldPull: () => false })
                    .withNetworkMode("host")
                    .withReadOnlyRootFilesystem()
                    .withTmpFs({ "/tmp": "rw,size=256m", "/data": "rw,size=256m" })
                    .withUlimits({ nofile: { soft: 1024, hard: 1024 }, nproc: { soft: 1024, hard: 1024 } })
                    .withBindMounts([
                      { source: saDir, target: "/var/run/secrets/kubernetes.io/serviceaccount", mode: "ro" },
                    ])
                    .withEnvironment({
                      KUBERNETES_SERVICE_HOST: api.host,
                      KUBERNETES_SERVICE_PORT: api.port,
                      RUNTIME_NAMESPACE: ns,
                      POD_NAME: podName,
                    })
                    .withCommand([
                      "controller",
                      `--metrics-addr=127.0.0.1:${probe}`,
                      `--storage-addr=127.0.0.1:${storage}`,
                      "--storage-path=/data",
                      "--watch-all-namespaces=false",
                      "--enable-leader-election",
                      "--log-encoding=json",
                      "--graceful-shutdown-timeout=20s",
                    ])
                    .start(),
                ),
                (c) => Effect.promise(() => c.stop({ timeout: 30_000 }).catch(() => undefined)),
              )
              const ready = () =>
                fetch(`http://127.0.0.1:${probe}/readyz`).then(
                  (r) => r.ok,
                  () => false,
                )
              return { container: container as StartedTestContainer, ready, podName }
            })

          const first = yield* operator("kustodian-0")
          yield* until(
            "kustodian-0 leading",
            leaseHolder(ns).pipe(Effect.map((h) => h === "kustodian-0" || undefined)),
          )
          const secret = (password: string) =>
            until(
              `Secret basic-auth with password ${password.length} characters long`,
              json<{ data?: Record<string, string> }>(["-n", ns, "get", "secret", "basic-auth"]).pipe(
                Effect.map((s) =>
                  s?.data?.password !== undefined &&
                  Buffer.from(s.data.password, "base64").toString() === password
                    ? s
                    : undefined,
                ),
              ),
            )
          yield* secret("change-me")
          yield* Effect.promise(() =>
            kubectl([
              "-n",
              ns,
              "wait",
              "--for=condition=Ready",
              "--timeout=120s",
              "kustomization/my-secrets",
            ]),
          )

          // A standby: Ready (so a rolling update can proceed) but not leading.
          const second = yield* operator("kustodian-1")
          yield* until(
            "kustodian-1 ready as a standby",
            Effect.promise(second.ready).pipe(Effect.map((r) => r || undefined)),
          )
          expect(yield* leaseHolder(ns)).toBe("kustodian-0")

          // SIGTERM to the leader: it releases the lease on its way out and the standby takes over at once,
          // long before the lease would have expired.
          const stopped = Date.now()
          const stoppedFirst = yield* Effect.promise(() =>
            first.container.stop({ timeout: 30_000, remove: false }),
          )
          const exitCode = yield* podman(["inspect", "--format", "{{.State.ExitCode}}", stoppedFirst.getId()])
          yield* podman(["rm", "-f", stoppedFirst.getId()])
          expect(exitCode.trim()).toBe("0")
          yield* until(
            "kustodian-1 leading",
            leaseHolder(ns).pipe(Effect.map((h) => h === "kustodian-1" || undefined)),
            30_000,
          )
          expect(Date.now() - stopped).toBeLessThan(40_000)

          // The new leader reconciles the next commit.
          yield* push("changed-again")
          yield* Effect.promise(() =>
            kubectl([
              "-n",
              ns,
              "annotate",
              "--overwrite",
              "gitrepository/my-secrets",
              `reconcile.fluxcd.io/requestedAt=${new Date().toISOString()}`,
            ]),
          )
          yield* secret("changed-again")
          const logs = yield* Effect.promise(async () => {
            const stream = await second.container.logs()
            const chunks: Array<string> = []
            stream.on("data", (c: Buffer | string) => chunks.push(String(c)))
            await new Promise((r) => setTimeout(r, 500))
            stream.destroy()
            return chunks.join("")
          })
          // No plaintext in what the operator logged.
          expect(logs).not.toContain("changed-again")
          expect(logs).not.toContain(ageIdentity)
        }).pipe(Effect.scoped),
      45 * 60_000,
    )
  })
}
