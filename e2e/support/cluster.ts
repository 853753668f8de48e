/**
 * Access to the test cluster from `*.e2e.test.ts` files: the vitest global setup (e2e/cluster/global-setup.ts)
 * starts one control plane per run and puts its admin kubeconfig path in `KUSTODIAN_TEST_KUBECONFIG`.
 * Isolate each test in its own namespace ({@link withTestNamespace}); namespaces are never deleted because,
 * without kube-controller-manager, deletion never finishes and the name could not be reused anyway.
 */
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, writeFileSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from "@kubernetes/client-node"
import { Data, Effect } from "effect"
import { kubeconfigYaml } from "../cluster/kubeconfig-file.ts"
import { repoRoot, toolPath } from "./tools.ts"

/** The cluster is not configured (not running under the e2e vitest project) or a helper call failed. */
export class TestClusterError extends Data.TaggedError("TestClusterError")<{
  readonly operation: string
  readonly reason: string
}> {
  override get message(): string {
    return `test cluster: ${this.operation}: ${this.reason}`
  }
}

/** Path of the admin kubeconfig of the run's test cluster. */
export const testKubeconfigPath = (): string => {
  const path = process.env.KUSTODIAN_TEST_KUBECONFIG
  if (!path)
    throw new TestClusterError({
      operation: "locate kubeconfig",
      reason:
        "KUSTODIAN_TEST_KUBECONFIG is not set: cluster tests must be named *.e2e.test.ts (the vitest `e2e` project " +
        "starts the control plane), or export it, e.g. after `npm run cluster:up`",
    })
  return path
}

/** A KubeConfig for the test cluster's admin (system:masters). */
export const testKubeConfig = (): KubeConfig => {
  const kc = new KubeConfig()
  kc.loadFromFile(testKubeconfigPath())
  return kc
}

const suffix = () => randomBytes(4).toString("hex")

/** Creates a uniquely named namespace (`<prefix>-<random>`) and returns its name. */
export const createTestNamespace = async (
  prefix = "test",
  kc: KubeConfig = testKubeConfig(),
): Promise<string> => {
  const base = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
  const name = `${base || "test"}-${suffix()}`
  await kc.makeApiClient(CoreV1Api).createNamespace({
    body: { metadata: { name, labels: { "kustodian.dev/test": "true" } } },
  })
  return name
}

/** Runs `f` with a fresh namespace of its own. */
export const withTestNamespace = async <A>(
  f: (namespace: string) => Promise<A>,
  prefix = "test",
): Promise<A> => f(await createTestNamespace(prefix))

/** {@link createTestNamespace} as an Effect, for `it.effect` tests. */
export const testNamespace = (prefix = "test") =>
  Effect.tryPromise({
    try: () => createTestNamespace(prefix),
    catch: (e) => new TestClusterError({ operation: "create namespace", reason: String(e) }),
  })

/** Creates a ServiceAccount (nothing else creates them: there is no kube-controller-manager). */
export const createServiceAccount = async (
  namespace: string,
  name: string,
  kc: KubeConfig = testKubeConfig(),
): Promise<void> => {
  await kc
    .makeApiClient(CoreV1Api)
    .createNamespacedServiceAccount({ namespace, body: { metadata: { name } } })
}

/** A bearer token for a ServiceAccount minted with the TokenRequest API (default lifetime one hour). */
export const serviceAccountToken = async (
  namespace: string,
  name: string,
  opts: { readonly expirationSeconds?: number; readonly audiences?: ReadonlyArray<string> } = {},
  kc: KubeConfig = testKubeConfig(),
): Promise<string> => {
  const res = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name,
    namespace,
    body: {
      spec: {
        expirationSeconds: opts.expirationSeconds ?? 3600,
        ...(opts.audiences ? { audiences: [...opts.audiences] } : {}),
      },
    },
  })
  const token = res.status?.token
  if (!token)
    throw new TestClusterError({
      operation: `token for ${namespace}/${name}`,
      reason: "TokenRequest gave no token",
    })
  return token
}

/** The kubeconfig YAML for a bearer token against the test cluster (same server and CA as the admin one). */
export const kubeconfigYamlForToken = (
  token: string,
  opts: { readonly namespace?: string; readonly user?: string } = {},
  admin: KubeConfig = testKubeConfig(),
): string => {
  const cluster = admin.getCurrentCluster()
  if (!cluster?.caData)
    throw new TestClusterError({ operation: "token kubeconfig", reason: "admin kubeconfig has no inline CA" })
  return kubeconfigYaml({
    clusterName: "kustodian-test",
    server: cluster.server,
    caPem: Buffer.from(cluster.caData, "base64").toString("utf8"),
    user: { name: opts.user ?? "token-user", token },
    ...(opts.namespace ? { namespace: opts.namespace } : {}),
  })
}

/** A KubeConfig authenticating with a bearer token (e.g. from {@link serviceAccountToken}). */
export const kubeConfigForToken = (
  token: string,
  opts: { readonly namespace?: string } = {},
  admin: KubeConfig = testKubeConfig(),
): KubeConfig => {
  const kc = new KubeConfig()
  kc.loadFromString(kubeconfigYamlForToken(token, opts, admin))
  return kc
}

/** An RBAC rule, as in a Role. */
export interface PolicyRule {
  readonly apiGroups: ReadonlyArray<string>
  readonly resources: ReadonlyArray<string>
  readonly verbs: ReadonlyArray<string>
}

const toRule = (r: PolicyRule) => ({
  apiGroups: [...r.apiGroups],
  resources: [...r.resources],
  verbs: [...r.verbs],
})

