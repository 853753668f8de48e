/**
 * The hostile repositories of the adversarial suite, as data: every kustomization field (and builtin plugin
 * config field) that names a file, each written three ways — an absolute path, a `../` path and a symlink in the
 * repository — all pointing at a canary outside the artifact; URL variants pointing at the loopback canary
 * server; and the documents, trees and graphs that made the operator do unbounded work.
 */
import { posix } from "node:path"
import type { Canary, CanaryFiles } from "./canary.ts"
import type { Tree } from "./repos.ts"

/** A ConfigMap every field case carries, so patches and transformers have a target. */
const baseConfigMap = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: base\ndata:\n  x: "1"\n`

export type Variant = "abs" | "dotdot" | "link"

/** One field that names a file. */
export interface FieldCase {
  /** DNS-label id, used in object names. */
  readonly id: string
  /** What the refusal must name: the field (as the user wrote it in the file). */
  readonly field: string
  /** The file (relative to the case directory) whose field names the path. */
  readonly referrer: string
  /** The outside target: a canary file role, or an absolute host path. */
  readonly target: keyof CanaryFiles | { readonly host: string }
  /** Whether the refusal must name the offending path (default true). */
  readonly pathNamed?: boolean
  /** The files of the case directory, given the path as written in the field. */
  readonly files: (p: string) => Readonly<Record<string, string>>
}

const k = (text: string) => ({ "base.yaml": baseConfigMap, "kustomization.yaml": text })

const builtin = (kind: string, body: string) =>
  `apiVersion: builtin\nkind: ${kind}\nmetadata:\n  name: hostile\n${body}`

export const fieldCases: ReadonlyArray<FieldCase> = [
  {
    id: "resources",
    field: "resources",
    referrer: "kustomization.yaml",
    target: "resource",
    files: (p) => k(`resources:\n- base.yaml\n- ${p}\n`),
  },
  {
    id: "components",
    field: "components",
    referrer: "kustomization.yaml",
    target: "component",
    files: (p) => k(`resources:\n- base.yaml\ncomponents:\n- ${p}\n`),
  },
  {
    id: "patches",
    field: "patches",
    referrer: "kustomization.yaml",
    target: "smp",
    files: (p) => k(`resources:\n- base.yaml\npatches:\n- path: ${p}\n`),
  },
  {
    id: "patches-sm",
    field: "patchesStrategicMerge",
    referrer: "kustomization.yaml",
    target: "smp",
    files: (p) => k(`resources:\n- base.yaml\npatchesStrategicMerge:\n- ${p}\n`),
  },
  {
    id: "patches-json6902",
    field: "patchesJson6902",
    referrer: "kustomization.yaml",
    target: "json6902",
    files: (p) =>
      k(
        `resources:\n- base.yaml\npatchesJson6902:\n- target:\n    version: v1\n    kind: ConfigMap\n    name: base\n  path: ${p}\n`,
      ),
  },
  {
    id: "cmg-files",
    field: "configMapGenerator",
    referrer: "kustomization.yaml",
    target: "text",
    files: (p) => k(`resources:\n- base.yaml\nconfigMapGenerator:\n- name: leak\n  files:\n  - t=${p}\n`),
  },
  {
    id: "cmg-envs",
    field: "configMapGenerator",
    referrer: "kustomization.yaml",
    target: "env",
    files: (p) => k(`resources:\n- base.yaml\nconfigMapGenerator:\n- name: leak\n  envs:\n  - ${p}\n`),
  },
  {
    id: "sg-files",
    field: "secretGenerator",
    referrer: "kustomization.yaml",
    target: "text",
    files: (p) => k(`resources:\n- base.yaml\nsecretGenerator:\n- name: leak\n  files:\n  - t=${p}\n`),
  },
  {
    id: "sg-envs",
    field: "secretGenerator",
    referrer: "kustomization.yaml",
    target: "env",
    files: (p) => k(`resources:\n- base.yaml\nsecretGenerator:\n- name: leak\n  envs:\n  - ${p}\n`),
  },
  {
    id: "replacements",
    field: "replacements",
    referrer: "kustomization.yaml",
    target: "replacements",
    files: (p) => k(`resources:\n- base.yaml\nreplacements:\n- path: ${p}\n`),
  },
  {
    id: "configurations",
    field: "configurations",
    referrer: "kustomization.yaml",
    target: "configurations",
    files: (p) => k(`resources:\n- base.yaml\ncommonLabels:\n  leaked: "1"\nconfigurations:\n- ${p}\n`),
  },
  {
    id: "crds",
    field: "crds",
    referrer: "kustomization.yaml",
    target: "crd",
    files: (p) => k(`resources:\n- base.yaml\ncrds:\n- ${p}\n`),
  },
  {
    id: "openapi",
    field: "openapi",
    referrer: "kustomization.yaml",
    target: "openapi",
    files: (p) => k(`resources:\n- base.yaml\nopenapi:\n  path: ${p}\n`),
  },
  {
    id: "generators",
    field: "generators",
    referrer: "kustomization.yaml",
    target: "generator",
    files: (p) => k(`resources:\n- base.yaml\ngenerators:\n- ${p}\n`),
  },
  {
    id: "transformers",
    field: "transformers",
    referrer: "kustomization.yaml",
    target: "transformer",
    files: (p) => k(`resources:\n- base.yaml\ntransformers:\n- ${p}\n`),
  },
  {
    id: "validators",
    field: "validators",
    referrer: "kustomization.yaml",
    target: "transformer",
    files: (p) => k(`resources:\n- base.yaml\nvalidators:\n- ${p}\n`),
  },
  {
    id: "builtin-cmg-files",
    field: "files",
    referrer: "gen.yaml",
    target: "text",
    files: (p) => ({
      ...k("resources:\n- base.yaml\ngenerators:\n- gen.yaml\n"),
      "gen.yaml": builtin("ConfigMapGenerator", `files:\n- t=${p}\n`),
    }),
  },
  {
    id: "builtin-patch",
    field: "path",
    referrer: "pt.yaml",
    target: "smp",
    files: (p) => ({
      ...k("resources:\n- base.yaml\ntransformers:\n- pt.yaml\n"),
      "pt.yaml": builtin("PatchTransformer", `path: ${p}\ntarget:\n  kind: ConfigMap\n  name: base\n`),
    }),
  },
  {
    id: "builtin-psm",
    field: "paths",
    referrer: "psm.yaml",
    target: "smp",
    files: (p) => ({
      ...k("resources:\n- base.yaml\ntransformers:\n- psm.yaml\n"),
      "psm.yaml": builtin("PatchStrategicMergeTransformer", `paths:\n- ${p}\n`),
    }),
  },
  {
    id: "builtin-replacement",
    field: "replacements",
    referrer: "rt.yaml",
    target: "replacements",
    files: (p) => ({
      ...k("resources:\n- base.yaml\ntransformers:\n- rt.yaml\n"),
      "rt.yaml": builtin("ReplacementTransformer", `replacements:\n- path: ${p}\n`),
    }),
  },
  {
    // The review's `generators: [subdir]`: the subdirectory's resources are builtin plugin configs, here a
    // SecretGenerator reading a host file.
    id: "generators-dir",
    field: "files",
    referrer: "sub/sg.yaml",
    target: { host: "/etc/passwd" },
    files: (p) => ({
      ...k("resources:\n- base.yaml\ngenerators:\n- sub\n"),
      "sub/kustomization.yaml": "resources:\n- sg.yaml\n",
      "sub/sg.yaml": builtin("SecretGenerator", `files:\n- passwd=${p}\n`),
    }),
  },
  {
    // The same directory generating the Secret itself through its own `secretGenerator` field. A refusal of
    // that field in a plugin config source is fine, so the message need not name the path.
    id: "generators-dir-field",
    field: "secretGenerator",
    referrer: "sub/kustomization.yaml",
    target: { host: "/etc/passwd" },
    pathNamed: false,
    files: (p) => ({
      ...k("resources:\n- base.yaml\ngenerators:\n- sub\n"),
      "sub/kustomization.yaml": `secretGenerator:\n- name: passwd\n  files:\n  - passwd=${p}\n`,
    }),
  },
]

/** What /etc/passwd starts with: must never reach the cluster. */
export const passwdMarker = "root:x:0:0:"

/** The absolute path a case's field points at. */
export const targetPath = (c: FieldCase, canary: Canary): string =>
  typeof c.target === "string" ? canary.files[c.target] : c.target.host

/** Enough `../` to climb from any build directory to `/`, then down to the target. */
export const dotdot = (abs: string) => `${"../".repeat(24)}${abs.slice(1)}`

/** The path as written in the field for a variant; a `link` is a symlink next to the referrer. */
export const writtenPath = (c: FieldCase, canary: Canary, variant: Variant): string => {
  const abs = targetPath(c, canary)
  if (variant === "abs") return abs
  if (variant === "dotdot") return dotdot(abs)
  return `leak-${posix.basename(abs)}`
}

/** The case's tree, under `prefix` (a directory of a shared repository, or "" for a repository of its own). */
export const fieldCaseTree = (c: FieldCase, canary: Canary, variant: Variant, prefix: string): Tree => {
  const p = writtenPath(c, canary, variant)
  const tree: Record<string, Tree[string]> = {}
  for (const [name, text] of Object.entries(c.files(p))) tree[posix.join(prefix, name)] = text
  if (variant === "link")
    tree[posix.join(prefix, posix.dirname(c.referrer), p)] = { symlink: targetPath(c, canary) }
  return tree
}

// ---------------------------------------------------------------------------------------------- URLs

/** A field naming a URL on the loopback canary server. */
export interface UrlCase {
  readonly id: string
  readonly field: string
  readonly files: (url: string) => Readonly<Record<string, string>>
}

export const urlCases: ReadonlyArray<UrlCase> = [
  { id: "url-resources", field: "resources", files: (u) => k(`resources:\n- base.yaml\n- ${u}\n`) },
  {
    id: "url-patches",
    field: "patches",
    files: (u) => k(`resources:\n- base.yaml\npatches:\n- path: ${u}\n`),
  },
  {
    id: "url-cmg-files",
    field: "configMapGenerator",
    files: (u) => k(`resources:\n- base.yaml\nconfigMapGenerator:\n- name: leak\n  files:\n  - t=${u}\n`),
  },
  {
    id: "url-generators",
    field: "generators",
    files: (u) => k(`resources:\n- base.yaml\ngenerators:\n- ${u}\n`),
  },
  {
    id: "url-builtin-cmg",
    field: "files",
    files: (u) => ({
      ...k("resources:\n- base.yaml\ngenerators:\n- gen.yaml\n"),
      "gen.yaml": builtin("ConfigMapGenerator", `files:\n- t=${u}\n`),
    }),
  },
]

// ---------------------------------------------------------------------------------------------- documents

const MiB = 1024 * 1024

/**
 * 8 levels of 10 aliases under a `sops`/`mac` key: 10⁸ nodes when expanded. Any parser that looks at it (the
 * check for SOPS documents left in `Secret.data`) must stop at an alias budget.
 */
export const aliasBomb = (): string => {
  const lines = [`l0: &l0 [${Array(10).fill('"x"').join(", ")}]`]
  for (let i = 1; i <= 8; i++)
    lines.push(
      `l${i}: &l${i} [${Array(10)
        .fill(`*l${i - 1}`)
        .join(", ")}]`,
    )
  lines.push(
    "sops:",
    "    mac: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]",
    "    version: 3.9.0",
    "",
  )
  return lines.join("\n")
}

/**
 * A SOPS-looking YAML file of `size` bytes: a flat list of `- {}` (the input that made line/column bookkeeping
 * quadratic), with the `sops` metadata at the very end so a parser has to read all of it.
 */
export const pathologicalDocument = (size: number): string => {
  const head = "items:\n"
  const tail = "sops:\n    mac: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n    version: 3.9.0\n"
  const n = Math.floor((size - head.length - tail.length) / 5)
  const pad = size - head.length - tail.length - n * 5
  return head + "- {}\n".repeat(n) + "#".repeat(Math.max(0, pad - 1)) + (pad > 0 ? "\n" : "") + tail
}

/** Just under the decryption size limit (5 MiB): must be parsed, in linear time. */
export const underLimitSize = 5 * MiB - 4096
/** Just over it: must be refused before parsing. */
export const overLimitSize = 5 * MiB + 4096

/** Half a million `${`: a megabyte no variable reference ever closes (and still fits in one ConfigMap). */
export const dollarBraces = "${".repeat(500_000)

export const docsTree = (): Tree => ({
  "bomb/kustomization.yaml": "resources:\n- secret.yaml\n",
  "bomb/secret.yaml": `apiVersion: v1\nkind: Secret\nmetadata:\n  name: bomb\ntype: Opaque\ndata:\n  value: ${Buffer.from(aliasBomb()).toString("base64")}\n`,
  "under/kustomization.yaml": "resources:\n- big.yaml\n",
  "under/big.yaml": pathologicalDocument(underLimitSize),
  "over/kustomization.yaml": "resources:\n- big.yaml\n",
  "over/big.yaml": pathologicalDocument(overLimitSize),
  "dollars/kustomization.yaml": "resources:\n- cm.yaml\n",
  "dollars/cm.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dollars\ndata:\n  value: |-\n    ${dollarBraces}\n  greeting: \${greeting}\n`,
})

