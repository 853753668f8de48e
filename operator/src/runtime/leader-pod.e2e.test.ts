/**
 * The leader's Pod label against the real API server, with kube-controller-manager's EndpointSlice controller and
 * kwok's nodes: two (then three) operator processes, each "in" a Pod of its own, and a Service selecting the
 * label as the install's artifact Service does. Only the leader's Pod is labelled and behind the Service; the
 * label moves on a SIGTERM handover, and a SIGKILLed leader's label is taken off by the next leader.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { testKubeconfigPath, testNamespace } from "../../../e2e/support/cluster.ts"
import { eventually } from "../../../e2e/support/eventually.ts"
import { logTail } from "../../../e2e/support/process.ts"
import { KubeClient } from "../kube/client.ts"
import type { KubeObject } from "../kube/object.ts"
import { CoreResources, type ResourceRef } from "../kube/resource.ts"
import { metricSum, operatorProcess, signal } from "./fixtures/operator-process.ts"
import { installWidgetCrd } from "./fixtures/widget.ts"
import { leaderLabel, podResource } from "./leader-pod.ts"

const LeaseName = "widget-controller-leader-election"
const appLabels = { app: "widget-operator" }

const endpointSlices: ResourceRef = {
  group: "discovery.k8s.io",
  version: "v1",
  plural: "endpointslices",
  kind: "EndpointSlice",
  namespaced: true,
}
const services: ResourceRef = {
  group: "",
  version: "v1",
  plural: "services",
  kind: "Service",
  namespaced: true,
}

interface Slice extends KubeObject {
  readonly endpoints?: ReadonlyArray<{
    readonly targetRef?: { readonly name?: string }
    readonly conditions?: { readonly ready?: boolean }
  }>
}

const poll = <A, E, R>(what: string, check: Effect.Effect<Option.Option<A>, E, R>, timeoutMs = 60_000) =>
  eventually(what, check, timeoutMs, 200)

const status = (url: string) =>
  Effect.promise(() =>
    fetch(url)
      .then((r) => r.status)
      .catch(() => 0),
  )

describe("the leader labels its own Pod", () => {
  it.live(
    "only the leader's Pod carries kustodian.io/leader and backs the Service; the label moves on SIGTERM and a SIGKILLed leader's is removed by the next",
    () =>
      Effect.gen(function* () {
        const client = yield* KubeClient
        const ns = yield* testNamespace("leaderpod")
        yield* installWidgetCrd
        const kubeconfig = testKubeconfigPath()
        const fm = { fieldManager: "kustodian-tests" }
        // Pods as the Deployment would make them (kwok runs them: Running, Ready, an IP), and the artifact Service.
        for (const name of ["pod-a", "pod-b", "pod-c"])
          yield* client.apply(
            podResource,
            {
              apiVersion: "v1",
              kind: "Pod",
              metadata: { name, namespace: ns, labels: appLabels },
              spec: {
                containers: [
                  {
                    name: "manager",
                    image: "kustodian:test",
                    ports: [{ name: "http", containerPort: 9090 }],
                  },
                ],
              },
            },
            fm,
          )
        yield* client.apply(
          services,
          {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: "artifacts", namespace: ns },
            spec: {
              selector: { ...appLabels, [leaderLabel]: "true" },
              ports: [{ name: "http", port: 80, targetPort: "http" }],
            },
          },
          fm,
        )

        const holder = client
          .getOption<KubeObject & { spec?: { holderIdentity?: string } }>(CoreResources.lease, LeaseName, ns)
          .pipe(
            Effect.map((o) =>
              Option.flatMap(o, (l) => Option.fromNullishOr(l.spec?.holderIdentity || undefined)),
            ),
          )
        const labelled = client
          .list(podResource, { namespace: ns, labelSelector: `${leaderLabel}=true` })
          .pipe(Effect.map((l) => l.items.map((p) => p.metadata.name).sort()))
        const behindService = client
          .list<Slice>(endpointSlices, {
            namespace: ns,
            labelSelector: "kubernetes.io/service-name=artifacts",
          })
          .pipe(
            Effect.map((l) =>
              l.items
                .flatMap((s) => s.endpoints ?? [])
                .filter((e) => e.conditions?.ready !== false)
                .map((e) => e.targetRef?.name ?? "")
                .sort(),
            ),
          )
        /** Waits until exactly `pod` leads, is labelled and is the Service's one endpoint. */
        const onlyLeader = (pod: string) =>
          poll(
            `${pod} the only leader, labelled and behind the Service`,
            Effect.gen(function* () {
              const [h, l, s] = [yield* holder, yield* labelled, yield* behindService]
              return Option.isSome(h) && h.value === pod && l.join() === pod && s.join() === pod
                ? Option.some(true)
                : Option.none()
            }),
          )
        const operator = (pod: string) =>
          operatorProcess({
            kubeconfig,
            identity: pod,
            namespace: ns,
            env: {
              LEASE_NAMESPACE: ns,
              LEASE_NAME: LeaseName,
              LEASE_DURATION_MS: "6000",
              RENEW_DEADLINE_MS: "4000",
              RETRY_PERIOD_MS: "1000",
              POD_NAME: pod,
              POD_NAMESPACE: ns,
            },
          })

        const a = yield* operator("pod-a")
        const b = yield* operator("pod-b")
        const first = yield* poll("a leader", holder)
        const [leader, standby] = first === "pod-a" ? [a, b] : [b, a]
        const standbyPod = first === "pod-a" ? "pod-b" : "pod-a"
        yield* onlyLeader(first)
        // Both are ready (a rolling update proceeds); only the leader says so on /readyz/leader and in the gauge.
        yield* poll(
          "standby ready",
          status(standby.readyUrl).pipe(Effect.map((s) => (s === 200 ? Option.some(s) : Option.none()))),
        )
        expect(yield* status(`${leader.readyUrl}/leader`)).toBe(200)
        expect(yield* status(`${standby.readyUrl}/leader`)).toBe(503)
        const gauge = (metricsUrl: string) =>
          Effect.promise(() => fetch(metricsUrl).then((r) => r.text())).pipe(
            Effect.map((t) => metricSum(t, "leader_election_master_status", `name="${LeaseName}"`)),
          )
        expect(yield* gauge(leader.metricsUrl)).toBe(1)
        expect(yield* gauge(standby.metricsUrl)).toBe(0)
        expect(yield* labelled).toEqual([first])

        // SIGTERM: the leader takes its label off on the way out, the standby leads and puts on its own.
        signal(leader.pid, "SIGTERM")
        yield* onlyLeader(standbyPod)
        expect(logTail(leader.logFile, 80)).toContain("unmarked this pod")

        // SIGKILL: the dead leader's label stays on its Pod until the next leader, taking over, removes it.
        const c = yield* operator("pod-c")
        yield* poll(
          "pod-c ready",
          status(c.readyUrl).pipe(Effect.map((s) => (s === 200 ? Option.some(s) : Option.none()))),
        )
        signal(standby.pid, "SIGKILL")
        expect(yield* labelled).toEqual([standbyPod])
        yield* onlyLeader("pod-c")
        expect(logTail(c.logFile, 80)).toContain("unmarked the previous leader's pod")
      }).pipe(Effect.provide(KubeClient.layer({ _tag: "File", path: testKubeconfigPath() }))),
    180_000,
  )
})
