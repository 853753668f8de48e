/**
 * Fuzz target `build/resolver`: random kustomization trees with hostile paths through the path resolver
 * (`walkKustomizations`) and its read set (`readSet`). Each input writes a small tree under a fresh root next
 * to an `outside` directory holding a canary: a root kustomization and sometimes sub-directories, resource
 * and generator directories, plugin config files (multi-document, `List`-wrapped, inline), symbolic links
 * (out of the root, into it, dangling, looping), every path field of kustomize with keys in Go's folded
 * spellings (`RESOURCES`, `Files`, `fileſ`), and paths drawn from a pool of hostile forms (absolute, `../`,
 * through links, URLs of every scheme and host kind, control characters, long names) and benign ones.
 *
 * Asserted for every input: the walk ends in success or a `BuildFailed` (never a defect or another
 * exception); a refusal names a root-relative file and never contains the canary; on success every path of
 * the read set is inside the root lexically and after resolving links, none is the canary, and with
 * `noRemoteBases` no reference is remote. DNS is never needed (hosts are IP literals or `localhost`).
 *
 * @module
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Cause, Effect, Exit } from "effect"
import { readSet } from "../../operator/src/stages/build/confinement.ts"
import { BuildFailed } from "../../operator/src/stages/build/errors.ts"
import { isWithin, walkKustomizations } from "../../operator/src/stages/build/kustomization-graph.ts"
import type { FuzzTarget } from "./target.ts"

const canary = "canary-resolver-fuzz-91d2"

/** One parent per process (tmpfs when there is one): `outside/` with the canary, then a root per input. */
let parent: string | undefined
const setup = () => {
  if (parent !== undefined) return parent
  const base = fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir()
  parent = fs.mkdtempSync(path.join(base, "kustodian-fuzz-resolver-"))
  const outside = path.join(parent, "outside")
  fs.mkdirSync(outside)
  fs.writeFileSync(path.join(outside, "secret.txt"), canary)
  fs.writeFileSync(path.join(outside, "kustomization.yaml"), "resources: [secret.yaml]\n")
  fs.writeFileSync(
    path.join(outside, "secret.yaml"),
    `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${canary}}\n`,
  )
  const p = parent
  process.on("exit", () => fs.rmSync(p, { recursive: true, force: true }))
  return p
}

type Rng = () => number
const pick = <T>(rng: Rng, xs: ReadonlyArray<T>): T => xs[Math.floor(rng() * xs.length)]!
const some = <T>(rng: Rng, xs: ReadonlyArray<T>, max: number): T[] =>
  Array.from({ length: Math.floor(rng() * (max + 1)) }, () => pick(rng, xs))

const paths = (outside: string): ReadonlyArray<string> => [
  // hostile
  path.join(outside, "secret.txt"),
  outside,
  "/etc/passwd",
  "/var/run/secrets/kubernetes.io/serviceaccount/token",
  "/",
  "..",
  "../outside/secret.txt",
  "../outside",
  "../../../../../../etc/passwd",
  "a/../../outside/secret.txt",
  "./../outside/secret.txt",
  "gens/../../outside",
  "escape",
  "escapedir/secret.txt",
  "escapedir",
  "a/escape",
  "dangling",
  "loop",
  "loop/x",
  "cm.yaml\n../../outside/secret.txt",
  "%2e%2e/outside/secret.txt",
  "..\\outside\\secret.txt",
  "http://169.254.169.254/latest/meta-data/",
  "HTTP://127.0.0.1:8080/x",
  "https://127.0.0.1/x.yaml",
  "https://[::1]/x",
  "https://[::ffff:169.254.169.254]/x",
  "https://localhost/org/repo",
  "https://2130706433/x",
  "https://0x7f.1/x",
  "https://u:p@93.184.215.14/x",
  "git@127.0.0.1:org/repo",
  "git@93.184.215.14/../../etc",
  "ssh://git@[fe80::1]/org/repo",
  "file:///etc/passwd",
  "git::file:///srv/repo//x",
  "https://93.184.215.14/org/repo?ref=--upload-pack=touch",
  "https:/169.254.169.254/x",
  "x".repeat(300),
  "\u0000",
  // benign
  "cm.yaml",
  "./cm.yaml",
  "a/../cm.yaml",
  "a",
  "b",
  "a/cm.yaml",
  "gens",
  "gen.yaml",
  "inlink",
  "missing.yaml",
  "data/v.txt",
  "k=data/v.txt",
  "",
  "https://93.184.215.14/org/repo//deploy?ref=v1",
  "git@93.184.215.14:org/repo.git",
]

const keyCase = (rng: Rng, key: string) =>
  rng() < 0.8
    ? key
    : pick(rng, [
        key.toUpperCase(),
        key[0]!.toUpperCase() + key.slice(1),
        key.replace("s", "ſ"),
        key.replace("k", "\u212a"),
      ])