// ---------------------------------------------------------------------------------------------- trees

/** `.sourceignore` with 14 `**\/` (exponential as a backtracking regex) and a 30-deep directory to match it on. */
export const sourceIgnoreTree = (token: string): Tree => {
  const deep = Array(30).fill("d").join("/")
  const tree: Record<string, string> = {
    ".sourceignore": `${"**/".repeat(14)}ignored.yaml\n`,
    [`${deep}/kept.yaml`]: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep-kept\ndata:\n  x: "1"\n`,
    [`${deep}/ignored.yaml`]: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep-ignored\ndata:\n  token: ${token}\n`,
  }
  // A non-matching file at every level: each is one more path for the pattern to fail on.
  for (let i = 1; i <= 30; i++) tree[`${Array(i).fill("d").join("/")}/n${i}.txt`] = "x\n"
  return tree
}

/** A 1 GiB file of zeros (sparse in the work tree, ~1 MiB in git) next to an ordinary manifest. */
export const hugeFileTree = (): Tree => ({
  "zeros.bin": { sparse: 1024 * MiB },
  "kustomization.yaml": "resources:\n- cm.yaml\n",
  "cm.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: huge\ndata:\n  x: "1"\n`,
})

/**
 * A kustomize diamond of `levels` levels: each level includes the next one twice, with different name prefixes,
 * so the build produces 2^levels distinct objects (and kustomize's time grows faster still).
 */
export const diamondTree = (levels = 20): Tree => {
  const tree: Record<string, string> = { "kustomization.yaml": "resources:\n- l0\n" }
  for (let i = 0; i < levels; i++) {
    tree[`l${i}/kustomization.yaml`] = "resources:\n- a\n- b\n"
    tree[`l${i}/a/kustomization.yaml`] = `namePrefix: a-\nresources:\n- ../../l${i + 1}\n`
    tree[`l${i}/b/kustomization.yaml`] = `namePrefix: b-\nresources:\n- ../../l${i + 1}\n`
  }
  tree[`l${levels}/kustomization.yaml`] = "resources:\n- cm.yaml\n"
  tree[`l${levels}/cm.yaml`] =
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: diamond\ndata:\n  x: "1"\n`
  return tree
}

/** The unrelated tenant whose reconciles must go on. */
export const healthyTree = (): Tree => ({
  "kustomization.yaml": "resources:\n- cm.yaml\n",
  "cm.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: healthy\ndata:\n  x: "1"\n`,
})
