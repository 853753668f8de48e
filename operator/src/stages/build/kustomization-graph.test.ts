import { execFile, execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { Cause, Effect, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { hasTool, toolPath } from "../../../../e2e/support/tools.ts"
import { readSet } from "./confinement.ts"
import { BuildFailed } from "./errors.ts"
import { type ResolverOptions, walkKustomizations } from "./kustomization-graph.ts"

/**
 * The resolver against hostile kustomization trees. Each tree sits in `<parent>/root`, with a canary file and
 * directory in `<parent>/outside`: every field × {absolute path, `../` path, link out, link-out ancestor}
 * must be refused naming the file, the field and the path, and the canary must never appear in a message.
 * Where it matters, the real kustomize shows the same tree would have leaked (the test could fail).
 */

const canary = "canary-secret-4b1e"
const cmYaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: '1'\n"

// Made when the module loads: the test table below names these paths.
const parent = fs.mkdtempSync(path.join(os.tmpdir(), "resolver-test-"))
const outsideDir = path.join(parent, "outside")
const outsideFile = path.join(outsideDir, "secret.txt")

beforeAll(() => {
  fs.mkdirSync(outsideDir)
  fs.writeFileSync(outsideFile, `${canary}\n`)
  fs.writeFileSync(path.join(outsideDir, "kustomization.yaml"), "resources: [cm.yaml]\n")
  fs.writeFileSync(path.join(outsideDir, "cm.yaml"), cmYaml.replace("x: '1'", `x: ${canary}`))
})
afterAll(() => fs.rmSync(parent, { recursive: true, force: true }))

let counter = 0
/** A fresh root with `files` (and links: name → absolute target). */
const tree = (files: Record<string, string>, links: Record<string, string> = {}) => {
  const root = path.join(parent, `root-${counter++}`)
  fs.mkdirSync(root)
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true })
    fs.writeFileSync(path.join(root, rel), content)
  }
  for (const [rel, target] of Object.entries(links)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true })
    fs.symlinkSync(target, path.join(root, rel))
  }
  return root
}

const walk = (root: string, options: ResolverOptions = {}, start = root) =>
  Effect.runPromiseExit(walkKustomizations(root, start, options))

const refusal = (exit: Exit.Exit<unknown, BuildFailed>): BuildFailed => {
  if (Exit.isSuccess(exit)) throw new Error("expected a refusal, the walk succeeded")
  const e = Cause.squash(exit.cause)
  if (!(e instanceof BuildFailed)) throw new Error(`expected BuildFailed, got ${String(e)}`)
  return e
}

const kustomize = (dir: string) =>
  execFileSync(toolPath("kustomize"), ["build", "--load-restrictor", "LoadRestrictionsNone", dir], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  })

/** kustomize without blocking the event loop (the canary server below runs in this process). */
const kustomizeAsync = (dir: string) =>
  new Promise<string>((ok, fail) =>
    execFile(
      toolPath("kustomize"),
      ["build", "--load-restrictor", "LoadRestrictionsNone", dir],
      { encoding: "utf8", timeout: 30_000 },
      (err, out) => (err ? fail(err) : ok(out)),
    ),
  )

/** The four hostile forms of a path, for a target that is a file or a directory. */
const hostile = (
  target: "file" | "dir",
): ReadonlyArray<{ form: string; p: string; links: Record<string, string> }> => {
  const abs = target === "file" ? outsideFile : outsideDir
  const rel = target === "file" ? "../outside/secret.txt" : "../outside"
  return [
    { form: "absolute", p: abs, links: {} },
    { form: "../", p: rel, links: {} },
    { form: "symlink", p: "escape", links: { escape: abs } },
    {
      form: "symlinked ancestor",
      p: target === "file" ? "escapedir/secret.txt" : "escapedir",
      links: { escapedir: outsideDir },
    },
  ]
}

interface FieldCase {
  readonly name: string
  readonly target: "file" | "dir"
  /** The tree for path `p` (at least `kustomization.yaml`). */
  readonly files: (p: string) => Record<string, string>
  /** What the message must name as the field. */
  readonly field: string
}

const plugin = (body: string) => `apiVersion: builtin\n${body}`
const k = (text: string) => ({ "kustomization.yaml": text })

