import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { testKubeconfigPath, testNamespace } from "../../../e2e/support/cluster.ts"
import { eventually } from "../../../e2e/support/eventually.ts"
import { logTail } from "../../../e2e/support/process.ts"
import type { ReconcileStatus } from "../../../model/projection.ts"
import { KubeClient } from "../kube/client.ts"
import type { KubeObject } from "../kube/object.ts"
import { CoreResources } from "../kube/resource.ts"
import { operatorProcess, signal } from "./fixtures/operator-process.ts"
import { installWidgetCrd, widgetResource } from "./fixtures/widget.ts"

const LeaseMs = 6_000
const RetryMs = 1_000

const leaseEnv = (ns: string) => ({
  LEASE_NAMESPACE: ns,
  LEASE_DURATION_MS: String(LeaseMs),
  RENEW_DEADLINE_MS: "4000",
  RETRY_PERIOD_MS: String(RetryMs),
})

const poll = <A, E, R>(what: string, check: Effect.Effect<Option.Option<A>, E, R>, timeoutMs = 30_000) =>
  eventually(what, check, timeoutMs, 100)

describe("leader election with two operator processes", () => {
  it.live(
    "only the leader reconciles; SIGKILL → the standby takes over within the lease duration; SIGTERM releases at once",
    () =>
      Effect.gen(function* () {
        const client = yield* KubeClient
        const ns = yield* testNamespace("leader")
        yield* installWidgetCrd
        const kubeconfig = testKubeconfigPath()
        const holder = client
          .getOption<KubeObject & { spec?: { holderIdentity?: string } }>(
            CoreResources.lease,
            "widget-controller-leader-election",
            ns,
          )
          .pipe(
            Effect.map((o) =>
              Option.flatMap(o, (l) => Option.fromNullishOr(l.spec?.holderIdentity || undefined)),
            ),
          )
        const readyWidgets = (names: ReadonlyArray<string>) =>
          client.list(widgetResource, { namespace: ns }).pipe(
            Effect.map((list) => {
              const ready = list.items.filter((w) =>
                ((w.status as ReconcileStatus | undefined)?.conditions ?? []).some(
                  (c) => c.type === "Ready" && c.status === "True",
                ),
              )
              return names.every((n) => ready.some((w) => w.metadata.name === n))
                ? Option.some(ready)
                : Option.none()
            }),
          )
        const fm = { fieldManager: "kustodian-tests" }
        yield* client.apply(
          CoreResources.configMap,
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "cm", namespace: ns },
            data: { value: "x" },
          },
          fm,
        )
        const addWidget = (name: string) =>
          client.apply(
            widgetResource,
            {
              apiVersion: "test.kustodian.dev/v1",
              kind: "Widget",
              metadata: { name, namespace: ns },
              spec: { interval: "1h", configMapName: "cm" },
            },
            fm,
          )

        const a = yield* operatorProcess({ kubeconfig, identity: "op-a", namespace: ns, env: leaseEnv(ns) })
        const b = yield* operatorProcess({ kubeconfig, identity: "op-b", namespace: ns, env: leaseEnv(ns) })
        const first = yield* poll("a leader", holder, 60_000)
        const [leader, standby] = first === "op-a" ? [a, b] : [b, a]
        const standbyId = first === "op-a" ? "op-b" : "op-a"

        for (const n of ["w1", "w2", "w3"]) yield* addWidget(n)
        yield* poll("widgets ready", readyWidgets(["w1", "w2", "w3"]), 60_000)
        // Only the leader published Events (reportingInstance is the process identity).
        // Events follow the status write, so wait for all three success Events.
        const events = yield* poll(
          "three success events",
          client
            .list(CoreResources.event, { namespace: ns })
            .pipe(Effect.map((l) => (l.items.length >= 3 ? Option.some(l) : Option.none()))),
        )
        const instances = new Set(
          events.items.map((e) => (e as KubeObject & { reportingInstance: string }).reportingInstance),
        )
        expect([...instances]).toEqual([first])
        // The standby may still be starting (the leader can win before the other process even listens).
        yield* poll(
          "standby serving /readyz",
          Effect.promise(() =>
            fetch(standby.readyUrl)
              .then((r) => r.status)
              .catch(() => 0),
          ).pipe(Effect.map((s) => (s === 200 ? Option.some(s) : Option.none()))),
        )
        const standbyMetrics = yield* Effect.promise(() => fetch(standby.metricsUrl).then((r) => r.text()))
        expect(standbyMetrics).not.toMatch(
          /controller_runtime_reconcile_total\{[^}]*controller="widget"[^}]*\} [1-9]/,
        )

        // SIGKILL: the standby waits the lease out, then leads and reconciles.
        const killedAt = Date.now()
        signal(leader.pid, "SIGKILL")
        const second = yield* poll(
          "takeover",
          holder.pipe(Effect.map(Option.filter((h) => h === standbyId))),
          60_000,
        )
        const takeoverMs = Date.now() - killedAt
        expect(second).toBe(standbyId)
        expect(takeoverMs, logTail(standby.logFile)).toBeLessThanOrEqual(LeaseMs + 2 * RetryMs + 1_500)
        yield* addWidget("w4")
        yield* poll("w4 ready under the new leader", readyWidgets(["w4"]), 60_000)

        // A fresh standby; SIGTERM of the leader hands over without waiting for expiry.
        const c = yield* operatorProcess({ kubeconfig, identity: "op-c", namespace: ns, env: leaseEnv(ns) })
        yield* poll(
          "op-c ready",
          Effect.promise(() =>
            fetch(c.readyUrl)
              .then((r) => r.status)
              .catch(() => 0),
          ).pipe(Effect.map((s) => (s === 200 ? Option.some(s) : Option.none()))),
        )
        const termAt = Date.now()
        signal(standby.pid, "SIGTERM")
        yield* poll("op-c leads", holder.pipe(Effect.map(Option.filter((h) => h === "op-c"))), 60_000)
        const handoverMs = Date.now() - termAt
        expect(handoverMs, logTail(standby.logFile)).toBeLessThan(LeaseMs)
        expect(logTail(standby.logFile, 50)).toContain("released leadership")
        yield* Effect.logInfo("leader election timings").pipe(
          Effect.annotateLogs({ takeoverMs, handoverMs, leaseMs: LeaseMs }),
        )
      }).pipe(Effect.provide(KubeClient.layer({ _tag: "File", path: testKubeconfigPath() }))),
    180_000,
  )
})
