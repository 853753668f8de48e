/**
 * Flux's observability stack against Kustodian, end to end: `kustodian controller` as its own process against the
 * real kube-apiserver, sources on a real git server, `--events-addr` pointing at a local server of
 * notification-controller's event protocol (eventv1.Event JSON POSTs), and every assertion made on what Flux's
 * tooling reads: the JSON log lines (`flux logs`, Loki), /metrics as Prometheus scrapes it (flux2-monitoring-example's
 * dashboards) and the events the notification-controller would receive.
 */
import { readFile } from "node:fs/promises"
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
import { applyKustomization, gitSourceRef } from "../../../e2e/support/flux-objects.ts"
import {
  commitFiles,
  createBareRepo,
  type GitHttpServer,
  gitHttpServer,
} from "../../../e2e/support/git-server.ts"
import type { Obj } from "../../../e2e/support/kube-objects.ts"
import { type OperatorProcess, operatorProcess } from "../../../e2e/support/operator-process.ts"
import type { FluxEvent } from "../runtime/event-forwarder.ts"
import { type EventReceiver, eventReceiver } from "../runtime/testing/event-receiver.ts"

let ns = ""
let server: GitHttpServer
let receiver: EventReceiver
let operator: OperatorProcess
let revision = ""
const scope = Effect.runSync(Scope.make())

const configMap = (name: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${ns}\ndata:\n  value: "1"\n`

beforeAll(async () => {
  await installFluxCrds()
  ns = await createTestNamespace("obs")
  server = await Effect.runPromise(Scope.provide(scope)(gitHttpServer()))
  receiver = await Effect.runPromise(Scope.provide(scope)(eventReceiver("accept")))
  operator = await Effect.runPromise(
    Scope.provide(scope)(
      operatorProcess({
        kubeconfig: testKubeconfigPath(),
        namespace: ns,
        flags: [`--events-addr=${receiver.url}`, "--log-level=info", "--log-encoding=json"],
        env: { POD_NAME: "kustodian-obs-0" },
      }),
    ),
  )
  const bare = await createBareRepo(server.reposDir, "obs-src")
  revision = `main@sha1:${await commitFiles(bare, { "ok/cm.yaml": configMap("obs-ok-cm") })}`
  await applyYaml(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: obs-src
  namespace: ${ns}
spec:
  interval: 1h
  ref:
    branch: main
  url: ${server.repoUrl("obs-src")}
`)
}, 300_000)

afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), 60_000)

const kustomization = (name: string, spec: Readonly<Record<string, unknown>>) =>
  applyKustomization(ns, name, { ...gitSourceRef("obs-src"), ...spec })

const ready = (kind: string, name: string, status = "True", timeoutMs = 60_000) =>
  eventually(
    `${kind}/${name} Ready=${status}`,
    Effect.promise(async () => {
      const r = await runKubectl(["-n", ns, "get", kind, name, "-o", "json"])
      if (r.code !== 0) return Option.none()
      const o = JSON.parse(r.stdout) as Obj
      return o.status?.conditions?.some((c) => c.type === "Ready" && c.status === status)
        ? Option.some(o)
        : Option.none()
    }),
    timeoutMs,
  )

const received = (what: string, match: (e: FluxEvent) => boolean) =>
  eventually(
    `the receiver to get ${what}`,
    Effect.sync(() => Option.fromNullishOr(receiver.events.find(match))),
  )

const metrics = Effect.promise(() => fetch(`${operator.probeUrl}/metrics`).then((r) => r.text()))

