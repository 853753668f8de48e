/**
 * Issue 11's acceptance: hostile repositories against the running operator. `kustodian controller` runs as its
 * own process (Landlock sandbox required) against the real kube-apiserver, sources come from a real git server,
 * builds use the real kustomize. Every hostile input is applied at once, each in objects of its own, while
 *
 * - a poller (its own process) asks the operator's `/healthz` once a second and records the longest silence,
 * - an unrelated, healthy Kustomization is asked to reconcile (`reconcile.fluxcd.io/requestedAt`) every few
 *   seconds and must honour each request (`status.lastHandledReconcileAt`).
 *
 * Then one `it` per case asserts what a user would see: Ready=False with a reason and a message that names the
 * cause (the field, the file, the offending path or the limit), and nothing of the hostile input in the cluster.
 *
 * Two operators serve the file, each watching its own namespace: the main one with default flags and a second
 * with `--no-remote-bases` (the URL cases run against both; the SIGKILL case kills and restarts the second, so
 * the main one's liveness record is not disturbed). Cases settle against one shared deadline, so a stalled
 * operator fails every case in bounded time instead of each waiting out its own timeout.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import {
  applyYaml,
  createTestNamespace,
  installFluxCrds,
  kubectl,
  runKubectl,
  testKubeconfigPath,
} from "../support/cluster.ts"
import { createBareRepo, type GitHttpServer, gitHttpServer } from "../support/git-server.ts"
import type { Obj } from "../support/kube-objects.ts"
import { logTail } from "../support/process.ts"
import { generateAgeKey } from "../support/seed.ts"
import { type Canary, type CanaryServer, startCanaryServer, writeCanary } from "./support/canary.ts"
import {
  diamondTree,
  docsTree,
  type FieldCase,
  fieldCases,
  fieldCaseTree,
  healthyTree,
  hugeFileTree,
  passwdMarker,
  sourceIgnoreTree,
  type UrlCase,
  urlCases,
  type Variant,
  writtenPath,
} from "./support/cases.ts"
import { type HealthzPoller, startHealthzPoller } from "./support/healthz-poller.ts"
import { type HostileGitServer, startHostileGitServer } from "./support/hostile-git-server.ts"
import { type RunningOperator, startOperator } from "./support/operator.ts"
import { alive, descendants, kustodianEntries } from "./support/processes.ts"
import { pushTree, type Tree } from "./support/repos.ts"

/** How long every hostile case has, from the moment all of them are applied, to reach its outcome. */
const settleMs = 150_000
/** The longest `/healthz` may stay silent: a liveness property (the kubelet's default is 3 × 10 s). */
const maxHealthzGapMs = 5_000
/** Bound on a condition message: a megabyte of hostile text must not come through. */
const maxMessageBytes = 16 * 1024

const scope = Effect.runSync(Scope.make())
let suiteDir = ""
let ns = ""
let ns2 = ""
let server: GitHttpServer
let canary: Canary
let canaryServer: CanaryServer
let hostileGit: HostileGitServer
let operator: RunningOperator
let operator2: RunningOperator
let poller: HealthzPoller
let settleBy = 0

// ------------------------------------------------------------------------------------------ what a user looks at

const cache = new Map<string, { readonly at: number; readonly items: Promise<ReadonlyMap<string, Obj>> }>()

/** All objects of a kind in a namespace, at most a second old (one kubectl for every case polling it). */
const objects = (namespace: string, kind: string): Promise<ReadonlyMap<string, Obj>> => {
  const key = `${namespace}/${kind}`
  const hit = cache.get(key)
  if (hit !== undefined && Date.now() - hit.at < 1_000) return hit.items
  const items = runKubectl(["-n", namespace, "get", kind, "-o", "json"]).then((r) =>
    r.code === 0
      ? new Map((JSON.parse(r.stdout) as { items: Obj[] }).items.map((o) => [o.metadata.name, o]))
      : new Map<string, Obj>(),
  )
  cache.set(key, { at: Date.now(), items })
  return items
}

const get = async (namespace: string, kind: string, name: string) =>
  (await objects(namespace, kind)).get(name)

