/**
 * `kustodian create source git NAME`: the GitRepository `flux create source git … --export` prints for the same
 * flags, checked with the model's schema. Flags of flux's that would create a credentials Secret or a deploy key
 * (`--username`, `--password`, `--private-key-file`, `--ca-file`) are refused: name an existing Secret with
 * `--secret-ref` (e.g. one made by `kubectl create secret`).
 *
 * @module
 */
import { Effect } from "effect"
import { decodeGitRepository } from "../../../model/decode.ts"
import { gitRepositoryResource } from "../../../model/gitrepository.ts"
import type { KubeObject } from "../kube/object.ts"
import type { ResourceRef } from "../kube/resource.ts"
import { parseArgs, UsageError, value } from "./args.ts"
import { HelpRequested, parsing } from "./command.ts"
import { emit, outputFlags, outputUsage } from "./create-output.ts"
import {
  checkName,
  commonFluxFlags,
  durationFlag,
  labelsFlag,
  namespaceFlag,
  sliceFlag,
} from "./flux-flags.ts"

export const createSourceGitUsage = `kustodian create source git NAME --url=URL (--branch=B | --tag=T | --tag-semver=R | --commit=SHA | --ref-name=REF) [flags]
  --url URL                  http, https or ssh URL of the repository
  --branch B / --tag T / --tag-semver RANGE / --commit SHA / --ref-name REF
                             the reference (precedence as flux: ref-name, commit (with branch), semver, tag, branch)
  --interval D               how often to fetch (default 1m)
  --secret-ref NAME          an existing Secret with SSH, basic-auth or GitHub App credentials
  --provider P               generic|github|aws|azure
  --recurse-submodules       include submodules
  --ignore-paths P,…         .sourceignore-style paths to leave out of the artifact
  --sparse-checkout-paths P,…  directories to check out only
  --proxy-secret-ref NAME    a Secret with the proxy address and credentials
  -n, --namespace NS         the object's namespace (default flux-system)
  --label K=V,…              labels
${outputUsage}`

const gitRef: ResourceRef = {
  group: gitRepositoryResource.group,
  version: gitRepositoryResource.version,
  plural: gitRepositoryResource.plural,
  kind: gitRepositoryResource.kind,
  namespaced: true,
}

const refused: Readonly<Record<string, string>> = {
  username: "creates a credentials Secret",
  password: "creates a credentials Secret",
  "private-key-file": "creates a credentials Secret",
  "ca-file": "creates a credentials Secret",
}

const spec = {
  values: [
    ...commonFluxFlags,
    ...outputFlags.values,
    "url",
    "branch",
    "tag",
    "tag-semver",
    "commit",
    "ref-name",
    "secret-ref",
    "provider",
    "ignore-paths",
    "sparse-checkout-paths",
    "proxy-secret-ref",
    ...Object.keys(refused),
  ],
  flags: [...outputFlags.flags, "recurse-submodules", "help"],
  aliases: { n: "namespace", h: "help", u: "username", p: "password" },
}

/** The GitRepository of a flag set (the object flux builds in `createSourceGitCmdRun`). */
export const gitRepositoryFromArgs = (argv: ReadonlyArray<string>) => {
  const p = parseArgs(argv, spec)
  if (p.flags.has("help")) throw new HelpRequested(createSourceGitUsage)
  for (const [flag, why] of Object.entries(refused))
    if (p.values.has(flag))
      throw new UsageError(
        `--${flag}: not implemented (flux ${why}); create the Secret yourself and pass --secret-ref`,
      )
  if (p.positional.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(p.positional[1])}`)
  const name = checkName(p.positional[0])
  const url = value(p, "url")
  if (url === undefined || url === "") throw new UsageError("url is required")
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1]
  if (scheme === undefined || !/^\/\//.test(url.slice(scheme.length + 1)))
    throw new UsageError(
      `git URL parse failed: ${JSON.stringify(url)} is not a URL (ssh://host/path, https://…)`,
    )
  if (!["ssh", "http", "https"].includes(scheme))
    throw new UsageError(`git URL scheme '${scheme}' not supported, can be: ssh, http and https`)
  const [branch, tag, semver, commit, refName] = ["branch", "tag", "tag-semver", "commit", "ref-name"].map(
    (f) => value(p, f),
  )
  const ref: Record<string, string> = {}
  if (refName) ref.name = refName
  else if (commit) {
    ref.commit = commit
    if (branch) ref.branch = branch
  } else if (semver) ref.semver = semver
  else if (tag) ref.tag = tag
  else if (branch) ref.branch = branch
  else
    throw new UsageError(
      "a Git ref is required, use one of the following: --branch, --tag, --commit, --ref-name or --tag-semver",
    )
  const provider = value(p, "provider")
  if (provider !== undefined && !["generic", "github", "aws", "azure"].includes(provider))
    throw new UsageError(
      `invalid argument "${provider}" for "--provider" flag: unsupported Git provider '${provider}', must be one of: generic|github|aws|azure`,
    )
  const ignore = sliceFlag(p, "ignore-paths")
  const sparse = sliceFlag(p, "sparse-checkout-paths")
  const secretRef = value(p, "secret-ref")
  const proxy = value(p, "proxy-secret-ref")
  const labels = labelsFlag(p)
  const obj = {
    apiVersion: `${gitRef.group}/${gitRef.version}`,
    kind: gitRef.kind,
    metadata: { name, namespace: namespaceFlag(p), ...(labels ? { labels } : {}) },
    spec: {
      url,
      interval: durationFlag(p, "interval", "1m0s")!,
      ref,
      ...(p.flags.has("recurse-submodules") ? { recurseSubmodules: true } : {}),
      ...(provider !== undefined ? { provider } : {}),
      ...(ignore.length > 0 ? { ignore: ignore.join("\n") } : {}),
      ...(sparse.length > 0 ? { sparseCheckout: sparse } : {}),
      ...(secretRef ? { secretRef: { name: secretRef } } : {}),
      ...(proxy ? { proxySecretRef: { name: proxy } } : {}),
    },
  }
  return { parsed: p, obj }
}

export const createSourceGitCommand = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const { parsed, obj } = yield* parsing(() => gitRepositoryFromArgs(argv))
    // the model's schema has the last word: a value flux would accept but the API would not fails here
    yield* decodeGitRepository(obj)
    yield* emit(parsed, gitRef, obj as unknown as KubeObject, { separator: true })
  })
