/**
 * Pre-build decryption: every local file kustomize will read that carries SOPS metadata is decrypted in
 * place in the private build directory — resource files, patch files, secret/configMap generator files and
 * envs. Components are covered by walking into them. The MAC is verified here, on the untouched file, under
 * the configured policy. Because resources are decrypted before kustomize merges patches into them, the
 * `encrypted_regex` conflict (plaintext from a patch landing under an encrypted key) cannot happen.
 *
 * Formats follow Flux: a generator file's format comes from its data key's extension, an env file's from
 * its own extension (falling back to dotenv), everything else from the file's extension.
 *
 * @module
 */
import * as fs from "node:fs/promises"
import { Effect } from "effect"
import * as YAML from "yaml"
import { detectSops, type Format, formatForPath } from "../../sops/index.ts"
import type { Reference } from "../build/kustomization-file.ts"
import { type KustomizationNode, relativeTo } from "../build/kustomization-graph.ts"
import { type DecryptionKeys, Decryptor, type MacWarning, tooLarge } from "./decryptor.ts"
import { plaintextValues } from "./plaintext-values.ts"
import { decryptOptOut } from "./resources.ts"

/** The format a referenced file is read in, or undefined when kustomize does not read it as data we decrypt. */
export const formatOf = (ref: Reference): Format | undefined => {
  switch (ref.use) {
    case "resource":
    case "patch": {
      const f = formatForPath(ref.path)
      return f === "yaml" || f === "json" ? f : undefined
    }
    case "generator-file":
      return formatForPath(ref.key)
    case "generator-env": {
      const f = formatForPath(ref.path)
      return f === "binary" ? "dotenv" : f
    }
    default:
      return undefined
  }
}

/** A manifest whose documents are annotated `kustomize.toolkit.fluxcd.io/decrypt: disabled` stays encrypted. */
const optedOut = (bytes: Uint8Array) => {
  // Parsing is only worth it when the annotation is there at all (and the `yaml` package bounds aliases).
  if (!Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(decryptOptOut)) return false
  try {
    return YAML.parseAllDocuments(new TextDecoder().decode(bytes)).some((d) => {
      const v = d.toJS() as { metadata?: { annotations?: Record<string, unknown> } } | null
      const a = v?.metadata?.annotations?.[decryptOptOut]
      return typeof a === "string" && a.toLowerCase() === "disabled"
    })
  } catch {
    return false
  }
}

/** Decrypts the graph's encrypted files in place; returns the MAC warnings and the files decrypted. */
export const decryptSources = Effect.fn("decryptSources")(function* (
  root: string,
  nodes: ReadonlyArray<KustomizationNode>,
  keys: DecryptionKeys,
) {
  const decryptor = yield* Decryptor
  const warnings: MacWarning[] = []
  const decrypted: string[] = []
  const values: string[] = []
  const done = new Set<string>()
  for (const node of nodes) {
    for (const r of node.refs) {
      if (r.kind !== "file" || done.has(r.abs)) continue
      const format = formatOf(r.ref)
      if (format === undefined) continue
      done.add(r.abs)
      const bytes = new Uint8Array(yield* Effect.promise(() => fs.readFile(r.abs)))
      const detected = detectSops(bytes, format, decryptor.limits.maxDecryptionSize)
      if (detected === "plain") continue
      const file = relativeTo(root, r.abs)
      const context = `error decrypting sources: '${file}' (referenced from '${relativeTo(root, node.file)}')`
      // Refused before anything parses it, the opt-out annotation check included.
      if (detected === "oversized")
        return yield* tooLarge({ file, context }, bytes.byteLength, decryptor.limits.maxDecryptionSize)
      if ((r.ref.use === "resource" || r.ref.use === "patch") && optedOut(bytes)) continue
      const { plaintext, warning } = yield* decryptor.decrypt({ bytes, format, file, context, keys })
      if (warning) warnings.push(warning)
      for (const v of plaintextValues(bytes, plaintext, format)) values.push(v)
      // Plaintext stays in the private (tmpfs) build directory, owner-only, removed with it.
      yield* Effect.promise(() => fs.writeFile(r.abs, plaintext, { mode: 0o600 }))
      decrypted.push(file)
    }
  }
  return { warnings, decrypted, values } as {
    readonly warnings: ReadonlyArray<MacWarning>
    readonly decrypted: ReadonlyArray<string>
    /** Plaintext values of the decrypted files, to scrub from tool output (memory only). */
    readonly values: ReadonlyArray<string>
  }
})