const ready = (o: Obj | undefined) => o?.status?.conditions?.find((c) => c.type === "Ready")

const current = (o: Obj | undefined) =>
  o !== undefined && o.status?.observedGeneration === o.metadata.generation

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Polls until `done` holds or the shared deadline passes, and returns the last object seen. `done` should hold
 * for the required outcome and for a definitive wrong one (e.g. Ready=True for a leak), so neither waits.
 */
const observe = async (
  namespace: string,
  kind: string,
  name: string,
  done: (o: Obj | undefined) => boolean,
  deadline = settleBy,
): Promise<Obj | undefined> => {
  // A failing object is retried, and each attempt shows Ready=Unknown while it runs: at the deadline, report
  // the last settled outcome rather than an attempt in flight.
  // Past the deadline an attempt still in flight gets a little longer to settle: a test that runs after the
  // shared deadline must not judge the one moment it happened to look at.
  let settled: Obj | undefined
  const graceBy = Math.max(deadline, Date.now()) + 60_000
  for (;;) {
    const o = await get(namespace, kind, name)
    if (done(o)) return o
    if (ready(o) !== undefined && ready(o)?.status !== "Unknown") settled = o
    const now = Date.now()
    if (now > deadline && (settled !== undefined || now > graceBy)) return settled ?? o
    await sleep(1_000)
  }
}

const describeReady = (o: Obj | undefined) => {
  const r = ready(o)
  return r === undefined
    ? `no Ready condition (object ${o === undefined ? "missing" : "present"})`
    : `Ready=${r.status} reason=${r.reason} message=${JSON.stringify(r.message.slice(0, 600))}${r.message.length > 600 ? `…(${r.message.length} bytes)` : ""}`
}

/** What is wrong with a refusal: an empty list when Ready=False with `reason` and a message naming `names`. */
const refusalProblems = (
  o: Obj | undefined,
  reason: string | RegExp,
  names: ReadonlyArray<string | RegExp>,
): ReadonlyArray<string> => {
  const r = ready(o)
  if (r === undefined) return ["no Ready condition"]
  const problems: string[] = []
  if (r.status !== "False") problems.push(`Ready=${r.status}, expected False`)
  if (typeof reason === "string" ? r.reason !== reason : !reason.test(r.reason))
    problems.push(`reason ${r.reason}, expected ${reason}`)
  for (const n of names)
    if (typeof n === "string" ? !r.message.includes(n) : !n.test(r.message))
      problems.push(`message does not name ${typeof n === "string" ? `'${n}'` : n}`)
  if (r.message.includes(canary.token)) problems.push("message carries the canary token")
  if (r.message.includes(passwdMarker)) problems.push("message carries /etc/passwd content")
  if (r.message.length > maxMessageBytes) problems.push(`message is ${r.message.length} bytes`)
  return problems
}

/** Waits for a refusal as {@link refusalProblems} defines it, then asserts it (showing what was observed). */
const expectRefusal = async (
  namespace: string,
  kind: string,
  name: string,
  reason: string | RegExp,
  names: ReadonlyArray<string | RegExp>,
) => {
  const o = await observe(
    namespace,
    kind,
    name,
    (x) => current(x) && (refusalProblems(x, reason, names).length === 0 || ready(x)?.status === "True"),
  )
  expect(
    refusalProblems(o, reason, names),
    `${kind}/${name}: ${describeReady(o)}${logLines(namespace, name)}`,
  ).toEqual([])
  return o
}

/** The operator's last log lines about one object, for failure messages. */
const logLines = (namespace: string, name: string) => {
  const op = namespace === ns ? operator : operator2
  const lines = logTail(op.logFile, 100_000)
    .split("\n")
    .filter((l) => l.includes(`"namespace":"${namespace}"`) && l.includes(`"name":"${name}"`))
    .slice(-4)
    .map((l) => l.slice(0, 500))
  return lines.length === 0
    ? "\n(no operator log lines about it)"
    : `\n--- operator log ---\n${lines.join("\n")}`
}

const configMapNames = async (namespace: string) => [...(await objects(namespace, "configmaps")).keys()]

// ------------------------------------------------------------------------------------------ sources and objects

