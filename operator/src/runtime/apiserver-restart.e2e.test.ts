/**
 * The operator survives its API server going away: a private control plane (so the shared one is not
 * disturbed), its kube-apiserver stopped; while it is down a second kube-apiserver on the same etcd takes
 * the changes; then the first one is started again on its old port. The operator, never restarted,
 * must resume its watches and reconcile what changed.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { httpsStatus, type LocalClusterState, localProvider } from "../../../e2e/cluster/local.ts"
import { eventually } from "../../../e2e/support/eventually.ts"
import { freePort } from "../../../e2e/support/ports.ts"
import { daemon, stopGroup, waitReady } from "../../../e2e/support/process.ts"
import { hasTool, toolPath } from "../../../e2e/support/tools.ts"
import type { ReconcileStatus } from "../../../model/projection.ts"
import { KubeClient } from "../kube/client.ts"
import type { KubeObject } from "../kube/object.ts"
import { CoreResources } from "../kube/resource.ts"
import { installWidgetCrd, type Widget, widgetController, widgetResource } from "./fixtures/widget.ts"
import { runManager } from "./manager.ts"

const poll = <A, E, R>(what: string, check: Effect.Effect<Option.Option<A>, E, R>, timeoutMs = 60_000) =>
  eventually(what, check, timeoutMs)

const startApiserver = (args: ReadonlyArray<string>, dir: string, name: string, ca: string, port: number) =>
  Effect.gen(function* () {
    const d = yield* daemon({
      name,
      command: toolPath("kube-apiserver"),
      args,
      logFile: join(dir, `${name}.log`),
    })
    yield* waitReady(
      d,
      async () => (await httpsStatus(`https://127.0.0.1:${port}/readyz`, ca)) === 200,
      90_000,
      "ready",
    )
    return d
  })

describe("API server restart under a running operator", () => {
  it.live.skipIf(!hasTool("kube-apiserver") || !hasTool("etcd"))(
    "resumes its watches and reconciles what changed while the server was away",
    () =>
      Effect.gen(function* () {
        const cluster = yield* localProvider.start({})
        const dir = dirname(cluster.kubeconfigPath)
        const state = JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as LocalClusterState
        const original = state.processes.find((p) => p.name === "kube-apiserver")!
        const args = readFileSync(`/proc/${original.pid}/cmdline`, "utf8")
          .split("\0")
          .filter((a) => a !== "")
          .slice(1)
        const port = Number(args.find((a) => a.startsWith("--secure-port="))!.split("=")[1])
        const ca = readFileSync(join(dir, "certs", "ca.crt"), "utf8")
        const main = KubeClient.layer({ _tag: "File", path: cluster.kubeconfigPath })

        const w = (name: string): Widget => ({
          apiVersion: "test.kustodian.dev/v1",
          kind: "Widget",
          metadata: { name, namespace: "default" },
          spec: { interval: "1h", configMapName: `${name}-cm` },
        })
        const cm = (name: string, value: string): KubeObject => ({
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name, namespace: "default" },
          data: { value },
        })
        const fm = { fieldManager: "kustodian-tests" }
        const ready = (name: string, revisionOf: (cmRv: string) => boolean) =>
          Effect.gen(function* () {
            const client = yield* KubeClient
            const obj = yield* client.getOption<Widget>(widgetResource, name, "default")
            if (Option.isNone(obj)) return Option.none()
            const status = (obj.value.status ?? {}) as ReconcileStatus
            const isReady = (status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True")
            return isReady && revisionOf(status.lastAppliedRevision ?? "")
              ? Option.some(status)
              : Option.none()
          })

        // Operator up, one Widget reconciled.
        const first = yield* Effect.gen(function* () {
          const client = yield* KubeClient
          yield* installWidgetCrd
          const c1 = yield* client.apply(CoreResources.configMap, cm("w1-cm", "one"), fm)
          yield* client.apply(widgetResource, w("w1"), fm)
          return c1.metadata.resourceVersion!
        }).pipe(Effect.provide(main))
        const operator = yield* Effect.forkChild(
          runManager({
            controllers: [widgetController({ namespace: "default" })],
            probes: false,
            run: { watch: { silenceMs: 5_000, backoffCapMs: 2_000 } },
          }).pipe(Effect.provide(main)),
        )
        yield* poll(
          "w1 ready",
          ready("w1", (r) => r.endsWith(`@rv:${first}`)),
        ).pipe(Effect.provide(main))

        // The API server goes away.
        yield* Effect.promise(() => stopGroup(original.pid, original.startTime, 5_000))

        // Meanwhile, changes arrive through another API server on the same etcd.
        const changed = yield* Effect.scoped(
          Effect.gen(function* () {
            const otherPort = yield* Effect.promise(freePort)
            const otherArgs = args.map((a) =>
              a.startsWith("--secure-port=") ? `--secure-port=${otherPort}` : a,
            )
            yield* startApiserver(otherArgs, dir, "kube-apiserver-b", ca, otherPort)
            const otherConfig = join(dir, "kubeconfig-b")
            writeFileSync(
              otherConfig,
              readFileSync(cluster.kubeconfigPath, "utf8").replace(
                `127.0.0.1:${port}`,
                `127.0.0.1:${otherPort}`,
              ),
            )
            return yield* Effect.gen(function* () {
              const client = yield* KubeClient
              const c1 = yield* client.apply(CoreResources.configMap, cm("w1-cm", "two"), fm)
              yield* client.apply(CoreResources.configMap, cm("w2-cm", "new"), fm)
              yield* client.apply(widgetResource, w("w2"), fm)
              return c1.metadata.resourceVersion!
            }).pipe(Effect.provide(KubeClient.layer({ _tag: "File", path: otherConfig })))
          }),
        )

        // The original API server comes back on its old port.
        yield* startApiserver(args, dir, "kube-apiserver-restarted", ca, port)
        const w1 = yield* poll(
          "w1 reconciled the change",
          ready("w1", (r) => r.endsWith(`@rv:${changed}`)),
        ).pipe(Effect.provide(main))
        const w2 = yield* poll(
          "w2 reconciled",
          ready("w2", (r) => r.startsWith("w2-cm@rv:")),
        ).pipe(Effect.provide(main))
        expect(w1.observedGeneration).toBe(1)
        expect(w2.observedGeneration).toBe(1)
        expect(operator.pollUnsafe()).toBeUndefined()
        yield* Fiber.interrupt(operator)
      }),
    240_000,
  )
})
