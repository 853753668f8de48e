/**
 * Canaries: things a confined operator must never touch. A directory of files outside every artifact, each
 * carrying a unique token, shaped so that whatever field reads it would carry the token into the cluster (a
 * ConfigMap, a patch adding it, a generator config producing it); and an HTTP server on loopback that counts
 * every request and answers with the token. The suite then asserts the server saw nothing and the token is
 * nowhere in the cluster.
 */
import { randomBytes } from "node:crypto"
import { mkdirSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import { join } from "node:path"
import { closeServer, listenOnLoopback } from "../../support/ports.ts"

/** The canary files by role; values are absolute paths. */
export interface CanaryFiles {
  /** A ConfigMap manifest `leak-resource` holding the token (for `resources`). */
  readonly resource: string
  /** A strategic-merge patch of ConfigMap `base` adding the token. */
  readonly smp: string
  /** A JSON 6902 patch adding the token. */
  readonly json6902: string
  /** The token as a plain file (generator `files`). */
  readonly text: string
  /** `leaked=<token>` (generator `envs`). */
  readonly env: string
  /** Replacements creating a key named after the token. */
  readonly replacements: string
  /** A transformer configuration that would add the token as a key. */
  readonly configurations: string
  /** A CRD named after the token. */
  readonly crd: string
  /** An OpenAPI schema naming the token. */
  readonly openapi: string
  /** A builtin ConfigMapGenerator config with the token as a literal. */
  readonly generator: string
  /** A builtin LabelTransformer config adding the token as a label. */
  readonly transformer: string
  /** A directory holding a Component that generates the token. */
  readonly component: string
}

export interface Canary {
  readonly token: string
  readonly dir: string
  readonly files: CanaryFiles
}

/** Writes the canary files into `dir` (which must lie outside every artifact and build directory). */
export const writeCanary = (dir: string): Canary => {
  const token = `canary${randomBytes(10).toString("hex")}`
  mkdirSync(join(dir, "component"), { recursive: true })
  const put = (name: string, text: string) => {
    const p = join(dir, name)
    writeFileSync(p, text)
    return p
  }
  const files: CanaryFiles = {
    resource: put(
      "cm.yaml",
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak-resource\ndata:\n  token: ${token}\n`,
    ),
    smp: put(
      "smp.yaml",
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: base\ndata:\n  leaked: ${token}\n`,
    ),
    json6902: put("json6902.yaml", `- op: add\n  path: /data/leaked\n  value: ${token}\n`),
    text: put("token.txt", `${token}\n`),
    env: put("token.env", `leaked=${token}\n`),
    replacements: put(
      "replacements.yaml",
      [
        "- source:",
        "    kind: ConfigMap",
        "    name: base",
        "    fieldPath: data.x",
        "  targets:",
        "  - select:",
        "      kind: ConfigMap",
        "      name: base",
        "    fieldPaths:",
        `    - data.${token}`,
        "    options:",
        "      create: true",
        "",
      ].join("\n"),
    ),
    configurations: put(
      "configurations.yaml",
      `commonLabels:\n- path: data/${token}\n  create: true\n  kind: ConfigMap\n`,
    ),
    crd: put(
      "crd.yaml",
      [
        "apiVersion: apiextensions.k8s.io/v1",
        "kind: CustomResourceDefinition",
        "metadata:",
        `  name: ${token}s.example.com`,
        "spec:",
        "  group: example.com",
        "  names:",
        `    kind: ${token}`,
        `    plural: ${token}s`,
        "  scope: Namespaced",
        "  versions: []",
        "",
      ].join("\n"),
    ),
    openapi: put("openapi.json", JSON.stringify({ definitions: { [token]: { type: "object" } } })),
    generator: put(
      "generator.yaml",
      `apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: leak-generator\nliterals:\n- token=${token}\n`,
    ),
    transformer: put(
      "transformer.yaml",
      [
        "apiVersion: builtin",
        "kind: LabelTransformer",
        "metadata:",
        "  name: leak-transformer",
        "labels:",
        `  leaked: ${token}`,
        "fieldSpecs:",
        "- path: metadata/labels",
        "  create: true",
        "",
      ].join("\n"),
    ),
    component: join(dir, "component"),
  }
  writeFileSync(
    join(dir, "component", "kustomization.yaml"),
    `apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nconfigMapGenerator:\n- name: leak-component\n  literals:\n  - token=${token}\n`,
  )
  return { token, dir, files }
}

export interface CanaryServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  /** Every request it received (method and path), in order. */
  readonly hits: ReadonlyArray<string>
  readonly stop: () => Promise<void>
}

/** An HTTP server on loopback that records every request and answers with `token`. */
export const startCanaryServer = async (token: string): Promise<CanaryServer> => {
  const hits: string[] = []
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`)
    req.resume()
    res
      .writeHead(200, { "content-type": "text/plain" })
      .end(`apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak-http\ndata:\n  token: ${token}\n`)
  })
  const url = await listenOnLoopback(server)
  return {
    url,
    hits,
    stop: () => closeServer(server),
  }
}