/** A bare repository on the git server holding `tree` (one commit on main). */
const repo = async (name: string, tree: Tree) => {
  const bare = await createBareRepo(server.reposDir, name)
  await pushTree(bare, tree)
}

const gitRepository = (namespace: string, name: string, url = server.repoUrl(name)) => ({
  apiVersion: "source.toolkit.fluxcd.io/v1",
  kind: "GitRepository",
  metadata: { name, namespace },
  spec: { interval: "1h", timeout: "60s", ref: { branch: "main" }, url },
})

const kustomization = (
  namespace: string,
  name: string,
  source: string,
  path: string,
  extra: Readonly<Record<string, unknown>> = {},
) => ({
  apiVersion: "kustomize.toolkit.fluxcd.io/v1",
  kind: "Kustomization",
  metadata: { name, namespace },
  spec: {
    interval: "1h",
    prune: true,
    // The repositories' manifests name no namespace, as most tenants' do.
    targetNamespace: namespace,
    path,
    sourceRef: { kind: "GitRepository", name: source },
    ...extra,
  },
})

const applyAll = (docs: ReadonlyArray<unknown>) =>
  applyYaml(docs.map((d) => JSON.stringify(d)).join("\n---\n"))

const decryption = { provider: "sops", secretRef: { name: "sops-age" } }

const variants: ReadonlyArray<Variant> = ["abs", "dotdot", "link"]
const linkRepo = (c: FieldCase) => `link-${c.id}`
const fieldKustomization = (c: FieldCase, v: Variant) => `${v}-${c.id}`

// ------------------------------------------------------------------------------------------ the healthy tenant

interface Round {
  readonly at: string
  readonly honoured: boolean
  readonly waitedMs: number
}

const rounds: Round[] = []
let stopRounds = false
let roundsDone: Promise<void> = Promise.resolve()

/** `flux reconcile kustomization healthy`, again and again, recording whether each request was handled. */
const reconcileRounds = async () => {
  while (!stopRounds) {
    const at = new Date().toISOString()
    await kubectl([
      "-n",
      ns,
      "annotate",
      "--overwrite",
      "kustomization",
      "healthy",
      `reconcile.fluxcd.io/requestedAt=${at}`,
    ])
    const t0 = Date.now()
    let honoured = false
    while (!stopRounds && Date.now() - t0 < 60_000) {
      const r = await runKubectl(["-n", ns, "get", "kustomization", "healthy", "-o", "json"])
      if (r.code === 0 && (JSON.parse(r.stdout) as Obj).status?.lastHandledReconcileAt === at) {
        honoured = true
        break
      }
      await sleep(500)
    }
    if (honoured || !stopRounds) rounds.push({ at, honoured, waitedMs: Date.now() - t0 })
    await sleep(2_000)
  }
}

// ------------------------------------------------------------------------------------------ setup

