import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { createServiceAccount, testNamespace } from "../../../../e2e/support/cluster.ts"
import type { KubeObject } from "../../kube/object.ts"
import { configMap, getLive, patchAs, stageTestLayer } from "../pipeline/testing/stage-test-layer.ts"
import { Applier } from "./staged-apply.ts"

const owner = { name: "apps", namespace: "flux-system" }

const actions = (
  cs: ReadonlyArray<{ ref: { kind: string; namespace: string; name: string }; action: string }>,
) => Object.fromEntries(cs.map((e) => [`${e.ref.kind}/${e.ref.namespace}/${e.ref.name}`, e.action]))

const job = (namespace: string, image: string, annotations?: Record<string, string>): KubeObject => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { name: "migrate", namespace, ...(annotations ? { annotations } : {}) },
  spec: {
    template: { spec: { restartPolicy: "Never", containers: [{ name: "m", image }] } },
  },
})

layer(stageTestLayer, { timeout: 120_000, excludeTestServices: true })(
  "Applier on the test control plane",
  (it) => {
    it.effect(
      "applies a CRD, a Namespace and objects that need them in one set, then leaves them untouched",
      () =>
        Effect.gen(function* () {
          const applier = yield* Applier
          const suffix = Math.random().toString(36).slice(2, 8)
          const group = `t${suffix}.example.com`
          const ns = `staged-${suffix}`
          const crd: KubeObject = {
            apiVersion: "apiextensions.k8s.io/v1",
            kind: "CustomResourceDefinition",
            metadata: { name: `widgets.${group}` },
            spec: {
              group,
              names: { kind: "Widget", plural: "widgets", singular: "widget", listKind: "WidgetList" },
              scope: "Namespaced",
              versions: [
                {
                  name: "v1",
                  served: true,
                  storage: true,
                  schema: {
                    openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
                  },
                },
              ],
            },
          }
          const widget: KubeObject = {
            apiVersion: `${group}/v1`,
            kind: "Widget",
            metadata: { name: "w", namespace: ns },
            spec: { size: 3 },
          }
          const namespace: KubeObject = { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }
          const cm = configMap(ns, "settings", { mode: "fast" })
          // Deliberately in the worst order: dependents before what they depend on.
          const set = [widget, cm, namespace, crd]

          const first = yield* applier.apply({ objects: set, owner })
          expect(first.changeSet.map((e) => e.ref.kind)).toEqual([
            "CustomResourceDefinition",
            "Namespace",
            "ConfigMap",
            "Widget",
          ])
          expect(new Set(first.changeSet.map((e) => e.action))).toEqual(new Set(["created"]))
          expect(first.inventory.entries.map((e) => e.id)).toEqual([
            `_${ns}__Namespace`,
            `_widgets.${group}_apiextensions.k8s.io_CustomResourceDefinition`,
            `${ns}_settings__ConfigMap`,
            `${ns}_w_${group}_Widget`,
          ])
          const live = yield* getLive(`${group}/v1`, "Widget", "w", ns)
          expect(live?.spec).toEqual({ size: 3 })
          expect(live?.metadata.labels).toMatchObject({
            "kustomize.toolkit.fluxcd.io/name": "apps",
            "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
          })
          const before = (yield* getLive("v1", "ConfigMap", "settings", ns))?.metadata.resourceVersion

          const second = yield* applier.apply({ objects: set, owner })
          expect(new Set(second.changeSet.map((e) => e.action))).toEqual(new Set(["unchanged"]))
          expect((yield* getLive("v1", "ConfigMap", "settings", ns))?.metadata.resourceVersion).toBe(before)
        }),
    )

    it.effect(
      "detects drift: changed manifests and hand edits are configured, the rest stays unchanged",
      () =>
        Effect.gen(function* () {
          const applier = yield* Applier
          const ns = yield* testNamespace("drift")
          const set = [configMap(ns, "a", { k: "1" }), configMap(ns, "b", { k: "1" })]
          yield* applier.apply({ objects: set, owner })
          const rvB = (yield* getLive("v1", "ConfigMap", "b", ns))?.metadata.resourceVersion

          const changed = yield* applier.apply({ objects: [configMap(ns, "a", { k: "2" }), set[1]!], owner })
          expect(actions(changed.changeSet)).toEqual({
            [`ConfigMap/${ns}/a`]: "configured",
            [`ConfigMap/${ns}/b`]: "unchanged",
          })
          expect((yield* getLive("v1", "ConfigMap", "a", ns))?.data).toEqual({ k: "2" })
          expect((yield* getLive("v1", "ConfigMap", "b", ns))?.metadata.resourceVersion).toBe(rvB)

          // `kubectl edit` adds a key the manifests do not have: Override (the default) removes it again.
          yield* patchAs(
            "kubectl-edit",
            { apiVersion: "v1", kind: "ConfigMap", name: "b", namespace: ns },
            { data: { extra: "x" } },
          )
          const reverted = yield* applier.apply({ objects: [configMap(ns, "a", { k: "2" }), set[1]!], owner })
          expect(actions(reverted.changeSet)[`ConfigMap/${ns}/b`]).toBe("configured")
          expect((yield* getLive("v1", "ConfigMap", "b", ns))?.data).toEqual({ k: "1" })
        }),
    )

    it.effect("honours the ssa annotations Merge, IfNotPresent and Ignore, and reconcile: disabled", () =>
      Effect.gen(function* () {
        const applier = yield* Applier
        const ns = yield* testNamespace("ssa")
        const merge = (v: string) =>
          configMap(ns, "merge", { k: v }, { "kustomize.toolkit.fluxcd.io/ssa": "Merge" })
        const once = (v: string) =>
          configMap(ns, "once", { k: v }, { "kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent" })
        const ignored = configMap(ns, "ignored", { k: "1" }, { "kustomize.toolkit.fluxcd.io/ssa": "Ignore" })
        const paused = (v: string) => configMap(ns, "paused", { k: v })

        const first = yield* applier.apply({ objects: [merge("1"), once("1"), ignored, paused("1")], owner })
        expect(actions(first.changeSet)).toEqual({
          [`ConfigMap/${ns}/merge`]: "created",
          [`ConfigMap/${ns}/once`]: "created",
          [`ConfigMap/${ns}/ignored`]: "skipped",
          [`ConfigMap/${ns}/paused`]: "created",
        })
        expect(yield* getLive("v1", "ConfigMap", "ignored", ns)).toBeUndefined()
        // Ignored objects stay in the inventory (and are never pruned).
        expect(first.inventory.entries.map((e) => e.id)).toContain(`${ns}_ignored__ConfigMap`)

        // Someone else's field on the Merge object survives; the user pauses `paused` on the live object.
        yield* patchAs(
          "kubectl-edit",
          { apiVersion: "v1", kind: "ConfigMap", name: "merge", namespace: ns },
          { data: { theirs: "x" } },
        )
        yield* patchAs(
          "kubectl-annotate",
          { apiVersion: "v1", kind: "ConfigMap", name: "paused", namespace: ns },
          { metadata: { annotations: { "kustomize.toolkit.fluxcd.io/reconcile": "disabled" } } },
        )
        const second = yield* applier.apply({ objects: [merge("1"), once("2"), ignored, paused("2")], owner })
        expect(actions(second.changeSet)).toEqual({
          [`ConfigMap/${ns}/merge`]: "unchanged",
          [`ConfigMap/${ns}/once`]: "skipped",
          [`ConfigMap/${ns}/ignored`]: "skipped",
          [`ConfigMap/${ns}/paused`]: "skipped",
        })
        expect((yield* getLive("v1", "ConfigMap", "merge", ns))?.data).toEqual({ k: "1", theirs: "x" })
        expect((yield* getLive("v1", "ConfigMap", "once", ns))?.data).toEqual({ k: "1" })
        expect((yield* getLive("v1", "ConfigMap", "paused", ns))?.data).toEqual({ k: "1" })
      }),
    )

    it.effect(
      "refuses an immutable change without force, and recreates the object with spec.force or the force annotation",
      () =>
        Effect.gen(function* () {
          const applier = yield* Applier
          const ns = yield* testNamespace("force")
          yield* applier.apply({ objects: [job(ns, "busybox:1"), configMap(ns, "c", { k: "1" })], owner })
          const uid = (yield* getLive("batch/v1", "Job", "migrate", ns))?.metadata.uid

          const refused = yield* Effect.flip(
            applier.apply({ objects: [job(ns, "busybox:2"), configMap(ns, "c", { k: "2" })], owner }),
          )
          expect(refused.reason).toBe("ReconciliationFailed")
          expect(refused.objects).toEqual([`Job/${ns}/migrate`])
          expect(refused.message).toContain(`Job/${ns}/migrate`)
          expect(refused.message).toMatch(/immutable/)
          // Validation runs before any write: the ConfigMap change of the same set was not applied.
          expect((yield* getLive("v1", "ConfigMap", "c", ns))?.data).toEqual({ k: "1" })

          const forced = yield* applier.apply({
            objects: [job(ns, "busybox:2"), configMap(ns, "c", { k: "2" })],
            owner,
            force: true,
          })
          expect(actions(forced.changeSet)).toEqual({
            [`Job/${ns}/migrate`]: "created",
            [`ConfigMap/${ns}/c`]: "configured",
          })
          const recreated = yield* getLive("batch/v1", "Job", "migrate", ns)
          expect(recreated?.metadata.uid).not.toBe(uid)
          expect(JSON.stringify(recreated?.spec)).toContain("busybox:2")

          const annotated = yield* applier.apply({
            objects: [
              job(ns, "busybox:3", { "kustomize.toolkit.fluxcd.io/force": "enabled" }),
              configMap(ns, "c", { k: "2" }),
            ],
            owner,
          })
          expect(actions(annotated.changeSet)[`Job/${ns}/migrate`]).toBe("created")
        }),
    )

    it.effect("fails validation of a bad object before writing anything, without echoing Secret values", () =>
      Effect.gen(function* () {
        const applier = yield* Applier
        const ns = yield* testNamespace("invalid")
        const secretValue = "s3cr3t-value-never-shown"
        const badSecret: KubeObject = {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "creds", namespace: ns },
          type: "kubernetes.io/basic-auth",
          stringData: { "not a valid key!": secretValue },
        }
        const badDeployment: KubeObject = {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "web", namespace: ns },
          spec: {
            replicas: -1,
            selector: { matchLabels: { app: "web" } },
            template: { metadata: { labels: { app: "web" } }, spec: { containers: [] } },
          },
        }
        const error = yield* Effect.flip(
          applier.apply({ objects: [configMap(ns, "ok", { k: "1" }), badSecret, badDeployment], owner }),
        )
        expect(error.reason).toBe("ReconciliationFailed")
        expect([...error.objects].sort()).toEqual([`Deployment/${ns}/web`, `Secret/${ns}/creds`])
        expect(error.message).toContain(`Deployment/${ns}/web dry-run failed`)
        expect(error.message).not.toContain(secretValue)
        expect(error.message).not.toContain(Buffer.from(secretValue).toString("base64"))
        expect(yield* getLive("v1", "ConfigMap", "ok", ns)).toBeUndefined()

        const noNamespace = yield* Effect.flip(
          applier.apply({
            objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } }],
            owner,
          }),
        )
        expect(noNamespace.message).toContain("ConfigMap/x: namespace not specified")
        const timedOut = yield* Effect.flip(
          applier.apply({ objects: [configMap(ns, "late", { k: "1" })], owner, timeout: "1 millis" }),
        )
        expect(timedOut.message).toBe("apply of 1 objects timed out after 1ms")
        expect(timedOut.retryable).toBe(true)
        const unknownKind = yield* Effect.flip(
          applier.apply({
            objects: [
              { apiVersion: "nope.example.com/v1", kind: "Thing", metadata: { name: "x", namespace: ns } },
            ],
            owner,
          }),
        )
        expect(unknownKind.message).toContain(`Thing/${ns}/x: no matches for kind "Thing"`)
      }),
    )

    it.effect(
      "applies as the Kustomization's ServiceAccount and names object and account when RBAC denies it",
      () =>
        Effect.gen(function* () {
          const applier = yield* Applier
          const ns = yield* testNamespace("impersonate")
          yield* Effect.promise(() => createServiceAccount(ns, "deployer"))
          const identity = { _tag: "ServiceAccount", namespace: ns, name: "deployer" } as const
          const denied = yield* Effect.flip(
            applier.apply({ objects: [configMap(ns, "c", { k: "1" })], owner, identity }),
          )
          expect(denied.message).toContain(`ConfigMap/${ns}/c is forbidden for ServiceAccount ${ns}/deployer`)
          expect(denied.message).toContain(`system:serviceaccount:${ns}:deployer`)
          expect(yield* getLive("v1", "ConfigMap", "c", ns)).toBeUndefined()

          // Grant the ServiceAccount what an applier needs on ConfigMaps, through its group.
          yield* applier.apply({
            objects: [
              {
                apiVersion: "rbac.authorization.k8s.io/v1",
                kind: "Role",
                metadata: { name: "cm-writer", namespace: ns },
                rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "create", "patch"] }],
              },
              {
                apiVersion: "rbac.authorization.k8s.io/v1",
                kind: "RoleBinding",
                metadata: { name: "cm-writer", namespace: ns },
                roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "cm-writer" },
                subjects: [
                  {
                    kind: "Group",
                    name: `system:serviceaccounts:${ns}`,
                    apiGroup: "rbac.authorization.k8s.io",
                  },
                ],
              },
            ],
            owner: { name: "rbac", namespace: ns },
          })
          const allowed = yield* applier.apply({ objects: [configMap(ns, "c", { k: "1" })], owner, identity })
          expect(actions(allowed.changeSet)).toEqual({ [`ConfigMap/${ns}/c`]: "created" })
          const live = yield* getLive("v1", "ConfigMap", "c", ns)
          expect(live?.metadata.managedFields?.[0]?.manager).toBe("kustomize-controller")
        }),
    )

    it.effect("sets spec.commonMetadata on every object, over the manifests' own keys", () =>
      Effect.gen(function* () {
        const applier = yield* Applier
        const ns = yield* testNamespace("common")
        const cm: KubeObject = {
          ...configMap(ns, "c", { k: "1" }),
          metadata: { name: "c", namespace: ns, labels: { team: "a", tier: "web" } },
        }
        yield* applier.apply({
          objects: [cm],
          owner,
          commonMetadata: { labels: { team: "platform" }, annotations: { "example.com/contact": "ops" } },
        })
        const live = yield* getLive("v1", "ConfigMap", "c", ns)
        expect(live?.metadata.labels).toMatchObject({
          team: "platform",
          tier: "web",
          "kustomize.toolkit.fluxcd.io/name": "apps",
        })
        expect(live?.metadata.annotations).toEqual({ "example.com/contact": "ops" })
      }),
    )
  },
)