const q = (s: string) => JSON.stringify(s)
const list = (xs: ReadonlyArray<string>) => `[${xs.map(q).join(", ")}]`

const pluginKinds = [
  "ConfigMapGenerator",
  "SecretGenerator",
  "PatchTransformer",
  "PatchJson6902Transformer",
  "PatchStrategicMergeTransformer",
  "ReplacementTransformer",
  "ValueAddTransformer",
  "LabelTransformer",
  "HelmChartInflationGenerator",
  "SortOrderTransformer",
  "Exfil",
]

/** A plugin config document naming paths from `pool`. */
const pluginDoc = (rng: Rng, pool: ReadonlyArray<string>) => {
  const kind = pick(rng, pluginKinds)
  const apiVersion = pick(rng, ["builtin", "/builtin", "builtin", "example.com/v1", "builtin/v1"])
  const p = () => pick(rng, pool)
  const fields: string[] = []
  switch (kind) {
    case "ConfigMapGenerator":
    case "SecretGenerator":
      fields.push(
        `${keyCase(rng, "files")}: ${list(some(rng, pool, 3))}`,
        `${keyCase(rng, "envs")}: ${list(some(rng, pool, 2))}`,
      )
      if (rng() < 0.3) fields.push(`env: ${q(p())}`)
      break
    case "PatchTransformer":
    case "PatchJson6902Transformer":
    case "ValueAddTransformer":
      fields.push(`${keyCase(rng, kind === "ValueAddTransformer" ? "targetFilePath" : "path")}: ${q(p())}`)
      break
    case "PatchStrategicMergeTransformer":
      fields.push(`${keyCase(rng, "paths")}: ${list(some(rng, pool, 3))}`)
      break
    case "ReplacementTransformer":
      fields.push(
        `replacements:\n${some(rng, pool, 3)
          .map((x) => `- ${keyCase(rng, "path")}: ${q(x)}`)
          .join("\n")}`,
      )
      break
    default:
      break
  }
  const annotations =
    rng() < 0.05 ? "\n  annotations: {config.kubernetes.io/function: 'exec: {path: /bin/sh}'}" : ""
  const doc = `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n  name: p${Math.floor(rng() * 100)}${annotations}\n${fields.join("\n")}\n`
  if (rng() < 0.1)
    return `apiVersion: v1\nkind: List\nitems:\n${doc.replace(/^/gm, "  ").replace(/^ {2}/, "- ")}`
  return doc
}

/** A kustomization naming paths from `pool` in random fields. */
const kustomization = (rng: Rng, pool: ReadonlyArray<string>, inlinePlugins: boolean) => {
  const p = () => pick(rng, pool)
  const fields: Array<() => string> = [
    () => `${keyCase(rng, "resources")}: ${list(some(rng, pool, 3))}`,
    () => `bases: ${list(some(rng, pool, 1))}`,
    () => `${keyCase(rng, "components")}: ${list(some(rng, pool, 2))}`,
    () => `${keyCase(rng, "patches")}:\n- ${keyCase(rng, "path")}: ${q(p())}`,
    () => `patchesStrategicMerge: ${list(some(rng, pool, 2))}`,
    () => `patchesJson6902:\n- target: {kind: ConfigMap, name: a}\n  path: ${q(p())}`,
    () => `replacements:\n- path: ${q(p())}`,
    () => `configurations: ${list(some(rng, pool, 1))}`,
    () => `crds: ${list(some(rng, pool, 1))}`,
    () => `openapi:\n  path: ${q(p())}`,
    () =>
      `${keyCase(rng, "configMapGenerator")}:\n- name: c\n  ${keyCase(rng, "files")}: ${list(some(rng, pool, 2).map((x) => (rng() < 0.5 ? `k=${x}` : x)))}\n  envs: ${list(some(rng, pool, 1))}`,
    () => `secretGenerator:\n- name: s\n  env: ${q(p())}`,
    () => `${pick(rng, ["generators", "transformers", "validators"])}: ${list(some(rng, pool, 2))}`,
    () => (rng() < 0.2 ? "helmCharts:\n- name: x" : "commonLabels: {a: b}"),
    () => `namespace: ns\nnamePrefix: p-`,
  ]
  if (inlinePlugins)
    fields.push(
      () =>
        `${pick(rng, ["generators", "transformers"])}:\n- |\n${pluginDoc(rng, pool).replace(/^/gm, "  ")}`,
    )
  // Distinct fields: a key twice is invalid YAML, refused before anything else is looked at.
  const chosen = new Set(some(rng, fields, 5))
  return `${[...chosen].map((f) => f()).join("\n")}\n`
}

const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: '1'}\n"