beforeAll(async () => {
  await installFluxCrds()
  ;[ns, ns2] = await Promise.all([
    createTestNamespace("adversarial"),
    createTestNamespace("adversarial-noremote"),
  ])
  suiteDir = mkdtempSync(join(tmpdir(), "kustodian-adversarial-"))
  // Outside every operator's TMPDIR, artifact storage and build directory.
  canary = writeCanary(join(suiteDir, "canary"))
  ;[canaryServer, hostileGit, server] = await Promise.all([
    startCanaryServer(canary.token),
    startHostileGitServer(),
    Effect.runPromise(Scope.provide(scope)(gitHttpServer())),
  ])
  const kubeconfig = testKubeconfigPath()
  ;[operator, operator2] = await Promise.all([
    startOperator({ kubeconfig, namespace: ns, dir: join(suiteDir, "operator") }),
    startOperator({
      kubeconfig,
      namespace: ns2,
      dir: join(suiteDir, "operator-2"),
      flags: ["--no-remote-bases"],
    }),
  ])
  poller = startHealthzPoller(operator.probeUrl, suiteDir)

  // The unrelated tenant first: Ready before anything hostile arrives, then asked to reconcile throughout.
  await repo("healthy", healthyTree())
  await applyAll([gitRepository(ns, "healthy"), kustomization(ns, "healthy", "healthy", "./")])
  const healthy = await observe(
    ns,
    "kustomizations",
    "healthy",
    (o) => ready(o)?.status === "True",
    Date.now() + 90_000,
  )
  if (ready(healthy)?.status !== "True")
    throw new Error(
      `the healthy Kustomization never became Ready: ${describeReady(healthy)}\n${logTail(operator.logFile)}`,
    )
  roundsDone = reconcileRounds()

  // A decryption Secret as the guide makes it, so the decrypting cases really parse what they are given.
  const age = await generateAgeKey(suiteDir)
  await kubectl([
    "-n",
    ns,
    "create",
    "secret",
    "generic",
    "sops-age",
    `--from-file=identity.agekey=${age.keyFile}`,
  ])

  // Every hostile repository.
  const shared = (v: Variant): Tree =>
    Object.assign({}, ...fieldCases.map((c) => fieldCaseTree(c, canary, v, `cases/${c.id}`)))
  const urlTree: Tree = Object.assign(
    {},
    ...urlCases.map((c) =>
      Object.fromEntries(
        Object.entries(c.files(`${canaryServer.url}/${c.id}.yaml`)).map(([p, t]) => [`${c.id}/${p}`, t]),
      ),
    ),
  )
  await Promise.all([
    repo("fields-abs", shared("abs")),
    repo("fields-dotdot", shared("dotdot")),
    ...fieldCases.map((c) => repo(linkRepo(c), fieldCaseTree(c, canary, "link", ""))),
    repo("urls", urlTree),
    repo("docs", docsTree()),
    repo("ignore", sourceIgnoreTree(canary.token)),
    repo("huge", hugeFileTree()),
    repo("diamond", diamondTree(20)),
  ])

  await applyAll([
    gitRepository(ns, "fields-abs"),
    gitRepository(ns, "fields-dotdot"),
    ...fieldCases.map((c) => gitRepository(ns, linkRepo(c))),
    ...fieldCases.flatMap((c) => [
      kustomization(ns, fieldKustomization(c, "abs"), "fields-abs", `./cases/${c.id}`),
      kustomization(ns, fieldKustomization(c, "dotdot"), "fields-dotdot", `./cases/${c.id}`),
      kustomization(ns, fieldKustomization(c, "link"), linkRepo(c), "./"),
    ]),
    ...[ns, ns2].flatMap((n) => [
      gitRepository(n, "urls"),
      ...urlCases.map((c) => kustomization(n, c.id, "urls", `./${c.id}`)),
    ]),
    gitRepository(ns, "docs"),
    kustomization(ns, "doc-bomb", "docs", "./bomb"),
    kustomization(ns, "doc-under", "docs", "./under"),
    kustomization(ns, "doc-bomb-decrypt", "docs", "./bomb", { decryption }),
    kustomization(ns, "doc-under-decrypt", "docs", "./under", { decryption }),
    kustomization(ns, "doc-over", "docs", "./over"),
    kustomization(ns, "doc-dollars", "docs", "./dollars", { postBuild: { substitute: { greeting: "hi" } } }),
    gitRepository(ns, "ignore"),
    kustomization(ns, "ignore", "ignore", "./"),
    gitRepository(ns, "huge"),
    gitRepository(ns, "git-error", `${hostileGit.url}/tenant.git`),
    gitRepository(ns, "diamond"),
    // spec.timeout bounds the build whatever else does; the refusal should come from the object cap first.
    kustomization(ns, "diamond", "diamond", "./", { timeout: "60s" }),
    gitRepository(ns2, "diamond"),
  ])
  settleBy = Date.now() + settleMs
}, 300_000)

/** Every hostile object's Ready condition, printed once so a failing run can be routed at a glance. */
const printOutcomes = async () => {
  const rows: string[] = []
  for (const n of [ns, ns2])
    for (const kind of ["gitrepositories", "kustomizations"]) {
      cache.delete(`${n}/${kind}`)
      for (const [name, o] of await objects(n, kind)) {
        const r = ready(o)
        rows.push(
          `${n === ns ? "main" : "no-remote"} ${kind.slice(0, -1)}/${name}: ${r?.status ?? "-"} ${r?.reason ?? "-"} ${JSON.stringify((r?.message ?? "").slice(0, 300))}`,
        )
      }
    }
  console.log(`--- outcomes ---\n${rows.join("\n")}\n--- healthz ---\n${JSON.stringify(poller?.summary())}`)
}