/**
 * Makes a ServiceAccount, grants it `rules` through a namespaced Role + RoleBinding, and returns a kubeconfig
 * (object and file path, mode 0600, in a temp dir) that acts as it — e.g. to run the operator under its own RBAC.
 */
export const serviceAccountKubeConfig = async (
  namespace: string,
  name: string,
  rules: ReadonlyArray<PolicyRule>,
  opts: {
    /** Also grant these cluster-wide, through a ClusterRole + ClusterRoleBinding named `<namespace>-<name>`. */
    readonly clusterRules?: ReadonlyArray<PolicyRule>
  } = {},
): Promise<{ readonly kubeConfig: KubeConfig; readonly path: string; readonly token: string }> => {
  const admin = testKubeConfig()
  await createServiceAccount(namespace, name, admin)
  if (rules.length > 0) {
    const rbac = admin.makeApiClient(RbacAuthorizationV1Api)
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name },
        rules: rules.map((r) => ({
          apiGroups: [...r.apiGroups],
          resources: [...r.resources],
          verbs: [...r.verbs],
        })),
      },
    })
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
        subjects: [{ kind: "ServiceAccount", name, namespace }],
      },
    })
  }
  if (opts.clusterRules !== undefined && opts.clusterRules.length > 0) {
    const rbac = admin.makeApiClient(RbacAuthorizationV1Api)
    const clusterName = `${namespace}-${name}`
    await rbac.createClusterRole({
      body: { metadata: { name: clusterName }, rules: opts.clusterRules.map(toRule) },
    })
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: clusterName },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterName },
        subjects: [{ kind: "ServiceAccount", name, namespace }],
      },
    })
  }
  const token = await serviceAccountToken(namespace, name, {}, admin)
  const path = join(mkdtempSync(join(tmpdir(), "kustodian-sa-")), "kubeconfig")
  const yaml = kubeconfigYamlForToken(
    token,
    { namespace, user: `system:serviceaccount:${namespace}:${name}` },
    admin,
  )
  writeFileSync(path, yaml, { mode: 0o600 })
  const kubeConfig = new KubeConfig()
  kubeConfig.loadFromString(yaml)
  return { kubeConfig, path, token }
}

/** Outcome of a kubectl run that was allowed to fail. */
export interface KubectlResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the real kubectl against the test cluster (admin unless `kubeconfig` is given), whatever its exit code. */
export const runKubectl = (
  args: ReadonlyArray<string>,
  opts: { readonly kubeconfig?: string; readonly input?: string } = {},
): Promise<KubectlResult> =>
  new Promise((resolve) => {
    const child = execFile(
      toolPath("kubectl"),
      [`--kubeconfig=${opts.kubeconfig ?? testKubeconfigPath()}`, ...args],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr }),
    )
    if (opts.input !== undefined) child.stdin?.end(opts.input)
  })

/** Runs the real kubectl; resolves with stdout, rejects with its stderr when it exits non-zero. */
export const kubectl = async (
  args: ReadonlyArray<string>,
  opts: { readonly kubeconfig?: string; readonly input?: string } = {},
): Promise<string> => {
  const r = await runKubectl(args, opts)
  if (r.code !== 0)
    throw new TestClusterError({
      operation: `kubectl ${args.join(" ")}`,
      reason: r.stderr.trim() || r.stdout.trim() || `exit ${r.code}`,
    })
  return r.stdout
}

/** Secret `name`'s data, decoded from base64 (the test reads back what the operator or the CLI wrote). */
export const secretValues = (ns: string, name: string) =>
  Effect.promise(async () => {
    const data = (
      JSON.parse(await kubectl(["-n", ns, "get", "secret", name, "-o", "json"])) as {
        data?: Record<string, string>
      }
    ).data
    return Object.fromEntries(
      Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
    )
  })

/**
 * Server-side applies YAML (one or more documents) as the admin with the real kubectl — idempotent, so several
 * test files may install the same CRDs into the shared control plane. Resolves with kubectl's output.
 */
export const applyYaml = (yaml: string, opts: { readonly namespace?: string } = {}): Promise<string> =>
  kubectl(
    [
      "apply",
      "--server-side",
      "--force-conflicts",
      "--field-manager=kustodian-test",
      ...(opts.namespace ? ["-n", opts.namespace] : []),
      "-f",
      "-",
    ],
    { input: yaml },
  )

/** Waits until the named CRDs (e.g. `gitrepositories.source.toolkit.fluxcd.io`) are Established. */
export const waitForCrds = (names: ReadonlyArray<string>, timeoutSeconds = 60): Promise<string> =>
  kubectl([
    "wait",
    "--for=condition=Established",
    `--timeout=${timeoutSeconds}s`,
    ...names.map((n) => `customresourcedefinition/${n}`),
  ])

/** The CRDs Kustodian serves (Flux's GitRepository and Kustomization, its own ReconcileJournal), installed and Established. */
export const installFluxCrds = async (): Promise<void> => {
  const files = [
    "crds/source.toolkit.fluxcd.io_gitrepositories.yaml",
    "crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml",
    "crds/kustodian.io_reconcilejournals.yaml",
  ]
  await applyYaml((await Promise.all(files.map((f) => readFile(join(repoRoot, f), "utf8")))).join("\n---\n"))
  await waitForCrds([
    "gitrepositories.source.toolkit.fluxcd.io",
    "kustomizations.kustomize.toolkit.fluxcd.io",
    "reconcilejournals.kustodian.io",
  ])
}