/** Writes one random tree under `root`. */
const writeTree = (rng: Rng, root: string, outside: string) => {
  const pool = paths(outside)
  const write = (rel: string, text: string) => {
    const p = path.join(root, rel)
    fs.mkdirSync(path.dirname(p), { recursive: true })
    fs.writeFileSync(p, text)
  }
  write("kustomization.yaml", kustomization(rng, pool, true))
  write("cm.yaml", cm)
  write("data/v.txt", "v")
  if (rng() < 0.6) write("a/kustomization.yaml", kustomization(rng, pool, rng() < 0.3))
  if (rng() < 0.3) write("a/cm.yaml", cm)
  if (rng() < 0.4) write("b/kustomization.yaml", kustomization(rng, pool, false))
  if (rng() < 0.5)
    write(
      "gen.yaml",
      Array.from({ length: 1 + Math.floor(rng() * 3) }, () => pluginDoc(rng, pool)).join("---\n"),
    )
  if (rng() < 0.4) {
    const extra = pick(rng, [
      "",
      "",
      "namespace: x\n",
      "patches:\n- patch: '{}'\n",
      "labels:\n- pairs: {a: b}\n  fields: [{path: path}]\n",
    ])
    write(
      "gens/kustomization.yaml",
      `resources: ${list(some(rng, ["g.yaml", "more", ...pool.slice(0, 8)], 2))}\n${extra}`,
    )
    write("gens/g.yaml", pluginDoc(rng, pool))
    if (rng() < 0.5) {
      write("gens/more/kustomization.yaml", "resources: [h.yaml]\n")
      write("gens/more/h.yaml", pluginDoc(rng, pool))
    }
  }
  const link = (rel: string, target: string) => {
    const p = path.join(root, rel)
    fs.mkdirSync(path.dirname(p), { recursive: true })
    fs.symlinkSync(target, p)
  }
  if (rng() < 0.4)
    link(
      "escape",
      pick(rng, [path.join(outside, "secret.txt"), outside, "../outside/secret.txt", "/etc/passwd"]),
    )
  if (rng() < 0.3) link("escapedir", pick(rng, [outside, "..", "/"]))
  if (rng() < 0.3) link("inlink", pick(rng, ["cm.yaml", "a", "data/v.txt"]))
  if (rng() < 0.2) link("dangling", "/nonexistent/x")
  if (rng() < 0.1) link("loop", "loop")
  if (rng() < 0.1 && fs.existsSync(path.join(root, "a"))) link("a/escape", "../../outside/secret.txt")
  if (rng() < 0.05) link("a/kustomization.yml", path.join(outside, "kustomization.yaml"))
}

const fail = (index: number, what: string): never => {
  throw new Error(`input ${index}: ${what}`)
}

export const target: FuzzTarget = {
  name: "build/resolver",
  asserted:
    "the resolver ends in success or a BuildFailed naming a root-relative file (never a defect), no message " +
    "holds the canary, every read-set path is inside the root lexically and after resolving links, and " +
    "with noRemoteBases nothing is remote",
  run: async (rng, index) => {
    const base = setup()
    const outside = path.join(base, "outside")
    const root = path.join(base, `root-${index}`)
    fs.mkdirSync(root)
    try {
      writeTree(rng, root, outside)
      const noRemoteBases = rng() < 0.5
      const exit = await Effect.runPromiseExit(
        Effect.gen(function* () {
          const nodes = yield* walkKustomizations(root, root, { noRemoteBases })
          const set = yield* readSet(root, nodes)
          return { nodes, set }
        }),
      )
      if (Exit.isFailure(exit)) {
        const error = Cause.squash(exit.cause)
        if (!(error instanceof BuildFailed)) fail(index, `not a BuildFailed: ${String(error)}`)
        const e = error as BuildFailed
        if (e.file === undefined || e.file === "" || path.isAbsolute(e.file) || e.file.startsWith(".."))
          fail(index, `refusal names no root-relative file: ${e.message}`)
        if (e.message.includes(canary)) fail(index, "a message holds the canary")
        return
      }
      const realRoot = fs.realpathSync(root)
      for (const p of [...exit.value.set.files, ...exit.value.set.dirs]) {
        if (!isWithin(root, p)) fail(index, `read set path outside the root: ${p}`)
        if (!isWithin(realRoot, fs.realpathSync(p)))
          fail(index, `read set path resolves outside the root: ${p}`)
      }
      for (const f of exit.value.set.files)
        if (fs.readFileSync(f, "utf8").includes(canary)) fail(index, `read set holds the canary: ${f}`)
      if (noRemoteBases && exit.value.nodes.some((n) => n.refs.some((r) => r.kind === "remote")))
        fail(index, "a remote reference passed with noRemoteBases")
    } finally {
      fs.rmSync(root, { recursive: true, force: true })
    }
  },
}