const fieldCases: ReadonlyArray<FieldCase> = [
  { name: "resources", target: "file", files: (p) => k(`resources: ['${p}']\n`), field: "resources[0]" },
  { name: "resources (dir)", target: "dir", files: (p) => k(`resources: ['${p}']\n`), field: "resources[0]" },
  { name: "bases", target: "dir", files: (p) => k(`bases: ['${p}']\n`), field: "bases[0]" },
  { name: "components", target: "dir", files: (p) => k(`components: ['${p}']\n`), field: "components[0]" },
  {
    name: "patches",
    target: "file",
    files: (p) => k(`patches:\n- path: '${p}'\n`),
    field: "patches[0].path",
  },
  {
    name: "patchesStrategicMerge",
    target: "file",
    files: (p) => k(`patchesStrategicMerge: ['${p}']\n`),
    field: "patchesStrategicMerge[0]",
  },
  {
    name: "patchesJson6902",
    target: "file",
    files: (p) => k(`patchesJson6902:\n- target: {kind: ConfigMap, name: a}\n  path: '${p}'\n`),
    field: "patchesJson6902[0].path",
  },
  {
    name: "replacements",
    target: "file",
    files: (p) => k(`replacements:\n- path: '${p}'\n`),
    field: "replacements[0].path",
  },
  {
    name: "configurations",
    target: "file",
    files: (p) => k(`configurations: ['${p}']\n`),
    field: "configurations[0]",
  },
  { name: "crds", target: "file", files: (p) => k(`crds: ['${p}']\n`), field: "crds[0]" },
  { name: "openapi", target: "file", files: (p) => k(`openapi:\n  path: '${p}'\n`), field: "openapi.path" },
  {
    name: "configMapGenerator files",
    target: "file",
    files: (p) => k(`configMapGenerator:\n- name: x\n  files: ['t=${p}']\n`),
    field: "configMapGenerator[0] 'x' files[0]",
  },
  {
    name: "configMapGenerator envs",
    target: "file",
    files: (p) => k(`configMapGenerator:\n- name: x\n  envs: ['${p}']\n`),
    field: "configMapGenerator[0] 'x' envs[0]",
  },
  {
    name: "secretGenerator env",
    target: "file",
    files: (p) => k(`secretGenerator:\n- name: s\n  env: '${p}'\n`),
    field: "secretGenerator[0] 's' env",
  },
  {
    name: "generators (path)",
    target: "file",
    files: (p) => k(`generators: ['${p}']\n`),
    field: "generators[0]",
  },
  {
    name: "generators (dir)",
    target: "dir",
    files: (p) => k(`generators: ['${p}']\n`),
    field: "generators[0]",
  },
  {
    name: "transformers (path)",
    target: "file",
    files: (p) => k(`transformers: ['${p}']\n`),
    field: "transformers[0]",
  },
  {
    name: "validators (path)",
    target: "file",
    files: (p) => k(`validators: ['${p}']\n`),
    field: "validators[0]",
  },
  {
    name: "inline ConfigMapGenerator under generators",
    target: "file",
    files: (p) =>
      k(
        `generators:\n- |\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n  metadata: {name: g}\n  files: ['t=${p}']\n`,
      ),
    field: "generators[0] (inline) → ConfigMapGenerator 'g' files[0]",
  },
  {
    name: "ConfigMapGenerator config file",
    target: "file",
    files: (p) => ({
      ...k("generators: [gen.yaml]\n"),
      "gen.yaml": plugin(`kind: ConfigMapGenerator\nmetadata: {name: g}\nfiles: ['t=${p}']\n`),
    }),
    field: "generators[0] 'gen.yaml' → ConfigMapGenerator 'g' files[0]",
  },
  {
    name: "SecretGenerator in a generators directory",
    target: "file",
    files: (p) => ({
      ...k("generators: [gens]\n"),
      "gens/kustomization.yaml": "resources: [s.yaml]\n",
      "gens/s.yaml": plugin(`kind: SecretGenerator\nmetadata: {name: s}\nfiles: ['${p}']\n`),
    }),
    field:
      "generators[0] 'gens' → gens/kustomization.yaml resources[0] 'gens/s.yaml' → SecretGenerator 's' files[0]",
  },
  {
    name: "SecretGenerator envs, second document of a file",
    target: "file",
    files: (p) => ({
      ...k("generators: [gen.yaml]\n"),
      "gen.yaml": `${plugin("kind: LabelTransformer\nmetadata: {name: l}\n")}---\n${plugin(`kind: SecretGenerator\nmetadata: {name: s}\nenvs: ['${p}']\n`)}`,
    }),
    field: "generators[0] 'gen.yaml' [document 1] → SecretGenerator 's' envs[0]",
  },
  {
    name: "PatchTransformer path",
    target: "file",
    files: (p) => ({
      ...k("resources: [cm.yaml]\ntransformers: [pt.yaml]\n"),
      "cm.yaml": cmYaml,
      "pt.yaml": plugin(`kind: PatchTransformer\nmetadata: {name: p}\npath: '${p}'\n`),
    }),
    field: "transformers[0] 'pt.yaml' → PatchTransformer 'p' path",
  },
  {
    name: "PatchJson6902Transformer path",
    target: "file",
    files: (p) => ({
      ...k("transformers: [pt.yaml]\n"),
      "pt.yaml": plugin(
        `kind: PatchJson6902Transformer\nmetadata: {name: p}\ntarget: {kind: ConfigMap, name: a}\npath: '${p}'\n`,
      ),
    }),
    field: "transformers[0] 'pt.yaml' → PatchJson6902Transformer 'p' path",
  },
  {
    name: "PatchStrategicMergeTransformer paths",
    target: "file",
    files: (p) => ({
      ...k("transformers: [pt.yaml]\n"),
      "pt.yaml": plugin(`kind: PatchStrategicMergeTransformer\nmetadata: {name: p}\npaths: ['${p}']\n`),
    }),
    field: "transformers[0] 'pt.yaml' → PatchStrategicMergeTransformer 'p' paths[0]",
  },
  {
    name: "ReplacementTransformer replacements[].path",
    target: "file",
    files: (p) => ({
      ...k("transformers: [rt.yaml]\n"),
      "rt.yaml": plugin(`kind: ReplacementTransformer\nmetadata: {name: r}\nreplacements:\n- path: '${p}'\n`),
    }),
    field: "transformers[0] 'rt.yaml' → ReplacementTransformer 'r' replacements[0].path",
  },
  {
    name: "ValueAddTransformer targetFilePath",
    target: "file",
    files: (p) => ({
      ...k("transformers: [va.yaml]\n"),
      "va.yaml": plugin(`kind: ValueAddTransformer\nmetadata: {name: v}\ntargetFilePath: '${p}'\n`),
    }),
    field: "transformers[0] 'va.yaml' → ValueAddTransformer 'v' targetFilePath",
  },
  {
    name: "validators: PatchTransformer inline",
    target: "file",
    files: (p) =>
      k(
        `validators:\n- |\n  apiVersion: builtin\n  kind: PatchTransformer\n  metadata: {name: p}\n  path: '${p}'\n`,
      ),
    field: "validators[0] (inline) → PatchTransformer 'p' path",
  },
  {
    name: "a List of configs with case-folded keys (Go's JSON decoder)",
    target: "file",
    files: (p) =>
      k(
        `RESOURCES: []\ngenerators:\n- |\n  apiVersion: v1\n  kind: ConfigMapList\n  items:\n  - apiVersion: /builtin\n    kind: ConfigMapGenerator\n    metadata: {name: g}\n    fileſ: ['t=${p}']\n`,
      ),
    field: "generators[0] (inline) → ConfigMapGenerator 'g' fileſ[0]",
  },
  {
    name: "a sub-kustomization's field (file named root-relative)",
    target: "file",
    files: (p) => ({
      ...k("resources: [app]\n"),
      "app/kustomization.yaml": `Patches:\n- path: '${p.startsWith("/") ? p : `../${p}`}'\n`,
    }),
    field: "Patches[0].path",
  },
]

