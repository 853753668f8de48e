/**
 * Test support for build scenarios: real age and OpenPGP keys, files encrypted with the real `sops` CLI,
 * artifact tarballs with their digest, and a Builder wired to the real kustomize. Test code only.
 *
 * @module
 */

import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Exit, Layer } from "effect"
import * as tar from "tar"
import { toolPath } from "../../../../../e2e/support/tools.ts"
import { defaultLimits } from "../../../limits.ts"
import { type ArtifactRef, ArtifactUnpacker } from "../../build/artifact.ts"
import { ArtifactTrees } from "../../build/artifact-trees.ts"
import { ConfigLookup, type ConfigMapData, type SecretData } from "../../build/config-lookup.ts"
import { Kustomize } from "../../build/kustomize.ts"
import { portOf } from "../../build/sandbox.ts"
import type { BuildSpec } from "../../build/spec.ts"
import { type DecryptOptions, Decryptor } from "../../decrypt/decryptor.ts"
import { KeyProviders } from "../../decrypt/providers.ts"
import { ArtifactFetcher } from "../../fetch/source-artifact.ts"
import { Builder, type BuilderOptions } from "../builder.ts"

/** A fresh directory under the OS temp dir; the caller removes it. */
export const tempDir = (prefix = "kustodian-scenario-") => fs.mkdtempSync(path.join(os.tmpdir(), prefix))

/** {@link tempDir} as a scoped resource: removed when the scope closes, whatever happened. */
export const scopedTempDir = (prefix?: string) =>
  Effect.acquireRelease(
    Effect.sync(() => tempDir(prefix)),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })),
  )

/** Stops the gpg-agent a GnuPG home started (it outlives gpg and would recreate the home), then removes it. */
export const removeGnupgHome = (home: string) => {
  try {
    execFileSync("gpgconf", ["--homedir", home, "--kill", "all"], { stdio: "ignore" })
  } catch {
    // no agent running
  }
  fs.rmSync(home, { recursive: true, force: true })
}

/** Writes `files` (path → content) under `root`, creating directories. */
export const writeTree = (root: string, files: Readonly<Record<string, string | Uint8Array>>) => {
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel)
    fs.mkdirSync(path.dirname(p), { recursive: true })
    fs.writeFileSync(p, content)
  }
}

export interface AgeKey {
  readonly recipient: string
  /** The key file text (with its comments), as `age-keygen` writes it. */
  readonly identity: string
}

/** A new X25519 age key from the real `age-keygen`. */
export const ageKey = (): AgeKey => {
  const identity = execFileSync(toolPath("age-keygen"), [], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  })
  const recipient = /# public key: (age1\w+)/.exec(identity)?.[1]
  if (!recipient) throw new Error("age-keygen printed no public key")
  return { recipient, identity }
}

export interface PgpKey {
  readonly fingerprint: string
  readonly armored: string
  /** GnuPG home holding the key, for sops to encrypt with. */
  readonly home: string
}

/** A new passwordless OpenPGP key (ed25519 + cv25519) in its own GnuPG home, from the real `gpg`. */
export const pgpKey = (home: string): PgpKey => {
  fs.mkdirSync(home, { recursive: true, mode: 0o700 })
  const gpg = (...args: string[]) =>
    execFileSync(
      toolPath("gpg"),
      ["--homedir", home, "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "", ...args],
      {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      },
    )
  gpg("--quick-gen-key", "Kustodian Test <test@kustodian.invalid>", "ed25519", "sign,cert", "never")
  const fingerprint = /fpr:+([0-9A-F]{40}):/.exec(gpg("--with-colons", "--list-secret-keys"))?.[1]
  if (!fingerprint) throw new Error("gpg listed no fingerprint")
  gpg("--quick-add-key", fingerprint, "cv25519", "encr", "never")
  return { fingerprint, armored: gpg("--armor", "--export-secret-keys", fingerprint), home }
}

export interface EncryptOptions {
  readonly age?: ReadonlyArray<string>
  readonly pgp?: ReadonlyArray<string>
  /** GnuPG home for PGP recipients. */
  readonly gnupgHome?: string
  readonly encryptedRegex?: string
  readonly inputType?: string
  readonly outputType?: string
  /** Key groups via a `.sops.yaml` creation rule (with `shamir_threshold`). */
  readonly keyGroups?: {
    readonly groups: ReadonlyArray<{ age?: string[]; pgp?: string[] }>
    readonly threshold: number
  }
}

/** Encrypts `file` in place with the real `sops` CLI. */
export const sopsEncrypt = (file: string, o: EncryptOptions) => {
  const args = ["--encrypt", "--in-place"]
  if (o.keyGroups) {
    const config = path.join(path.dirname(file), `.sops-${path.basename(file)}.yaml`)
    const rule = {
      key_groups: o.keyGroups.groups,
      shamir_threshold: o.keyGroups.threshold,
      ...(o.encryptedRegex ? { encrypted_regex: o.encryptedRegex } : {}),
    }
    fs.writeFileSync(config, JSON.stringify({ creation_rules: [rule] }))
    args.unshift("--config", config)
  } else {
    if (o.age?.length) args.push("--age", o.age.join(","))
    if (o.pgp?.length) args.push("--pgp", o.pgp.join(","))
    if (o.encryptedRegex) args.push("--encrypted-regex", o.encryptedRegex)
  }
  if (o.inputType) args.push("--input-type", o.inputType)
  if (o.outputType) args.push("--output-type", o.outputType)
  args.push(file)
  execFileSync(toolPath("sops"), args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: process.env.PATH ?? "",
      HOME: os.tmpdir(),
      ...(o.gnupgHome ? { GNUPGHOME: o.gnupgHome } : {}),
    },
  })
  if (o.keyGroups) fs.rmSync(path.join(path.dirname(file), `.sops-${path.basename(file)}.yaml`))
}

