/**
 * What ONE client asked of the API server, counted by kube-apiserver itself. API Priority and Fairness
 * classifies every request by the first FlowSchema that matches it and counts it in
 * `apiserver_flowcontrol_dispatched_requests_total{flow_schema=…}`. The operator under test runs as a
 * ServiceAccount of its own, and a meter creates one FlowSchema per kind of request that matches only that
 * ServiceAccount, so the counts are the operator's alone, whatever else talks to the shared control plane
 * (other e2e files run at the same time with operators of their own, and the test's own kubectl runs as the
 * admin, whom the `exempt` FlowSchema takes first).
 *
 * Why not `apiserver_request_total`: it has no label that tells one client from another.
 */
import { Effect } from "effect"
import { kubectl } from "../support/cluster.ts"

/** A kind of request, as a FlowSchema resource rule. */
interface Kind {
  readonly name: string
  readonly verbs: ReadonlyArray<string>
  readonly apiGroups?: ReadonlyArray<string>
  readonly resources?: ReadonlyArray<string>
  /** Namespaces of namespaced requests (default every one, cluster-scoped ones included). */
  readonly namespaces?: ReadonlyArray<string>
}

const writeVerbs = ["create", "update", "patch", "delete", "deletecollection"]

/**
 * The kinds a meter tells apart, first match wins (FlowSchema precedence): Events and Leases are bookkeeping;
 * the status writes of both kinds; every other write (dry runs included: a dry-run apply is the expensive part
 * of an apply); the GETs in the namespace where the Kustomizations put their objects; the other GETs.
 * LIST, WATCH and discovery are not counted.
 */
const kinds = (appsNamespace: string): ReadonlyArray<Kind> => [
  { name: "events", verbs: ["*"], apiGroups: ["", "events.k8s.io"], resources: ["events"] },
  { name: "leases", verbs: ["*"], apiGroups: ["coordination.k8s.io"], resources: ["leases"] },
  {
    name: "kustomization-status",
    verbs: writeVerbs,
    apiGroups: ["kustomize.toolkit.fluxcd.io"],
    resources: ["kustomizations/status"],
  },
  {
    name: "gitrepository-status",
    verbs: writeVerbs,
    apiGroups: ["source.toolkit.fluxcd.io"],
    resources: ["gitrepositories/status"],
  },
  { name: "writes", verbs: writeVerbs },
  { name: "app-gets", verbs: ["get"], namespaces: [appsNamespace] },
  { name: "other-gets", verbs: ["get"] },
]

export type RequestKind =
  | "events"
  | "leases"
  | "kustomization-status"
  | "gitrepository-status"
  | "writes"
  | "app-gets"
  | "other-gets"

export type RequestCounts = Readonly<Record<RequestKind, number>>

export interface RequestMeter {
  /** The counts so far. */
  readonly read: Effect.Effect<RequestCounts>
  /**
   * The counts once they have stopped moving: two readings {@link quietMs} apart agree (Leases left out: a
   * leader renews its Lease every few seconds).
   */
  readonly settled: Effect.Effect<RequestCounts>
}

/** How long the operator must make no counted request for the counts to be read as settled. */
export const quietMs = 3_000

const metric = "apiserver_flowcontrol_dispatched_requests_total"

const labelsOf = (text: string): Record<string, string> =>
  Object.fromEntries([...text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]))

/** `b - a` per kind: what was requested between two readings. */
export const requestsBetween = (a: RequestCounts, b: RequestCounts): RequestCounts =>
  Object.fromEntries(Object.entries(b).map(([k, n]) => [k, n - a[k as RequestKind]])) as RequestCounts

/**
 * A meter of the requests of `serviceAccount` (namespace/name), with its FlowSchemas removed with the scope.
 * `appsNamespace` is where the Kustomizations under test put their objects.
 */
export const requestMeter = (
  serviceAccount: { readonly namespace: string; readonly name: string },
  appsNamespace: string,
) =>
  Effect.gen(function* () {
    const prefix = `${serviceAccount.namespace}-${serviceAccount.name}`
    const schemas = kinds(appsNamespace).map((k, i) => ({
      kind: k.name as RequestKind,
      name: `${prefix}-${k.name}`,
      manifest: {
        apiVersion: "flowcontrol.apiserver.k8s.io/v1",
        kind: "FlowSchema",
        metadata: { name: `${prefix}-${k.name}` },
        spec: {
          // After `exempt` and `probes`, before `service-accounts` (9000), which would take them otherwise.
          matchingPrecedence: 300 + i,
          priorityLevelConfiguration: { name: "workload-low" },
          distinguisherMethod: { type: "ByUser" },
          rules: [
            {
              subjects: [{ kind: "ServiceAccount", serviceAccount: { ...serviceAccount } }],
              resourceRules: [
                {
                  verbs: [...k.verbs],
                  apiGroups: [...(k.apiGroups ?? ["*"])],
                  resources: [...(k.resources ?? ["*"])],
                  namespaces: [...(k.namespaces ?? ["*"])],
                  ...(k.namespaces === undefined ? { clusterScope: true } : {}),
                },
              ],
            },
          ],
        },
      },
    }))
    yield* Effect.acquireRelease(
      Effect.promise(async () => {
        await kubectl(["apply", "-f", "-"], {
          input: JSON.stringify({ apiVersion: "v1", kind: "List", items: schemas.map((s) => s.manifest) }),
        })
        // The API server classifies by a schema only once its config controller has digested it, and says so
        // in the schema's status.
        await kubectl([
          "wait",
          "--for=condition=Dangling=False",
          "--timeout=60s",
          ...schemas.map((s) => `flowschema/${s.name}`),
        ])
      }),
      () =>
        Effect.promise(() =>
          kubectl(["delete", "--ignore-not-found", ...schemas.map((s) => `flowschema/${s.name}`)]),
        ),
    )
    const byName = new Map(schemas.map((s) => [s.name, s.kind]))

    const read = Effect.promise(async (): Promise<RequestCounts> => {
      const counts = Object.fromEntries(schemas.map((s) => [s.kind, 0])) as Record<RequestKind, number>
      for (const line of (await kubectl(["get", "--raw", "/metrics"])).split("\n")) {
        const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line)
        if (m === null || m[1] !== metric) continue
        const kind = byName.get(labelsOf(m[2] ?? "").flow_schema ?? "")
        if (kind !== undefined) counts[kind] += Number(m[3])
      }
      return counts
    })

    const same = (a: RequestCounts, b: RequestCounts) =>
      Object.keys(a).every((k) => k === "leases" || a[k as RequestKind] === b[k as RequestKind])

    const settled = Effect.gen(function* () {
      let last = yield* read
      // Bounded: an operator that never stops asking shows up in the counts the test then compares.
      for (let i = 0; i < 20; i++) {
        yield* Effect.sleep(quietMs)
        const now = yield* read
        if (same(last, now)) return now
        last = now
      }
      return last
    })

    return { read, settled } satisfies RequestMeter
  })