afterAll(async () => {
  if (ns !== "") await printOutcomes().catch(() => undefined)
  stopRounds = true
  await roundsDone.catch(() => undefined)
  await Promise.all([
    poller?.stop(),
    operator?.stop(),
    operator2?.stop(),
    canaryServer?.stop(),
    hostileGit?.stop(),
  ])
  await Effect.runPromise(Scope.close(scope, Exit.void))
  // KUSTODIAN_ADVERSARIAL_LOGS=<dir> keeps the operators' logs and the healthz record, to route failures.
  const keep = process.env.KUSTODIAN_ADVERSARIAL_LOGS
  if (keep !== undefined && suiteDir !== "") {
    mkdirSync(keep, { recursive: true })
    for (const [from, to] of [
      ["operator/operator-1.log", "operator.log"],
      ["operator-2/operator-1.log", "operator-2.log"],
      ["operator-2/operator-2.log", "operator-2-restarted.log"],
      ["healthz.json", "healthz.json"],
    ] as const)
      if (existsSync(join(suiteDir, from))) copyFileSync(join(suiteDir, from), join(keep, to))
  }
  if (suiteDir !== "") rmSync(suiteDir, { recursive: true, force: true })
}, 120_000)

// ------------------------------------------------------------------------------------------ confinement

describe("every field that names a file stays inside the artifact", () => {
  for (const variant of variants)
    for (const c of fieldCases)
      it(`${variant}: ${c.field} (${c.id}, in ${c.referrer})`, async () => {
        const p = writtenPath(c, canary, variant)
        const file = c.referrer.slice(c.referrer.lastIndexOf("/") + 1)
        await expectRefusal(ns, "kustomizations", fieldKustomization(c, variant), "BuildFailed", [
          c.field,
          ...(c.pathNamed === false ? [] : [p]),
          file,
        ])
        const names = await configMapNames(ns)
        expect(
          names.filter((n) => n.startsWith("leak")),
          "objects generated from the canary",
        ).toEqual([])
      }, 300_000)
})

describe("URLs to loopback are refused and never fetched", () => {
  const urlCase = (label: string, namespace: () => string, c: UrlCase) =>
    it(`${label}: ${c.field} (${c.id})`, async () => {
      const url = `${canaryServer.url}/${c.id}.yaml`
      await expectRefusal(namespace(), "kustomizations", c.id, "BuildFailed", [c.field, url])
      expect(
        canaryServer.hits.filter((h) => h.includes(c.id)),
        "requests to the canary",
      ).toEqual([])
    }, 300_000)
  for (const c of urlCases) urlCase("default flags", () => ns, c)
  for (const c of urlCases) urlCase("--no-remote-bases", () => ns2, c)
})

// ------------------------------------------------------------------------------------------ bounded work

