/**
 * What the key-provider e2e tests (AWS KMS, Azure Key Vault, GCP KMS) share: in the test's namespace, a
 * GitRepository from the test's git server, a Kustomization with sops decryption, and the objects read back
 * through kubectl; a wait that gives up with the Kustomizations and the operator's log.
 *
 * @module
 */
import { Effect } from "effect"
import { applyYaml, runKubectl } from "./cluster.ts"
import { applyKustomization, gitSourceRef } from "./flux-objects.ts"
import { commitFiles, createBareRepo, type GitHttpServer } from "./git-server.ts"
import type { Obj } from "./kube-objects.ts"
import type { OperatorProcess } from "./operator-process.ts"
import { logTail } from "./process.ts"

export interface Testbed {
  readonly ns: string
  readonly server: GitHttpServer
  readonly operator: OperatorProcess
}

/** Helpers over `testbed()`, which is read when they run (the test's `beforeAll` fills it). */
export const providerTestbed = (testbed: () => Testbed) => {
  const get = (kind: string, name: string) =>
    Effect.promise(async (): Promise<Obj | undefined> => {
      const r = await runKubectl(["-n", testbed().ns, "get", kind, name, "-o", "json"])
      return r.code === 0 ? (JSON.parse(r.stdout) as Obj) : undefined
    })
  const ready = (o: Obj | undefined) => o?.status?.conditions?.find((c) => c.type === "Ready")

  const waitFor = (kind: string, name: string, what: string, predicate: (o: Obj) => boolean) =>
    Effect.gen(function* () {
      const deadline = Date.now() + 90_000
      while (Date.now() < deadline) {
        const o = yield* get(kind, name)
        if (o !== undefined && predicate(o)) return o
        yield* Effect.sleep(300)
      }
      const all = yield* Effect.promise(() =>
        runKubectl(["-n", testbed().ns, "get", "kustomization", "-o", "yaml"]),
      )
      return yield* Effect.die(
        new Error(
          `timed out waiting for ${kind}/${name}: ${what}\n${all.stdout}\n--- operator log ---\n${logTail(testbed().operator.logFile, 30)}`,
        ),
      )
    })
  const isReady = (revision: string) => (o: Obj) =>
    ready(o)?.status === "True" && o.status?.lastAppliedRevision === revision
  const isFailed = (o: Obj) => ready(o)?.status === "False" && ready(o)?.reason === "BuildFailed"

  /** A GitRepository `name` of a new repository holding `files` on main; its revision. */
  const source = (name: string, files: Readonly<Record<string, string>>) =>
    Effect.gen(function* () {
      const { ns, server } = testbed()
      const bare = yield* Effect.promise(() => createBareRepo(server.reposDir, name))
      const commit = yield* Effect.promise(() => commitFiles(bare, files))
      yield* Effect.promise(() =>
        applyYaml(
          JSON.stringify({
            apiVersion: "source.toolkit.fluxcd.io/v1",
            kind: "GitRepository",
            metadata: { name, namespace: ns },
            spec: { interval: "1h", ref: { branch: "main" }, url: server.repoUrl(name) },
          }),
        ),
      )
      return { name, revision: `main@sha1:${commit}` }
    })

  const kustomization = (name: string, src: string, path: string, decryption: Record<string, unknown>) =>
    applyKustomization(testbed().ns, name, {
      ...gitSourceRef(src),
      path,
      decryption: { provider: "sops", ...decryption },
    })

  /** The decrypted `password` of Secret `name`, once it exists. */
  const passwordOf = (name: string) =>
    get("secret", name).pipe(
      Effect.map((o) => {
        const p = (o?.data as Record<string, string> | undefined)?.password
        return p === undefined ? undefined : Buffer.from(p, "base64").toString("utf8")
      }),
    )

  /**
   * The operator's `gotk_token_cache_events_total` line for `event` (cache_hit, cache_miss) of Kustomization
   * `name` and the provider's `operation` (decrypt_with_aws, …), if it has one.
   */
  const tokenCacheEvent = (event: string, name: string, operation: string) =>
    Effect.promise(async () => {
      const metrics = await (await fetch(`${testbed().operator.probeUrl}/metrics`)).text()
      return metrics
        .split("\n")
        .find(
          (l) =>
            l.startsWith("gotk_token_cache_events_total") &&
            l.includes(`event_type="${event}"`) &&
            l.includes(`name="${name}"`) &&
            l.includes(`operation="${operation}"`),
        )
    })

  return { get, ready, waitFor, isReady, isFailed, source, kustomization, passwordOf, tokenCacheEvent }
}
