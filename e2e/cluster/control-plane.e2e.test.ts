import { randomBytes } from "node:crypto"
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1CustomResourceDefinition,
  VersionApi,
  Watch,
} from "@kubernetes/client-node"
import { beforeAll, describe, expect, it } from "vitest"
import {
  applyYaml,
  createTestNamespace,
  kubectl,
  runKubectl,
  serviceAccountKubeConfig,
  testKubeConfig,
} from "../support/cluster.ts"
import { toolVersions } from "../support/tools.ts"

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const waitFor = async <A>(what: string, f: () => Promise<A | undefined>, timeoutMs = 30_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await f().catch(() => undefined)
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

/** The HTTP status of a failed client-node call. */
const statusOf = async (p: Promise<unknown>): Promise<number> =>
  p.then(
    () => 200,
    (e: { code?: number }) => e.code ?? -1,
  )

describe("the test control plane", () => {
  let kc: KubeConfig
  // A fresh API group per run keeps this re-runnable against a long-lived `cluster:up` control plane.
  const group = `t${randomBytes(3).toString("hex")}.kustodian.dev`
  const crd: V1CustomResourceDefinition = {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `widgets.${group}` },
    spec: {
      group,
      scope: "Namespaced",
      names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: {
              type: "object",
              properties: {
                spec: { type: "object", properties: { size: { type: "integer", minimum: 1 } } },
                status: { type: "object", properties: { phase: { type: "string" } } },
              },
            },
          },
        },
      ],
    },
  }
  beforeAll(() => {
    kc = testKubeConfig()
  })

  it("reports the pinned Kubernetes version", async () => {
    const v = await kc.makeApiClient(VersionApi).getCode()
    expect(v.gitVersion).toBe(toolVersions().KUBERNETES_VERSION)
    expect(await kubectl(["version", "-o", "json"])).toContain(
      `"gitVersion": "${toolVersions().KUBERNETES_VERSION}"`,
    )
  })

  it("establishes a CRD, stores custom objects, validates them and streams their changes", async () => {
    await kc.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({ body: crd })
    await waitFor("CRD Established", async () => {
      const got = await kc
        .makeApiClient(ApiextensionsV1Api)
        .readCustomResourceDefinition({ name: `widgets.${group}` })
      return got.status?.conditions?.find((c) => c.type === "Established" && c.status === "True")
    })
    const namespace = await createTestNamespace("crd")
    const objects = kc.makeApiClient(CustomObjectsApi)
    // The discovery cache of a fresh CRD can lag Established by a moment.
    await waitFor("custom object created", () =>
      objects.createNamespacedCustomObject({
        group,
        version: "v1",
        namespace,
        plural: "widgets",
        body: { apiVersion: `${group}/v1`, kind: "Widget", metadata: { name: "w1" }, spec: { size: 1 } },
      }),
    )
    const invalid = await statusOf(
      objects.createNamespacedCustomObject({
        group,
        version: "v1",
        namespace,
        plural: "widgets",
        body: { apiVersion: `${group}/v1`, kind: "Widget", metadata: { name: "bad" }, spec: { size: 0 } },
      }),
    )
    expect(invalid).toBe(422)

    const seen: Array<{ type: string; size: number | undefined }> = []
    const abort = await new Watch(kc).watch(
      `/apis/${group}/v1/namespaces/${namespace}/widgets`,
      { fieldSelector: "metadata.name=w1" },
      (type, obj: { spec?: { size?: number } }) => seen.push({ type, size: obj.spec?.size }),
      () => {},
    )
    try {
      await waitFor("initial ADDED event", async () =>
        seen.some((e) => e.type === "ADDED") ? true : undefined,
      )
      await kubectl([
        "-n",
        namespace,
        "patch",
        `widgets.${group}`,
        "w1",
        "--type=merge",
        "-p",
        '{"spec":{"size":3}}',
      ])
      const modified = await waitFor("MODIFIED event", async () => seen.find((e) => e.type === "MODIFIED"))
      expect(modified.size).toBe(3)
    } finally {
      abort.abort()
    }
  })

  it("issues ServiceAccount tokens and enforces RBAC on them", async () => {
    const namespace = await createTestNamespace("rbac")
    const sa = await serviceAccountKubeConfig(
      namespace,
      "reader",
      [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "watch"] }],
      { clusterRules: [{ apiGroups: [""], resources: ["namespaces"], verbs: ["get"] }] },
    )
    const admin = kc.makeApiClient(CoreV1Api)
    await admin.createNamespacedConfigMap({ namespace, body: { metadata: { name: "c1" }, data: { k: "v" } } })
    const asSa = sa.kubeConfig.makeApiClient(CoreV1Api)
    const list = await asSa.listNamespacedConfigMap({ namespace })
    expect(list.items.map((c) => c.metadata?.name)).toContain("c1")
    // Not in the Role: writing configmaps, reading secrets, anything in another namespace.
    expect(
      await statusOf(asSa.createNamespacedConfigMap({ namespace, body: { metadata: { name: "c2" } } })),
    ).toBe(403)
    expect(await statusOf(asSa.listNamespacedSecret({ namespace }))).toBe(403)
    expect(await statusOf(asSa.listNamespacedConfigMap({ namespace: "default" }))).toBe(403)
    // The cluster-wide grant: reading namespaces, but not listing them.
    expect((await asSa.readNamespace({ name: namespace })).metadata?.name).toBe(namespace)
    expect(await statusOf(asSa.listNamespace())).toBe(403)
    // The real kubectl agrees, as the ServiceAccount.
    const can = await runKubectl(["auth", "can-i", "create", "configmaps", "-n", namespace], {
      kubeconfig: sa.path,
    })
    expect(can.stdout.trim()).toBe("no")
    const read = await runKubectl(["get", "configmaps", "-n", namespace, "-o", "name"], {
      kubeconfig: sa.path,
    })
    expect(read.stdout).toContain("configmap/c1")
    const denied = await runKubectl(["get", "secrets", "-n", namespace], { kubeconfig: sa.path })
    expect(denied.code).not.toBe(0)
    expect(denied.stderr).toMatch(/forbidden/i)
    expect(denied.stderr).toContain(`system:serviceaccount:${namespace}:reader`)
  })

  it("server-side applies YAML idempotently with the real kubectl", async () => {
    const namespace = await createTestNamespace("apply")
    const yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  k: v1\n"
    expect(await applyYaml(yaml, { namespace })).toMatch(/serverside-applied/)
    expect(await applyYaml(yaml.replace("k: v1", "k: v2"), { namespace })).toMatch(/serverside-applied/)
    const cm = await kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({ namespace, name: "applied" })
    expect(cm.data).toEqual({ k: "v2" })
  })
})