describe("hostile documents are bounded", () => {
  it("a Secret value with sops+mac and 8 levels of 10 aliases, no decryption configured: refused, naming it", async () => {
    await expectRefusal(ns, "kustomizations", "doc-bomb", "BuildFailed", ["bomb"])
    expect(await get(ns, "secrets", "bomb")).toBeUndefined()
  }, 300_000)

  it("the same alias bomb with decryption configured fails on an alias budget", async () => {
    await expectRefusal(ns, "kustomizations", "doc-bomb-decrypt", "BuildFailed", ["bomb", /alias/i])
    expect(await get(ns, "secrets", "bomb")).toBeUndefined()
  }, 300_000)

  it("a SOPS-looking document just under 5 MiB is refused, naming the file", async () => {
    await expectRefusal(ns, "kustomizations", "doc-under", "BuildFailed", ["big.yaml"])
    expect(await get(ns, "configmaps", "big")).toBeUndefined()
  }, 300_000)

  it("the same document with decryption configured is parsed in linear time and refused, naming the file", async () => {
    await expectRefusal(ns, "kustomizations", "doc-under-decrypt", "BuildFailed", ["big.yaml"])
    expect(await get(ns, "configmaps", "big")).toBeUndefined()
  }, 300_000)

  it("a document just over 5 MiB is refused by the size limit before parsing", async () => {
    await expectRefusal(ns, "kustomizations", "doc-over", "BuildFailed", [
      "big.yaml",
      /exceed|too large|limit/i,
    ])
  }, 300_000)

  it("a megabyte of unclosed `${` under postBuild fails substitution in linear time, naming the object", async () => {
    // Flux's envsubst refuses a `${` it cannot parse; the message names the object, never the megabyte.
    const o = await expectRefusal(ns, "kustomizations", "doc-dollars", "BuildFailed", [
      "dollars",
      /substitut/i,
    ])
    expect(ready(o)?.message.includes("${".repeat(64)), "the input came through").toBe(false)
    expect(await get(ns, "configmaps", "dollars")).toBeUndefined()
  }, 300_000)

  it("an exponential .sourceignore (14 `**/`, 30-deep tree) is matched in linear time, with gitignore semantics", async () => {
    const src = await observe(
      ns,
      "gitrepositories",
      "ignore",
      (x) => current(x) && ready(x)?.status !== "Unknown",
    )
    expect(ready(src)?.status, `GitRepository: ${describeReady(src)}`).toBe("True")
    const ks = await observe(ns, "kustomizations", "ignore", (x) => current(x) && ready(x)?.status === "True")
    expect(ready(ks)?.status, `Kustomization: ${describeReady(ks)}`).toBe("True")
    expect(await get(ns, "configmaps", "deep-kept")).toBeDefined()
    expect(await get(ns, "configmaps", "deep-ignored"), "the ignored file was applied").toBeUndefined()
  }, 300_000)

  it("a git server answering with a megabyte of error text: Ready=False with a bounded message", async () => {
    const o = await observe(
      ns,
      "gitrepositories",
      "git-error",
      (x) => current(x) && ready(x)?.status === "False" && ready(x)?.reason !== "Progressing",
    )
    expect(refusalProblems(o, /./, []), describeReady(o)).toEqual([])
    expect(ready(o)?.message.includes("a.".repeat(2048)), "the error text came through unbounded").toBe(false)
    expect(hostileGit.requests.length).toBeGreaterThan(0)
  }, 300_000)

  it("a 1 GiB file of zeros is refused by the checkout size limit", async () => {
    await expectRefusal(ns, "gitrepositories", "huge", /./, [/max-checkout-size|exceed|too large|limit/i])
  }, 300_000)

  it("a 20-level kustomize diamond is refused by the object limit, nothing applied", async () => {
    await expectRefusal(ns, "kustomizations", "diamond", "BuildFailed", [
      /object|diamond|limit|timeout|deadline/i,
    ])
    expect((await configMapNames(ns)).filter((n) => n.endsWith("-diamond"))).toEqual([])
  }, 300_000)
})

// ------------------------------------------------------------------------------------------ crash safety

