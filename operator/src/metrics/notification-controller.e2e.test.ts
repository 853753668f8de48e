/**
 * Flux's real notification-controller as the receiver of `--events-addr`: Kustodian's Events go to its event
 * server, an Alert selects them, and a `generic` Provider forwards them to a local webhook receiver — the path a
 * Slack or GitHub commit-status alert takes in a Flux installation. Needs the binary from
 * `scripts/tools.sh notification-controller` (optional, built from the Go module proxy); skipped without it.
 */
import { readdirSync, readFileSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Option, Scope } from "effect"
import {
  applyYaml,
  createTestNamespace,
  installFluxCrds,
  runKubectl,
  testKubeconfigPath,
  waitForCrds,
} from "../../../e2e/support/cluster.ts"
import { eventually } from "../../../e2e/support/eventually.ts"
import { applyKustomization, gitSourceRef } from "../../../e2e/support/flux-objects.ts"
import { commitFiles, createBareRepo, gitHttpServer } from "../../../e2e/support/git-server.ts"
import type { Obj } from "../../../e2e/support/kube-objects.ts"
import { type OperatorProcess, operatorProcess } from "../../../e2e/support/operator-process.ts"
import { freePort } from "../../../e2e/support/ports.ts"
import { daemon, waitReady } from "../../../e2e/support/process.ts"
import { hasTool, toolPath } from "../../../e2e/support/tools.ts"
import { type EventReceiver, eventReceiver } from "../runtime/testing/event-receiver.ts"

const available = hasTool("notification-controller")

let ns = ""
let revision = ""
let webhook: EventReceiver
let operator: OperatorProcess
const scope = Effect.runSync(Scope.make())

/** Starts notification-controller against the test control plane, watching `ns` only; resolves with its events URL. */
const notificationController = Effect.gen(function* () {
  const [events, metrics, health, receiver] = yield* Effect.promise(() =>
    Promise.all([freePort(), freePort(), freePort(), freePort()]),
  )
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "kustodian-nc-"))),
    (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
  )
  const d = yield* daemon({
    name: "notification-controller",
    command: toolPath("notification-controller"),
    args: [
      `--events-addr=127.0.0.1:${events}`,
      `--metrics-addr=127.0.0.1:${metrics}`,
      `--health-addr=127.0.0.1:${health}`,
      `--receiverAddr=127.0.0.1:${receiver}`,
      "--watch-all-namespaces=false",
      "--enable-leader-election=false",
      "--log-level=info",
      "--log-encoding=json",
    ],
    env: { ...process.env, KUBECONFIG: testKubeconfigPath(), RUNTIME_NAMESPACE: ns },
    logFile: join(dir, "notification-controller.log"),
  })
  yield* waitReady(
    d,
    async () => (await fetch(`http://127.0.0.1:${health}/readyz`).catch(() => undefined))?.ok === true,
    60_000,
    "ready",
  )
  return `http://127.0.0.1:${events}/`
})

beforeAll(async () => {
  if (!available) return
  await installFluxCrds()
  const crds = join(dirname(toolPath("notification-controller")), "crds")
  await applyYaml(
    readdirSync(crds)
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => readFileSync(join(crds, f), "utf8"))
      .join("\n---\n"),
  )
  await waitForCrds(["alerts.notification.toolkit.fluxcd.io", "providers.notification.toolkit.fluxcd.io"])
  ns = await createTestNamespace("nc")
  const server = await Effect.runPromise(Scope.provide(scope)(gitHttpServer()))
  webhook = await Effect.runPromise(Scope.provide(scope)(eventReceiver("accept")))
  const eventsUrl = await Effect.runPromise(Scope.provide(scope)(notificationController))
  operator = await Effect.runPromise(
    Scope.provide(scope)(
      operatorProcess({
        kubeconfig: testKubeconfigPath(),
        namespace: ns,
        flags: [`--events-addr=${eventsUrl}`],
        env: { POD_NAME: "kustodian-nc-0" },
      }),
    ),
  )
  await applyYaml(`apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata:
  name: webhook
  namespace: ${ns}
spec:
  type: generic
  address: ${webhook.url}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: everything
  namespace: ${ns}
spec:
  providerRef:
    name: webhook
  eventSeverity: info
  eventSources:
    - kind: GitRepository
      name: "*"
    - kind: Kustomization
      name: "*"
`)
  const bare = await createBareRepo(server.reposDir, "nc-src")
  revision = `main@sha1:${await commitFiles(bare, {
    "cm.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nc-cm\n  namespace: ${ns}\ndata:\n  value: "1"\n`,
  })}`
  await applyYaml(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: nc-src
  namespace: ${ns}
spec:
  interval: 1h
  ref:
    branch: main
  url: ${server.repoUrl("nc-src")}
`)
}, 300_000)

afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), 60_000)

describe.skipIf(!available)("Flux's notification-controller receives Kustodian's Events", () => {
  it.live(
    "an Alert with a generic Provider forwards NewArtifact, success and failure, metadata stripped of its group",
    () =>
      Effect.gen(function* () {
        yield* eventually(
          "nc-src Ready",
          Effect.promise(async () => {
            const r = await runKubectl(["-n", ns, "get", "gitrepository", "nc-src", "-o", "json"])
            const o = r.code === 0 ? (JSON.parse(r.stdout) as Obj) : undefined
            return o?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
              ? Option.some(o)
              : Option.none()
          }),
          60_000,
        )
        for (const [name, path] of [
          ["nc-ok", "./"],
          ["nc-bad", "./missing"],
        ] as const)
          yield* applyKustomization(ns, name, { ...gitSourceRef("nc-src"), path })
        const forwarded = (what: string, match: (e: EventReceiver["events"][number]) => boolean) =>
          eventually(
            `notification-controller to forward ${what} (operator log: ${operator.logFile})`,
            Effect.sync(() => Option.fromNullishOr(webhook.events.find(match))),
            60_000,
          )
        const artifact = yield* forwarded("NewArtifact", (e) => e.reason === "NewArtifact")
        expect(artifact).toMatchObject({
          involvedObject: { kind: "GitRepository", name: "nc-src", namespace: ns },
          severity: "info",
          reportingController: "source-controller",
          // notification-controller keeps the involved object's group keys, without the group.
          metadata: { revision },
        })
        const success = yield* forwarded(
          "nc-ok's success",
          (e) => e.involvedObject.name === "nc-ok" && e.reason === "ReconciliationSucceeded",
        )
        expect(success).toMatchObject({
          severity: "info",
          reportingController: "kustomize-controller",
          metadata: { revision, commit_status: "update" },
        })
        expect(success.message).toMatch(/^Reconciliation finished in .+, next run in 1h0m0s$/)
        const failure = yield* forwarded(
          "nc-bad's failure",
          (e) =>
            e.involvedObject.name === "nc-bad" && e.severity === "error" && e.message.includes("missing"),
        )
        expect(failure.reportingController).toBe("kustomize-controller")
      }),
  )
})