describe("the resolver refuses every field pointing outside the root", () => {
  for (const c of fieldCases)
    for (const h of hostile(c.target))
      it(`${c.name}: ${h.form}`, async () => {
        const root = tree(c.files(h.p), h.links)
        const e = refusal(await walk(root))
        const sub = c.name.startsWith("a sub-kustomization")
        const file = sub ? "app/kustomization.yaml" : "kustomization.yaml"
        const shownPath = sub && !h.p.startsWith("/") ? `../${h.p}` : h.p
        expect(e.terminal).toBe(true)
        expect(e.file).toBe(file)
        expect(e.message).toContain(`in '${file}'`)
        expect(e.message).toContain(c.field)
        expect(e.message).toContain(`'${shownPath}'`)
        expect(e.message).toMatch(/outside the artifact root/)
        expect(e.message).not.toContain(canary)
      })
})

describe.skipIf(!hasTool("kustomize"))("the real kustomize would have read outside the root", () => {
  // Each of these builds with kustomize alone and puts the canary into the output: the refusal is needed.
  const leaks: ReadonlyArray<[string, string]> = [
    ["ConfigMapGenerator config file", "absolute"],
    ["SecretGenerator in a generators directory", "../"],
    ["a List of configs with case-folded keys (Go's JSON decoder)", "symlink"],
    ["configMapGenerator files", "symlinked ancestor"],
  ]
  for (const [name, form] of leaks)
    it(`${name}: ${form}`, async () => {
      const c = fieldCases.find((f) => f.name === name)!
      const h = hostile(c.target).find((x) => x.form === form)!
      const root = tree(c.files(h.p), h.links)
      const out = kustomize(root)
      expect(out.includes(canary) || out.includes(Buffer.from(`${canary}\n`).toString("base64"))).toBe(true)
      expect(refusal(await walk(root)).message).not.toContain(canary)
    })

  it("PatchTransformer path: absolute", async () => {
    const patch = path.join(outsideDir, "patch.yaml")
    fs.writeFileSync(
      patch,
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  leak: ${canary}\n`,
    )
    const root = fieldCases.find((f) => f.name === "PatchTransformer path")!.files(patch)
    const dir = tree(root)
    expect(kustomize(dir)).toContain(canary)
    expect(refusal(await walk(dir)).message).toContain(
      "transformers[0] 'pt.yaml' → PatchTransformer 'p' path",
    )
  })
})

describe("plugin configs kustomize would run but we do not", () => {
  const refusedWith = async (files: Record<string, string>, reason: RegExp, field?: string) => {
    const e = refusal(await walk(tree(files)))
    expect(e.terminal).toBe(true)
    expect(e.file).toBe("kustomization.yaml")
    expect(e.message).toMatch(reason)
    if (field !== undefined) expect(e.message).toContain(field)
  }

  it("a non-builtin plugin (exec/Go/KRM) in a file", () =>
    refusedWith(
      {
        ...k("transformers: [t.yaml]\n"),
        "t.yaml": "apiVersion: example.com/v1\nkind: Exfil\nmetadata: {name: e}\n",
      },
      /'example.com\/v1' is not a builtin plugin/,
      "transformers[0] 't.yaml' → Exfil 'e'",
    ))

  it("a KRM function annotation, even on a builtin apiVersion", () =>
    refusedWith(
      k(
        "generators:\n- |\n  apiVersion: builtin\n  kind: LabelTransformer\n  metadata:\n    name: f\n    annotations:\n      config.kubernetes.io/function: |\n        container: {image: evil}\n",
      ),
      /KRM function plugins are off/,
    ))

  it("Helm: helmCharts in a kustomization and a HelmChartInflationGenerator config", async () => {
    await refusedWith(k("helmCharts:\n- name: x\n  repo: https://example.com\n"), /Helm is off/, "helmCharts")
    await refusedWith(
      k(
        "generators:\n- |\n  apiVersion: builtin\n  kind: HelmChartInflationGenerator\n  metadata: {name: h}\n",
      ),
      /Helm is off/,
    )
  })

  it("an unknown builtin kind, a non-mapping document, a SOPS-encrypted config", async () => {
    await refusedWith(
      k("generators:\n- |\n  apiVersion: builtin\n  kind: SortOrderTransformer\n  metadata: {name: s}\n"),
      /not a builtin plugin kind/,
    )
    await refusedWith(
      {
        ...k("generators: [g.yaml]\n"),
        "g.yaml": `${plugin("kind: LabelTransformer\nmetadata: {name: l}\n")}---\n- a\n`,
      },
      /must be a mapping/,
    )
    await refusedWith(
      {
        ...k("generators: [g.yaml]\n"),
        "g.yaml": plugin(
          'kind: ConfigMapGenerator\nmetadata: {name: g}\nfiles:\n- "ENC[AES256_GCM,data:x]"\nsops:\n  mac: x\n',
        ),
      },
      /SOPS-encrypted plugin configs are refused/,
    )
  })

  it("a generators directory that could rewrite its configs", async () => {
    for (const field of [
      "patches:\n- patch: '{}'\n",
      "transformers: [t.yaml]\n",
      "replacements: []\nconfigMapGenerator:\n- name: x\n",
      "labels:\n- pairs: {a: b}\n  fields:\n  - path: path\n",
      "components: [c]\n",
    ]) {
      const e = refusal(
        await walk(
          tree({
            ...k("generators: [gens]\n"),
            "gens/kustomization.yaml": `resources: [g.yaml]\n${field}`,
            "gens/g.yaml": plugin("kind: LabelTransformer\nmetadata: {name: l}\n"),
          }),
        ),
      )
      expect(e.message).toContain(
        "'gens/kustomization.yaml' is used as a plugin config source (generators[0])",
      )
      expect(e.message).toContain("could rewrite the configs")
    }
  })

  it("plugin configs from a URL, even with remote bases allowed", async () => {
    const e = refusal(await walk(tree(k("generators: ['https://93.184.215.14/gen.yaml']\n"))))
    expect(e.message).toContain("plugin configs from a URL cannot be checked")
  })
})

describe("URLs", () => {
  let server: http.Server
  let hits = 0
  let url = ""
  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      hits++
      res.end(canary)
    })
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok))
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/latest/meta-data`
  })
  afterAll(() => new Promise<void>((ok) => server.close(() => ok())))

  it.skipIf(!hasTool("kustomize"))(
    "a generator file URL is fetched by kustomize alone; the resolver refuses it, with or without remote bases",
    async () => {
      const root = tree(k(`configMapGenerator:\n- name: m\n  files: ['m=${url}']\n`))
      expect(await kustomizeAsync(root)).toContain(canary)
      const before = hits
      for (const noRemoteBases of [true, false]) {
        const e = refusal(await walk(root, { noRemoteBases }))
        expect(e.message).toContain(`'${url}' in 'kustomization.yaml' is refused`)
        expect(e.message).toContain("configMapGenerator[0] 'm' files[0]")
        expect(e.message).toMatch(noRemoteBases ? /--no-remote-bases/ : /plain http is never allowed/)
      }
      expect(hits).toBe(before)
    },
  )

  const urlCases: ReadonlyArray<[string, string, RegExp]> = [
    ["patches", `patches:\n- path: 'https://127.0.0.1/p.yaml'\n`, /loopback/],
    ["resources", "resources: ['https://169.254.169.254/latest/meta-data']\n", /link-local/],
    ["resources (git, scp form)", "resources: ['git@127.0.0.1:org/repo']\n", /loopback/],
    ["components (ssh)", "components: ['ssh://git@[::1]:22/org/repo']\n", /loopback/],
    ["crds (mapped IPv6)", "crds: ['https://[::ffff:169.254.169.254]/crd.yaml']\n", /link-local/],
    [
      "resources (name resolving to loopback)",
      "resources: ['https://localhost/org/repo']\n",
      /resolves to a loopback/,
    ],
    ["resources (numeric host)", "resources: ['https://2130706433/org/repo']\n", /numeric address/],
    ["resources (file://)", "resources: ['file:///etc/repo']\n", /file:\/\//],
    ["resources (http git)", "resources: ['http://github.com/org/repo']\n", /plain http/],
    ["resources (ref option)", "resources: ['https://github.com/org/repo?ref=--upload-pack=x']\n", /git ref/],
    ["openapi (credentials)", "openapi:\n  path: 'https://user:pw@example.com/s.json'\n", /plain https/],
  ]
  for (const [name, text, reason] of urlCases)
    it(`refuses ${name}`, async () => {
      const e = refusal(await walk(tree(k(text))))
      expect(e.message).toMatch(reason)
      expect(e.message).toContain("in 'kustomization.yaml' is refused")
      expect(refusal(await walk(tree(k(text)), { noRemoteBases: true })).message).toContain(
        "--no-remote-bases",
      )
    })

  it("the service network is refused when its CIDRs are given; a public https host is allowed", async () => {
    const text = "resources: ['https://10.96.0.1/org/repo']\n"
    const nodes = await walk(tree(k(text)))
    expect(Exit.isSuccess(nodes)).toBe(true)
    const e = refusal(await walk(tree(k(text)), { serviceCidrs: ["10.96.0.0/12"] }))
    expect(e.message).toContain("service network")
    const ok = await walk(tree(k("resources: ['https://93.184.215.14/org/repo//deploy?ref=v1']\n")))
    const node = Exit.isSuccess(ok) ? ok.value[0] : expect.fail("expected success")
    expect(node?.refs.map((r) => r.kind)).toEqual(["remote"])
  })

  it("a trusted prefix skips the address checks but not --no-remote-bases", async () => {
    const root = tree(k(`resources: ['${url.replace("/latest/meta-data", "/repo.git")}']\n`))
    const options = { trustedRemotePrefixes: [url.replace("latest/meta-data", "")] }
    expect(Exit.isSuccess(await walk(root, options))).toBe(true)
    expect(refusal(await walk(root, { ...options, noRemoteBases: true })).message).toContain(
      "--no-remote-bases",
    )
  })
})

describe.skipIf(!hasTool("kustomize"))(
  "legitimate trees resolve, and their read set is all kustomize reads",
  () => {
    /** Builds `dir` with kustomize in the tree and in a view holding only the read set: same output. */
    const sameInView = async (root: string, start: string) => {
      const exit = await Effect.runPromiseExit(
        Effect.gen(function* () {
          const nodes = yield* walkKustomizations(root, start)
          return yield* readSet(root, nodes)
        }),
      )
      const set = Exit.isSuccess(exit) ? exit.value : expect.fail(String(exit))
      const view = `${root}-view`
      for (const d of set.dirs) fs.mkdirSync(path.join(view, path.relative(root, d)), { recursive: true })
      for (const f of set.files) {
        const to = path.join(view, path.relative(root, f))
        fs.mkdirSync(path.dirname(to), { recursive: true })
        fs.copyFileSync(f, to)
      }
      for (const f of set.files) expect(f.startsWith(`${root}${path.sep}`)).toBe(true)
      const expected = kustomize(start)
      expect(expected.length).toBeGreaterThan(0)
      expect(kustomize(path.join(view, path.relative(root, start)))).toBe(expected)
      return set
    }

    it("sibling bases, a patch and generator inputs in sibling directories", async () => {
      const root = tree(
        {
          "apps/web/kustomization.yaml":
            "resources: [../../bases/web]\npatches:\n- path: ../../patches/p.yaml\nconfigMapGenerator:\n- name: cfg\n  files: [app.properties=../../config/app.properties]\n  envs: [../../config/e.env]\n",
          "bases/web/kustomization.yaml": "resources: [cm.yaml]\n",
          "bases/web/cm.yaml": cmYaml,
          "patches/p.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  y: '2'\n",
          "config/app.properties": "a=b\n",
          "config/e.env": "K=V\n",
          "unrelated/secret.txt": "not read",
        },
        { "apps/web/linked.yaml": "../../bases/web/cm.yaml" },
      )
      const set = await sameInView(root, path.join(root, "apps/web"))
      expect(set.files.map((f) => path.relative(root, f))).not.toContain("unrelated/secret.txt")
    })

    it("builtin plugin configs inside the root: inline, in files, in a generators directory, in a List", async () => {
      const root = tree({
        "kustomization.yaml": [
          "resources: [cm.yaml]",
          "generators:",
          "- gen.yaml",
          "- gens",
          "- |",
          "  apiVersion: v1",
          "  kind: List",
          "  items:",
          "  - apiVersion: builtin",
          "    kind: SecretGenerator",
          "    metadata: {name: listed}",
          "    Files: [data/v.txt]",
          "transformers:",
          "- |",
          "  apiVersion: builtin",
          "  kind: PatchTransformer",
          "  metadata: {name: p}",
          "  path: patches/p.yaml",
          "- rt.yaml",
          "",
        ].join("\n"),
        "cm.yaml": cmYaml,
        "gen.yaml": plugin("kind: ConfigMapGenerator\nmetadata: {name: g}\nfiles: [k=data/v.txt]\n"),
        "gens/kustomization.yaml": "resources: [s.yaml, more]\nnamespace: ignored\n",
        "gens/s.yaml": plugin("kind: SecretGenerator\nmetadata: {name: s}\nenvs: [data/e.env]\n"),
        "gens/more/kustomization.yaml": "resources: [l.yaml]\n",
        "gens/more/l.yaml": plugin(
          "kind: ConfigMapGenerator\nmetadata: {name: deep}\nliterals: [a=b]\nfiles: [data/v.txt]\n",
        ),
        "rt.yaml": plugin(
          "kind: ReplacementTransformer\nmetadata: {name: r}\nreplacements:\n- path: data/r.yaml\n",
        ),
        "data/v.txt": "hello",
        "data/e.env": "A=1\n",
        "data/r.yaml":
          "source: {kind: ConfigMap, name: a, fieldPath: data.x}\ntargets:\n- select: {kind: ConfigMap, name: a}\n  fieldPaths: [data.z]\n  options: {create: true}\n",
        "patches/p.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  y: '2'\n",
      })
      const set = await sameInView(root, root)
      expect(set.files.map((f) => path.relative(root, f)).sort()).toEqual(
        [
          "cm.yaml",
          "data/e.env",
          "data/r.yaml",
          "data/v.txt",
          "gen.yaml",
          "gens/kustomization.yaml",
          "gens/more/kustomization.yaml",
          "gens/more/l.yaml",
          "gens/s.yaml",
          "kustomization.yaml",
          "patches/p.yaml",
          "rt.yaml",
        ].sort(),
      )
    })

    it("plugin-config paths resolve against the listing kustomization, not the config's directory", async () => {
      const root = tree({
        "app/kustomization.yaml": "generators: [../shared/gen.yaml]\n",
        "app/v.txt": "from app",
        "shared/gen.yaml": plugin("kind: ConfigMapGenerator\nmetadata: {name: g}\nfiles: [v.txt]\n"),
        "shared/v.txt": "from shared",
      })
      const set = await sameInView(root, path.join(root, "app"))
      expect(set.files.map((f) => path.relative(root, f))).toContain("app/v.txt")
      expect(set.files.map((f) => path.relative(root, f))).not.toContain("shared/v.txt")
    })
  },
)

describe("readSet", () => {
  it("checks its guarantees again on nodes it did not walk: outside paths, links out, non-files", async () => {
    const root = tree({ ...k(""), "cm.yaml": cmYaml }, { escape: outsideFile })
    const node = (abs: string, kind: "file" | "dir") => ({
      dir: root,
      file: path.join(root, "kustomization.yaml"),
      doc: {},
      refs: [{ ref: { use: "resource" as const, path: "x" }, abs, kind }],
    })
    const run = (abs: string, kind: "file" | "dir") => Effect.runPromiseExit(readSet(root, [node(abs, kind)]))
    expect(refusal(await run(outsideFile, "file")).message).toContain("is outside the artifact root")
    expect(refusal(await run(path.join(root, "escape"), "file")).message).toBe(
      "'escape' points outside the artifact root",
    )
    expect(refusal(await run(root, "file")).message).toBe("'.' is not a regular file")
    const ok = await run(path.join(root, "cm.yaml"), "file")
    expect(Exit.isSuccess(ok) ? ok.value.files : []).toEqual([
      path.join(root, "cm.yaml"),
      path.join(root, "kustomization.yaml"),
    ])
  })
})

describe("kustomization documents", () => {
  it("reads the first document like kustomize, refusing a second one that holds anything", async () => {
    const root = tree({ ...k("resources: [cm.yaml]\n---\n"), "cm.yaml": cmYaml })
    expect(Exit.isSuccess(await walk(root))).toBe(true)
    const e = refusal(await walk(tree(k("resources: [cm.yaml]\n---\nresources: [/etc/passwd]\n"))))
    expect(e.message).toBe("failed to unmarshal kustomization file from 'kustomization.yaml'")
  })
})

describe("bounded work", () => {
  it("resolves at most 64 distinct remote hosts per graph", async () => {
    const hosts = Array.from(
      { length: 70 },
      (_, i) => `'https://93.184.${Math.floor(i / 250)}.${i % 250}/o/r'`,
    )
    const e = refusal(await walk(tree(k(`resources: [${hosts.join(", ")}]\n`))))
    expect(e.message).toContain("more than 64 distinct remote hosts")
  })

  it("refuses an oversized kustomization file before parsing it, and an alias bomb is a typed refusal", async () => {
    const big = refusal(await walk(tree(k(`# ${"x".repeat(2048)}\nresources: []\n`)), { maxFileSize: 1024 }))
    expect(big.message).toContain("exceeds the limit (1024 bytes)")
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for (let i = 1; i < 9; i++)
      bomb.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(", ")}]`,
      )
    const e = refusal(await walk(tree({ ...k("generators: [g.yaml]\n"), "g.yaml": `${bomb.join("\n")}\n` })))
    expect(e.message).toContain("is not valid YAML")
  })
})