/** The value of one exposition line, by name and label subset; undefined when no series matches. */
const sample = (text: string, name: string, labels: Readonly<Record<string, string>>) => {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    const body = line.slice(name.length, line.lastIndexOf(" "))
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`)))
      return Number(line.slice(line.lastIndexOf(" ") + 1))
  }
  return undefined
}

const logLines = Effect.promise(async () =>
  (await readFile(operator.logFile, "utf8")).split("\n").filter((l) => l.startsWith("{")),
)

describe("Flux's observability against Kustodian", () => {
  it.live(
    "events: NewArtifact, success, failure and DependencyNotReady reach the receiver as eventv1.Event",
    () =>
      Effect.gen(function* () {
        yield* ready("gitrepository", "obs-src")
        yield* kustomization("obs-ok", { path: "./ok" })
        yield* kustomization("obs-bad", { path: "./missing" })
        yield* kustomization("obs-dep", { path: "./ok", dependsOn: [{ name: "obs-absent" }] })
        yield* ready("kustomization", "obs-ok")

        const artifact = yield* received("NewArtifact", (e) => e.reason === "NewArtifact")
        expect(artifact).toMatchObject({
          involvedObject: {
            kind: "GitRepository",
            namespace: ns,
            name: "obs-src",
            apiVersion: "source.toolkit.fluxcd.io/v1",
          },
          severity: "info",
          metadata: { "source.toolkit.fluxcd.io/revision": revision },
          reportingController: "source-controller",
          reportingInstance: "kustodian-obs-0",
        })
        expect(artifact.message).toMatch(/^stored artifact for commit '/)
        expect(artifact.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
        expect(typeof artifact.involvedObject.uid).toBe("string")

        const success = yield* received(
          "obs-ok's success",
          (e) => e.involvedObject.name === "obs-ok" && e.reason === "ReconciliationSucceeded",
        )
        expect(success).toMatchObject({
          involvedObject: {
            kind: "Kustomization",
            namespace: ns,
            apiVersion: "kustomize.toolkit.fluxcd.io/v1",
          },
          severity: "info",
          metadata: {
            "kustomize.toolkit.fluxcd.io/revision": revision,
            "kustomize.toolkit.fluxcd.io/commit_status": "update",
          },
          reportingController: "kustomize-controller",
        })
        expect(success.message).toMatch(/^Reconciliation finished in [\d.]+m?s, next run in 1h0m0s$/)

        const failure = yield* received(
          "obs-bad's failure",
          (e) => e.involvedObject.name === "obs-bad" && e.message.includes("missing"),
        )
        expect(failure.severity).toBe("error")
        expect(failure.message).toContain("missing")

        const waiting = yield* received("obs-dep's wait", (e) => e.involvedObject.name === "obs-dep")
        // Flux's one line for every wait; the Ready condition names the dependency.
        expect(waiting).toMatchObject({
          severity: "info",
          reason: "DependencyNotReady",
          message: "Dependencies do not meet ready condition, retrying in 30s",
        })
        expect(
          receiver.requests.every((r) => r.method === "POST" && r.contentType === "application/json"),
        ).toBe(true)
      }),
  )

  it.live(
    "logs: one JSON object a line in zap's shape, one info line per success, an error line per failure",
    () =>
      Effect.gen(function* () {
        const lines = yield* logLines
        // `flux logs` stops at the first line starting with '{' that does not parse.
        const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
        expect(entries.length).toBeGreaterThan(5)
        for (const e of entries) {
          expect(["trace", "debug", "info", "error"]).toContain(e.level)
          expect(e.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
          expect(typeof e.msg).toBe("string")
        }
        const finished = entries.find(
          (e) => e.name === "obs-ok" && String(e.msg).startsWith("Reconciliation finished in"),
        )
        expect(finished).toMatchObject({
          level: "info",
          controller: "kustomization",
          controllerGroup: "kustomize.toolkit.fluxcd.io",
          controllerKind: "Kustomization",
          Kustomization: { name: "obs-ok", namespace: ns },
          namespace: ns,
          revision,
        })
        expect(finished?.msg).toMatch(/, next run in 1h0m0s$/)
        expect(finished?.reconcileID).toMatch(
          /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
        )
        const source = entries.find(
          (e) => e.name === "obs-src" && String(e.msg).startsWith("Reconciliation finished"),
        )
        expect(source).toMatchObject({ controller: "gitrepository", controllerKind: "GitRepository" })
        const failed = entries.find(
          (e) => e.name === "obs-bad" && e.level === "error" && String(e.error).includes("missing"),
        )
        expect(failed?.msg).toMatch(/^Reconciliation failed after [\d.]+m?s, next try in /)
        expect(String(failed?.error)).toContain("missing")
        // Each reconcile has its own ID.
        const ids = entries.filter((e) => e.reconcileID !== undefined).map((e) => e.reconcileID)
        expect(new Set(ids).size).toBeGreaterThan(2)
        // --log-level=info: no debug lines.
        expect(entries.some((e) => e.level === "debug")).toBe(false)
      }),
  )

  it.live("metrics: Flux's and controller-runtime's names and labels, process and runtime series", () =>
    Effect.gen(function* () {
      const text = yield* metrics
      const ok = { kind: "Kustomization", name: "obs-ok", namespace: ns }
      expect(sample(text, "gotk_reconcile_duration_seconds_count", ok)).toBeGreaterThanOrEqual(1)
      expect(
        sample(text, "gotk_reconcile_duration_seconds_bucket", { ...ok, le: "1800" }),
      ).toBeGreaterThanOrEqual(1)
      expect(sample(text, "gotk_reconcile_condition", { ...ok, type: "Ready", status: "True" })).toBe(1)
      expect(sample(text, "gotk_reconcile_condition", { ...ok, type: "Ready", status: "False" })).toBe(0)
      expect(sample(text, "gotk_suspend_status", ok)).toBe(0)
      expect(
        sample(text, "controller_runtime_reconcile_total", {
          controller: "kustomization",
          result: "requeue_after",
        }),
      ).toBeGreaterThanOrEqual(1)
      expect(
        sample(text, "controller_runtime_reconcile_total", { controller: "kustomization", result: "error" }),
      ).toBeGreaterThanOrEqual(1)
      expect(
        sample(text, "controller_runtime_reconcile_errors_total", { controller: "kustomization" }),
      ).toBeGreaterThanOrEqual(1)
      expect(
        sample(text, "controller_runtime_reconcile_total", {
          controller: "gitrepository",
          result: "requeue_after",
        }),
      ).toBeGreaterThanOrEqual(1)
      expect(
        sample(text, "controller_runtime_reconcile_time_seconds_count", { controller: "kustomization" }),
      ).toBeGreaterThanOrEqual(3)
      expect(
        sample(text, "controller_runtime_max_concurrent_reconciles", { controller: "kustomization" }),
      ).toBe(4)
      // Initialised at 0 as controller-runtime does, so rate() reads them before the first occurrence.
      expect(sample(text, "controller_runtime_reconcile_panics_total", { controller: "kustomization" })).toBe(
        0,
      )
      expect(
        sample(text, "controller_runtime_reconcile_total", {
          controller: "gitrepository",
          result: "requeue",
        }),
      ).toBe(0)
      expect(
        sample(text, "controller_runtime_active_workers", { controller: "kustomization" }),
      ).toBeGreaterThanOrEqual(0)
      for (const name of ["kustomization", "gitrepository"]) {
        const q = { name, controller: name }
        expect(sample(text, "workqueue_adds_total", q)).toBeGreaterThanOrEqual(1)
        expect(sample(text, "workqueue_depth", q)).toBeGreaterThanOrEqual(0)
        expect(sample(text, "workqueue_queue_duration_seconds_count", q)).toBeGreaterThanOrEqual(1)
        expect(sample(text, "workqueue_work_duration_seconds_count", q)).toBeGreaterThanOrEqual(1)
        expect(sample(text, "workqueue_unfinished_work_seconds", q)).toBeGreaterThanOrEqual(0)
        expect(sample(text, "workqueue_longest_running_processor_seconds", q)).toBeGreaterThanOrEqual(0)
      }
      expect(sample(text, "workqueue_retries_total", { name: "kustomization" })).toBeGreaterThanOrEqual(1)
      expect(sample(text, "process_cpu_seconds_total", {})).toBeGreaterThan(0)
      expect(sample(text, "process_resident_memory_bytes", {})).toBeGreaterThan(10 * 1024 * 1024)
      const start = sample(text, "process_start_time_seconds", {}) ?? 0
      expect(Math.abs(start - Date.now() / 1000)).toBeLessThan(600)
      expect(sample(text, "process_open_fds", {})).toBeGreaterThan(3)
      expect(sample(text, "process_max_fds", {})).toBeGreaterThan(0)
      expect(sample(text, "nodejs_heap_size_used_bytes", {})).toBeGreaterThan(0)
      expect(sample(text, "nodejs_eventloop_lag_p99_seconds", {})).toBeGreaterThanOrEqual(0)
      expect(sample(text, "rest_client_requests_total", { code: "200" })).toBeGreaterThan(0)
      expect(sample(text, "kustodian_events_forwarded_total", { result: "sent" })).toBeGreaterThanOrEqual(3)
      // CPU time is a counter: a second scrape never reads less.
      const again = yield* metrics
      expect(sample(again, "process_cpu_seconds_total", {})).toBeGreaterThanOrEqual(
        sample(text, "process_cpu_seconds_total", {}) ?? 0,
      )
    }),
  )

  it.live("suspend sets gotk_suspend_status; a deleted object's series leave /metrics", () =>
    Effect.gen(function* () {
      const ok = { kind: "Kustomization", name: "obs-ok", namespace: ns }
      yield* Effect.promise(() =>
        kubectl([
          "-n",
          ns,
          "patch",
          "kustomization",
          "obs-ok",
          "--type=merge",
          "-p",
          '{"spec":{"suspend":true}}',
        ]),
      )
      yield* eventually(
        "gotk_suspend_status 1",
        Effect.map(metrics, (t) =>
          sample(t, "gotk_suspend_status", ok) === 1 ? Option.some(t) : Option.none(),
        ),
      )
      yield* Effect.promise(() => kubectl(["-n", ns, "delete", "kustomization", "obs-ok", "--wait=true"]))
      const after = yield* eventually(
        "obs-ok's series to go",
        Effect.map(metrics, (t) => (t.includes('name="obs-ok"') ? Option.none() : Option.some(t))),
      )
      expect(sample(after, "gotk_reconcile_duration_seconds_count", ok)).toBeUndefined()
      // The others stay.
      expect(
        sample(after, "gotk_reconcile_duration_seconds_count", { name: "obs-bad" }),
      ).toBeGreaterThanOrEqual(1)
    }),
  )

  it.live("a receiver that never answers does not slow reconciles", () =>
    Effect.gen(function* () {
      receiver.mode = "hang"
      const before = receiver.requests.length
      const started = Date.now()
      yield* kustomization("obs-hung", { path: "./ok" })
      yield* ready("kustomization", "obs-hung", "True", 30_000)
      const tookMs = Date.now() - started
      // The Event was offered and a POST is hanging (5 s timeout, then retries) while the object is already Ready.
      yield* eventually(
        "the hung POST",
        Effect.sync(() => (receiver.requests.length > before ? Option.some(true) : Option.none())),
      )
      const text = yield* metrics
      const sum = sample(text, "gotk_reconcile_duration_seconds_sum", { name: "obs-hung" }) ?? Number.NaN
      // Each POST would wait its 5 s timeout if a reconcile waited for it.
      expect(sum).toBeLessThan(5)
      expect(tookMs).toBeLessThan(15_000)
    }),
  )
})