/** Packs `dir` into a `.tar.gz` next to it and returns the artifact reference (file path + sha256). */
export const packArtifact = (
  dir: string,
  out = `${dir}.tar.gz`,
  revision = "main@sha1:0000000000000000000000000000000000000000",
): ArtifactRef => {
  tar.c({ gzip: true, cwd: dir, file: out, sync: true, portable: true }, fs.readdirSync(dir))
  const digest = createHash("sha256").update(fs.readFileSync(out)).digest("hex")
  return { url: out, digest: `sha256:${digest}`, revision }
}

/** A decryption Secret's data (values base64-encoded here). */
export const secretData = (
  namespace: string,
  name: string,
  entries: Readonly<Record<string, string>>,
  identity: { uid?: string; resourceVersion?: string } = {},
): SecretData => ({
  namespace,
  name,
  uid: identity.uid ?? `uid-${namespace}-${name}`,
  resourceVersion: identity.resourceVersion ?? "1",
  data: Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
})

/** An artifact served by the fetch stage's fetcher: the real download, digest check and extraction. */
export const fetchStageUnpacker = ArtifactUnpacker.layer.pipe(Layer.provide(ArtifactFetcher.layer))

/** A local directory as the artifact (with {@link ArtifactUnpacker.layerLocalDirectory}, the default here). */
export const localArtifact = (
  dir: string,
  revision = "main@sha1:0000000000000000000000000000000000000000",
): ArtifactRef => ({
  url: dir,
  digest: "",
  revision,
})

/** Serves files over HTTP on 127.0.0.1 (for the fetch stage's fetcher), stopped with the scope. */
export const serveFiles = (files: ReadonlyMap<string, string>) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<{ readonly url: string; readonly server: http.Server }>((resolve) => {
          const server = http.createServer((req, res) => {
            const file = files.get(req.url ?? "")
            if (file === undefined) res.writeHead(404).end()
            else fs.createReadStream(file).pipe(res)
          })
          server.listen(0, "127.0.0.1", () =>
            resolve({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server }),
          )
        }),
    ),
    ({ server }) =>
      Effect.promise(
        () =>
          new Promise<void>((r) => {
            server.close(() => r())
            server.closeAllConnections()
          }),
      ),
  )

/** A Builder on the real kustomize, reading the given Secrets and ConfigMaps. */
export const builderLayer = (
  objects: { secrets?: ReadonlyArray<SecretData>; configMaps?: ReadonlyArray<ConfigMapData> } = {},
  options: {
    decrypt?: DecryptOptions
    build?: BuilderOptions
    unpacker?: Layer.Layer<ArtifactUnpacker>
  } = {},
) => builderLayerWith(ConfigLookup.fromObjects(objects), options)

/** A Builder on the real kustomize with the given lookup (e.g. {@link ConfigLookup.layerKube}). */
export const builderLayerWith = <E, R>(
  lookup: Layer.Layer<ConfigLookup, E, R>,
  options: {
    decrypt?: DecryptOptions
    build?: BuilderOptions
    unpacker?: Layer.Layer<ArtifactUnpacker>
  } = {},
) => {
  const decryptor = Decryptor.layer(options.decrypt).pipe(
    Layer.provide(Layer.merge(lookup, KeyProviders.none)),
  )
  const kustomize = Kustomize.layer({
    binary: toolPath("kustomize"),
    sandbox: "required",
    sandboxBinary: toolPath("kustodian-sandbox"),
    maxOutputSize: defaultLimits.maxBuildOutputSize,
    remotePorts: (options.build?.trustedRemotePrefixes ?? []).flatMap((p) => portOf(p) ?? []),
  }).pipe(Layer.orDie)
  return Builder.layer(options.build).pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        ArtifactTrees.layer().pipe(Layer.provide(options.unpacker ?? ArtifactUnpacker.layerLocalDirectory)),
        kustomize,
        decryptor,
        lookup,
      ),
    ),
  )
}

/**
 * Writes `files` into a fresh tree, lets `prepare` change it (encrypt, link, …), packs it and builds it with
 * `spec` in namespace `apps`. Returns the build's Exit; the tree is removed afterwards.
 */
export const buildTree = (
  files: Readonly<Record<string, string>>,
  spec: BuildSpec,
  lookups: Parameters<typeof builderLayer>[0] = {},
  options: Parameters<typeof builderLayer>[1] = {},
  prepare?: (root: string) => void,
) =>
  Effect.gen(function* () {
    const dir = tempDir()
    try {
      const root = path.join(dir, "repo")
      writeTree(root, files)
      prepare?.(root)
      const artifact = localArtifact(root)
      return yield* Effect.exit(
        Effect.flatMap(Builder, (b) => b.build({ namespace: "apps", name: "web", spec, artifact })).pipe(
          Effect.provide(builderLayer(lookups, options)),
        ),
      )
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

/** The failure text of an Exit (cause rendering), or throws when it succeeded. */
export const failureText = (exit: Exit.Exit<unknown, unknown>) => {
  if (!Exit.isFailure(exit)) throw new Error("expected the build to fail")
  return String(exit.cause)
}
