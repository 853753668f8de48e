/**
 * What a user looks at with kubectl while a fleet reconciles — objects, their status, Events — and the waits of
 * `kubectl get -w`.
 */
import { execFile } from "node:child_process"
import { Effect, Option } from "effect"
import { kubectl, runKubectl, testKubeconfigPath } from "../support/cluster.ts"
import { eventually as poll } from "../support/eventually.ts"
import type { KubeEvent, Obj } from "../support/kube-objects.ts"
import { toolPath } from "../support/tools.ts"

export type { Condition, KubeEvent, Obj } from "../support/kube-objects.ts"

/** A namespace's view, and where to look when a wait times out. */
export const clusterView = (ns: string) => {
  const get = (kind: string, name: string) =>
    Effect.promise(async (): Promise<Obj | undefined> => {
      const r = await runKubectl(["-n", ns, "get", kind, name, "-o", "json", "--show-managed-fields"])
      return r.code === 0 ? (JSON.parse(r.stdout) as Obj) : undefined
    })

  const kube = (...args: ReadonlyArray<string>) => Effect.promise(() => kubectl(["-n", ns, ...args]))

  /** Polls until `check` returns a value (the fleet's scope prints objects and logs if a test fails). */
  const eventually = <A>(what: string, check: Effect.Effect<A | undefined>, timeoutMs = 90_000) =>
    poll(what, check.pipe(Effect.map(Option.fromNullishOr)), timeoutMs, 250)

  const waitFor = (kind: string, name: string, what: string, predicate: (o: Obj) => boolean) =>
    eventually(
      `${kind}/${name}: ${what}`,
      get(kind, name).pipe(Effect.map((o) => (o !== undefined && predicate(o) ? o : undefined))),
    )

  /** `flux reconcile`: sets the requestedAt annotation; returns its value. */
  const requestReconcile = (kind: string, name: string) =>
    Effect.gen(function* () {
      const at = new Date().toISOString()
      yield* kube("annotate", "--overwrite", kind, name, `reconcile.fluxcd.io/requestedAt=${at}`)
      return at
    })

  /**
   * `kubectl edit` as a user runs it, with `sed -e <script>` as the editor: an Update by the field manager
   * `kubectl-edit`.
   */
  const edit = (kind: string, name: string, sedScript: string) =>
    Effect.promise(
      () =>
        new Promise<void>((resolve, reject) =>
          execFile(
            toolPath("kubectl"),
            [`--kubeconfig=${testKubeconfigPath()}`, "-n", ns, "edit", kind, name],
            { env: { ...process.env, KUBE_EDITOR: `sed -i -e '${sedScript}'` } },
            (err, _stdout, stderr) =>
              err === null ? resolve() : reject(new Error(`kubectl edit: ${stderr}`)),
          ),
        ),
    )

  const events = Effect.promise(async (): Promise<ReadonlyArray<KubeEvent>> => {
    const out = await kubectl(["-n", ns, "get", "events.v1.events.k8s.io", "-o", "json"])
    return (JSON.parse(out) as { items: KubeEvent[] }).items
  })

  return { ns, get, kube, eventually, waitFor, requestReconcile, edit, events }
}

export type ClusterView = ReturnType<typeof clusterView>

export const conditionOf = (o: Obj | undefined, type: string) =>
  o?.status?.conditions?.find((c) => c.type === type)

/** Ready=True for the current generation. */
export const isReady = (o: Obj) =>
  conditionOf(o, "Ready")?.status === "True" && o.status?.observedGeneration === o.metadata.generation

/** Ready with this revision applied. */
export const appliedRevision = (revision: string) => (o: Obj) =>
  isReady(o) && o.status?.lastAppliedRevision === revision

/** How many reconciles the status history has counted (every reconcile counts one). */
export const reconciles = (o: Obj | undefined) =>
  (o?.status?.history ?? []).reduce((n, h) => n + h.totalReconciliations, 0)

/**
 * `flux reconcile`'s wait: the request was handled and the reconcile finished Ready. `lastHandledReconcileAt`
 * alone is not enough: a reconcile that does real work says so in a progress write first.
 */
export const reconciledAt = (at: string) => (o: Obj) =>
  o.status?.lastHandledReconcileAt === at && isReady(o) && conditionOf(o, "Reconciling") === undefined