describe("SIGKILL during a build", () => {
  it("leaves nothing behind once the operator restarts: no process, no kustodian-* tree of the dead one", async () => {
    const dir = operator2.tmpDir
    const src = await observe(
      ns2,
      "gitrepositories",
      "diamond",
      (x) => ready(x)?.status === "True",
      Date.now() + 90_000,
    )
    expect(ready(src)?.status, `GitRepository diamond in ${ns2}: ${describeReady(src)}`).toBe("True")
    await applyAll([kustomization(ns2, "diamond-kill", "diamond", "./")])

    // Wait until a build is under way: kustomize running below the operator, or a build tree on disk.
    const deadline = Date.now() + 90_000
    let seen:
      | { procs: ReadonlyArray<{ pid: number; comm: string }>; entries: ReadonlyArray<string> }
      | undefined
    while (Date.now() < deadline) {
      const procs = descendants(operator2.daemon.pid)
      const entries = kustodianEntries(dir)
      if (
        procs.some((p) => /kustomize|sandbox/.test(p.comm)) ||
        entries.some((e) => /kustodian-build-/.test(e))
      ) {
        seen = { procs, entries }
        break
      }
      await sleep(50)
    }
    expect(seen, "no build was seen in progress").toBeDefined()
    const deadPid = operator2.daemon.pid
    operator2.kill()
    await operator2.daemon.exited
    for (let i = 0; i < 100 && seen!.procs.some((p) => alive(p.pid)); i++) await sleep(100)
    expect(
      seen!.procs.filter((p) => alive(p.pid)),
      "processes of the killed operator still running",
    ).toEqual([])
    const leftAfterKill = kustodianEntries(dir)

    // Nothing may rebuild after the restart: what is left must be the dead process's leftovers only.
    await kubectl([
      "-n",
      ns2,
      "patch",
      "kustomization",
      "diamond-kill",
      "--type=merge",
      "-p",
      '{"spec":{"suspend":true}}',
    ])
    operator2 = await operator2.restart()
    const ownRoot = new RegExp(`^kustodian-tmp-${operator2.daemon.pid}-[0-9a-f]+$`)
    const stale = () =>
      kustodianEntries(dir).filter((e) => {
        const top = e.split("/")[0] ?? e
        return !ownRoot.test(top)
      })
    let left = stale()
    for (let i = 0; i < 60 && left.length > 0; i++) {
      await sleep(500)
      left = stale()
    }
    expect(
      left,
      `left behind by pid ${deadPid} (seen during the build: ${JSON.stringify(seen!.entries)}; after the kill: ${JSON.stringify(leftAfterKill)})`,
    ).toEqual([])
  }, 300_000)
})

// ------------------------------------------------------------------------------------------ throughout the run

describe("throughout the run", () => {
  it("the canary server was never asked for anything", () => {
    expect(canaryServer.hits).toEqual([])
  })

  it("neither the canary token nor /etc/passwd is anywhere in the cluster", async () => {
    const found: string[] = []
    const scan = (what: string, text: string) => {
      if (text.includes(canary.token)) found.push(`${what}: canary token`)
      if (text.includes(passwdMarker)) found.push(`${what}: /etc/passwd content`)
    }
    const all = JSON.parse(await kubectl(["get", "configmaps,secrets", "-A", "-o", "json"])) as {
      items: Array<Obj & { kind: string; metadata: { namespace: string } }>
    }
    for (const item of all.items) {
      const what = `${item.kind} ${item.metadata.namespace}/${item.metadata.name}`
      scan(what, JSON.stringify(item))
      if (item.kind === "Secret")
        for (const [key, value] of Object.entries(item.data ?? {}))
          scan(`${what} data.${key}`, Buffer.from(value, "base64").toString("latin1"))
    }
    for (const n of [ns, ns2]) {
      const statuses = await kubectl(["-n", n, "get", "kustomizations,gitrepositories,events", "-o", "json"])
      scan(`statuses and events of ${n}`, statuses)
    }
    expect(found).toEqual([])
  }, 120_000)

  it("the canary token is not in the operators' logs", () => {
    const logs = [operator.logFile, operator2.logFile, join(suiteDir, "operator-2", "operator-1.log")]
    expect(logs.filter((f) => existsSync(f) && readFileSync(f, "utf8").includes(canary.token))).toEqual([])
  })

  it(`/healthz answered at least every ${maxHealthzGapMs / 1000} s`, async () => {
    await sleep(1_500)
    const s = poller.summary()
    expect(s, "the poller wrote no summary").toBeDefined()
    expect(s!.answered).toBeGreaterThan(0)
    expect(s!.longestGapMs, `healthz: ${JSON.stringify(s)}`).toBeLessThan(maxHealthzGapMs)
  })

  it("the unrelated Kustomization honoured every reconcile request", async () => {
    stopRounds = true
    await roundsDone
    expect(rounds.length, "reconcile requests made").toBeGreaterThanOrEqual(3)
    expect(
      rounds.filter((r) => !r.honoured),
      JSON.stringify(rounds),
    ).toEqual([])
    expect(ready(await get(ns, "kustomizations", "healthy"))?.status).toBe("True")
  }, 120_000)
})
