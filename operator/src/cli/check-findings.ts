/**
 * What `kustodian check` finds in a repository, file by file, with the sops engine's own pieces (creation rules
 * from `sops/config.ts`, selection rules from `sops/rules.ts`, metadata, `keydiff.ts` as `updatekeys` uses it):
 * - `plaintext-secret`: a plaintext Secret (`kind: Secret` with `data`/`stringData`) or Secret-like value (a key
 *   named password, token, secret, api key, private key, …) in a file a creation rule's `path_regex` covers;
 * - `uncovered`: a Secret, plaintext or encrypted, in a file no creation rule of the `.sops.yaml` above it covers;
 * - `encrypted-regex-conflict`: a kustomize patch (`patches`, `patchesStrategicMerge`, `patchesJson6902`, inline
 *   or a file) whose plaintext lands under a key the selection rule of the encrypted resource it targets covers
 *   (the seed's conflict: sops, as Flux runs it after the build, fails on it);
 * - `recipients`: an encrypted file whose key groups or Shamir threshold differ from its creation rule's;
 * - `stale-mac`: an encrypted file whose MAC does not match its values (needs a key: checked only with one);
 * - `public-key`: a `.sops.pub.asc` whose fingerprint is no `pgp` key of the `.sops.yaml`, or which holds a
 *   private key;
 * - `unreadable`, `config`, `limit`: an encrypted file the engine cannot read, a `.sops.yaml` that does not
 *   parse, a file over the size bound.
 * Messages name the file, key path and key ids only — never a value.
 *
 * @module
 */
import { readFileSync, realpathSync } from "node:fs"
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path"
import { Effect } from "effect"
import * as openpgp from "openpgp"
import { RE2JS } from "re2js"
import * as YAML from "yaml"
import { type CreationRule, creationRuleFor, findConfigUpward, matchPath } from "../sops/config.ts"
import { fromStoreError, readMetadata } from "../sops/decrypt.ts"
import { ConfigError } from "../sops/errors.ts"
import { decrypt, detectSops, formatForPath, type Keyring, type SelectionRule } from "../sops/index.ts"
import { diffKeyGroups, keyString, keysChange } from "../sops/keydiff.ts"
import { compileRule } from "../sops/rules.ts"
import { storeFor } from "../sops/stores/store.ts"
import { fieldEntries, foldKey, isRecord, records, strings } from "../stages/build/go-json-keys.ts"
import { kustomizationFileNames } from "../stages/build/kustomization-file.ts"
import { walkLimits } from "./check-walk.ts"

export type FindingKind =
  | "plaintext-secret"
  | "uncovered"
  | "encrypted-regex-conflict"
  | "recipients"
  | "stale-mac"
  | "public-key"
  | "unreadable"
  | "config"
  | "limit"

export interface Finding {
  /** As given or relative to the working directory. */
  readonly file: string
  /** Key path inside the file (`stringData`, `spec.containers[0].env`, `sops`). */
  readonly path: string
  readonly kind: FindingKind
  readonly message: string
  readonly fix: string
}

export interface CheckReport {
  readonly findings: ReadonlyArray<Finding>
  /** Encrypted files whose MAC could not be checked for want of a key. */
  readonly macNotChecked: number
  readonly filesChecked: number
}

/** A key whose string value is a credential. */
const secretKeyName =
  /^(?:pass|passwd|password|passphrase|token|secret|credentials?|api[-_]?key|access[-_]?key|secret[-_]?key|private[-_]?key|client[-_]?secret|(?:auth|access|refresh|bearer|api)[-_]?token)$|(?:password|passwd|passphrase|secret|token|api[-_]?key|private[-_]?key)$/i
/** A value that is a reference, not a credential: `${VAR}`, `{{ template }}`, `$(VAR)`. */
const reference = /^\s*(?:\$\{|\{\{|\$\()/
const isEnc = (v: unknown) => typeof v === "string" && v.startsWith("ENC[AES256_GCM,")

const sopsFormats = new Set([".yaml", ".yml", ".json", ".env", ".ini"])
const manifestExt = /\.(?:ya?ml|json)$/i
const ext = (f: string) => {
  const b = basename(f)
  const i = b.lastIndexOf(".")
  return i < 0 ? "" : b.slice(i).toLowerCase()
}

/** `a.b[0].c` */
const joinPath = (base: string, key: string) => (base === "" ? key : `${base}.${key}`)

/** Parses manifests (YAML, several documents, or JSON); undefined when the text does not parse. */
const parseManifests = (text: string, file: string): Array<unknown> | undefined => {
  if (/\.json$/i.test(file)) {
    try {
      return [JSON.parse(text) as unknown]
    } catch {
      return undefined
    }
  }
  try {
    const docs = YAML.parseAllDocuments(text, { uniqueKeys: false })
    const list = Array.isArray(docs) ? docs : [docs]
    if (list.some((d) => d.errors.length > 0)) return undefined
    return list.map((d) => d.toJS({ maxAliasCount: 1000 }) as unknown)
  } catch {
    return undefined
  }
}

/** The prefix naming a document of a multi-document file. */
const docPrefix = (count: number, i: number) => (count > 1 ? `(document ${i + 1}) ` : "")

type RuleLookup =
  | { readonly tag: "none" }
  | { readonly tag: "uncovered"; readonly config: string }
  | { readonly tag: "rule"; readonly config: string; readonly rule: CreationRule }
  | { readonly tag: "bad"; readonly config: string; readonly reason: string }

interface EncryptedDoc {
  readonly file: string
  readonly kind: string
  readonly name: string
  readonly namespace: string | undefined
  readonly rule: SelectionRule | undefined
}

export interface CheckOptions {
  readonly cwd: string
  readonly keyring: Keyring
  /** Whether a MAC can be checked at all: some key source is configured. */
  readonly hasKeys: boolean
  /** Where files a kustomization names may be read from (the checked paths and the working directory). */
  readonly roots: ReadonlyArray<string>
}

/** Checks the files of one walk. */
export const checkFiles = Effect.fn("check.checkFiles")(function* (
  files: ReadonlyArray<string>,
  oversized: ReadonlyArray<string>,
  opts: CheckOptions,
) {
  const findings: Array<Finding> = []
  const shown = (f: string) => {
    const rel = relative(opts.cwd, f)
    return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : f
  }
  const add = (file: string, path: string, kind: FindingKind, message: string, fix: string) => {
    findings.push({ file: shown(file), path, kind, message, fix })
  }
  for (const f of oversized)
    add(
      f,
      "-",
      "limit",
      `file is larger than ${walkLimits.maxFileSize / 1024 / 1024} MiB, not checked`,
      "split it into smaller files",
    )

  const configs = new Map<string, string | undefined>()
  const configOf = (dir: string) => {
    if (!configs.has(dir)) configs.set(dir, findConfigUpward(dir))
    return configs.get(dir)
  }
  const texts = new Map<string, string | Error>()
  const configText = (config: string): string | Error => {
    let t = texts.get(config)
    if (t === undefined) {
      try {
        t = readFileSync(config, "utf8")
      } catch (e) {
        t = new Error((e as NodeJS.ErrnoException).code ?? String(e))
      }
      texts.set(config, t)
    }
    return t
  }
  const badConfigs = new Set<string>()
  const lookup = (file: string): RuleLookup => {
    const config = configOf(dirname(file))
    if (config === undefined) return { tag: "none" }
    const text = configText(config)
    if (text instanceof Error) return { tag: "bad", config, reason: `cannot read: ${text.message}` }
    try {
      const rule = creationRuleFor(config, text, matchPath(config, file, opts.cwd))
      return rule === undefined ? { tag: "none" } : { tag: "rule", config, rule }
    } catch (e) {
      if (e instanceof ConfigError && e.reason === "no matching creation rules found")
        return { tag: "uncovered", config }
      return { tag: "bad", config, reason: e instanceof ConfigError ? e.reason : String(e) }
    }
  }
  const reportBad = (l: RuleLookup) => {
    if (l.tag !== "bad" || badConfigs.has(l.config)) return
    badConfigs.add(l.config)
    add(l.config, "creation_rules", "config", `.sops.yaml is not usable: ${l.reason}`, "fix the .sops.yaml")
  }
  const ruleName = (config: string) => shown(config)
  const cwdConfig = findConfigUpward(opts.cwd)
  /** `--config X ` when a command run from the working directory would not find `config` itself. */
  const configFlag = (config: string) => (cwdConfig === config ? "" : `--config ${shown(config)} `)

  const encryptedDocs = new Map<string, Array<EncryptedDoc>>()
  const kustomizations: Array<string> = []
  const publicKeys: Array<string> = []
  let macNotChecked = 0
  let checked = 0

  for (const file of files) {
    const name = basename(file)
    if (name === ".sops.yaml") continue
    if (name === ".sops.pub.asc") {
      publicKeys.push(file)
      continue
    }
    if ((kustomizationFileNames as ReadonlyArray<string>).includes(name)) kustomizations.push(file)
    if (!sopsFormats.has(ext(file))) continue
    checked++
    let bytes: Uint8Array
    try {
      bytes = new Uint8Array(readFileSync(file))
    } catch {
      continue
    }
    const format = formatForPath(file)
    if (detectSops(bytes, format) === "sops") {
      // an encrypted file: its metadata, its rule's recipients, its MAC
      const opened = yield* Effect.result(
        Effect.gen(function* () {
          const parsed = yield* storeFor(format)
            .readEncrypted(bytes)
            .pipe(Effect.mapError(fromStoreError(file)))
          return yield* readMetadata(file, parsed.metadata)
        }),
      )
      if (opened._tag === "Failure") {
        add(
          file,
          "sops",
          "unreadable",
          `not a valid sops file: ${opened.failure.message.replace(`${file}: `, "")}`,
          "restore it from git, or encrypt it again",
        )
        continue
      }
      const md = opened.success.md
      const l = lookup(file)
      reportBad(l)
      if (l.tag === "uncovered")
        add(
          file,
          "sops",
          "uncovered",
          `encrypted file matches no creation rule of ${ruleName(l.config)}`,
          `add a creation rule whose path_regex matches ${shown(file)} (updatekeys and edit need one)`,
        )
      if (l.tag === "rule") {
        const wanted = l.rule.keyGroups
        const diffs = diffKeyGroups(md.keyGroups, wanted)
        const threshold = Math.min(md.shamirThreshold, wanted.length)
        if (keysChange(diffs) || threshold !== md.shamirThreshold) {
          const added = diffs.flatMap((d) => d.added.map(keyString))
          const removed = diffs.flatMap((d) => d.removed.map(keyString))
          const parts = [
            ...(added.length > 0 ? [`missing ${added.join(", ")}`] : []),
            ...(removed.length > 0 ? [`not in the rule ${removed.join(", ")}`] : []),
            ...(threshold !== md.shamirThreshold
              ? [`shamir_threshold ${md.shamirThreshold} → ${threshold}`]
              : []),
          ]
          add(
            file,
            "sops",
            "recipients",
            `recipients differ from the creation rule of ${ruleName(l.config)}: ${parts.join("; ")}`,
            `kustodian updatekeys -y ${configFlag(l.config)}${shown(file)}`,
          )
        }
      }
      if (!opts.hasKeys) macNotChecked++
      else {
        const r = yield* Effect.result(
          decrypt({ bytes, format, file: shown(file), keyring: opts.keyring, mac: "strict" }),
        )
        if (r._tag === "Failure") {
          const e = r.failure
          if (e._tag === "DataKeyError") macNotChecked++
          else if (e._tag === "MacMismatch")
            add(
              file,
              "sops.mac",
              "stale-mac",
              e.reason === "missing"
                ? "the file has no MAC"
                : "the MAC does not match the values (changed after encryption, by hand or by a merge)",
              `check the values with kustodian decrypt --ignore-mac ${shown(file)}, then kustodian edit --ignore-mac ${shown(file)} and save to write a new MAC, or restore the file from git`,
            )
          else
            add(
              file,
              "sops",
              "unreadable",
              `cannot be decrypted: ${e.message.replace(`${shown(file)}: `, "")}`,
              "restore it from git, or encrypt it again",
            )
        }
      }
      if (manifestExt.test(file)) encryptedDocs.set(resolve(file), documentsOf(file, bytes, md.rule))
      continue
    }
    if (!manifestExt.test(file)) continue
    const docs = parseManifests(Buffer.from(bytes).toString("utf8"), file)
    if (docs === undefined) continue
    let lookedUp: RuleLookup | undefined
    const rule = () => {
      lookedUp ??= lookup(file)
      reportBad(lookedUp)
      return lookedUp
    }
    docs.forEach((doc, i) => {
      if (!isRecord(doc)) return
      const prefix = docPrefix(docs.length, i)
      const isSecret = doc.kind === "Secret"
      const id = isSecret ? secretId(doc) : ""
      const sections = isSecret
        ? ["data", "stringData"].filter((k) => isRecord(doc[k]) && Object.keys(doc[k]).length > 0)
        : []
      if (isSecret && sections.length > 0) {
        const l = rule()
        for (const s of sections) {
          if (l.tag === "rule")
            add(
              file,
              `${prefix}${s}`,
              "plaintext-secret",
              `plaintext Secret ${id}: ${ruleName(l.config)} says files matching its path_regex are encrypted`,
              `kustodian encrypt -i ${configFlag(l.config)}${shown(file)}`,
            )
          else if (l.tag === "uncovered")
            add(
              file,
              `${prefix}${s}`,
              "uncovered",
              `Secret ${id} is in a file no creation rule of ${ruleName(l.config)} covers`,
              `add a creation rule whose path_regex matches ${shown(file)}, then kustodian encrypt -i ${shown(file)}`,
            )
        }
        return
      }
      const leaves = secretLikeLeaves(doc)
      if (leaves.length === 0) return
      const l = rule()
      if (l.tag !== "rule") return
      for (const p of leaves)
        add(
          file,
          `${prefix}${p}`,
          "plaintext-secret",
          `plaintext secret-like value in a file ${ruleName(l.config)} says is encrypted`,
          `move it into a Secret and encrypt that, or kustodian encrypt -i ${configFlag(l.config)}${shown(file)}`,
        )
    })
  }

  for (const k of kustomizations) findings.push(...(yield* conflicts(k, encryptedDocs, opts.roots, shown)))
  for (const f of publicKeys) {
    const config = configOf(dirname(f))
    if (config === undefined) continue
    const text = configText(config)
    if (text instanceof Error) continue
    const found = yield* publicKeyFinding(f, config, text)
    if (found !== undefined) add(f, found.path, "public-key", found.message, found.fix)
  }
  return { findings, macNotChecked, filesChecked: checked } satisfies CheckReport
})

/** The objects of an encrypted manifest file, by kind and name (those whose name is in clear). */
const documentsOf = (
  file: string,
  bytes: Uint8Array,
  rule: SelectionRule | undefined,
): Array<EncryptedDoc> => {
  const docs = parseManifests(Buffer.from(bytes).toString("utf8"), file) ?? []
  const list: Array<EncryptedDoc> = []
  for (const d of docs) {
    if (!isRecord(d) || typeof d.kind !== "string" || !isRecord(d.metadata)) continue
    const m = d.metadata
    if (typeof m.name !== "string" || isEnc(m.name)) continue
    list.push({
      file,
      kind: d.kind,
      name: m.name,
      namespace: typeof m.namespace === "string" ? m.namespace : undefined,
      rule,
    })
  }
  return list
}

/**
 * The encrypted objects of a resource file a kustomization names that the walk did not see (a base outside
 * PATH): read only inside `roots`, within the size bound.
 */
const loadEncrypted = (file: string, roots: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    let real: string
    try {
      real = realpathSync(file)
    } catch {
      return []
    }
    if (!roots.some((r) => real === r || real.startsWith(r.endsWith(sep) ? r : `${r}${sep}`))) return []
    const text = readText(file)
    if (text === undefined || !manifestExt.test(file)) return []
    const bytes = new Uint8Array(Buffer.from(text, "utf8"))
    const format = formatForPath(file)
    if (detectSops(bytes, format) !== "sops") return []
    const parsed = yield* storeFor(format)
      .readEncrypted(bytes)
      .pipe(Effect.mapError(fromStoreError(file)))
    const { md } = yield* readMetadata(file, parsed.metadata)
    return documentsOf(file, bytes, md.rule)
  }).pipe(Effect.orElseSucceed((): Array<EncryptedDoc> => []))

const secretId = (doc: Record<string, unknown>) => {
  const m = isRecord(doc.metadata) ? doc.metadata : {}
  const name = typeof m.name === "string" ? m.name : "(no name)"
  return typeof m.namespace === "string" ? `${m.namespace}/${name}` : name
}

/** Paths of string leaves under credential-like keys, plaintext and not references. */
const secretLikeLeaves = (doc: unknown): Array<string> => {
  const out: Array<string> = []
  const walk = (v: unknown, path: string, key: string | undefined, depth: number) => {
    if (depth > 100 || out.length >= 100) return
    if (Array.isArray(v))
      v.forEach((x, i) => {
        walk(x, `${path}[${i}]`, key, depth + 1)
      })
    else if (isRecord(v)) for (const [k, x] of Object.entries(v)) walk(x, joinPath(path, k), k, depth + 1)
    else if (
      typeof v === "string" &&
      key !== undefined &&
      secretKeyName.test(key) &&
      v.trim() !== "" &&
      !isEnc(v) &&
      !reference.test(v)
    )
      out.push(path)
  }
  walk(doc, "", undefined, 0)
  return out
}

/** Fields a strategic-merge patch names its target with: merged onto themselves, never plaintext added. */
const identityPaths = new Set(["apiVersion", "kind", "metadata.name", "metadata.namespace"])

/**
 * The places where a patch's plaintext falls under a key `rule` encrypts: the shortest key path the rule
 * selects, for every plaintext leaf. `keys` are the mapping keys from the document root (sops' path), `shownAt`
 * their display paths.
 */
const plaintextUnderRule = (
  value: unknown,
  rule: SelectionRule | undefined,
  base: { readonly keys: ReadonlyArray<string>; readonly shown: ReadonlyArray<string>; readonly at: string },
): Array<string> => {
  const selector = compileRule(rule)
  const out = new Set<string>()
  const walk = (
    v: unknown,
    keys: ReadonlyArray<string>,
    shownAt: ReadonlyArray<string>,
    at: string,
    depth: number,
  ) => {
    if (depth > 100 || out.size >= 50) return
    if (Array.isArray(v))
      v.forEach((x, i) => {
        walk(x, keys, shownAt, `${at}[${i}]`, depth + 1)
      })
    else if (isRecord(v))
      for (const [k, x] of Object.entries(v)) {
        const p = joinPath(at, k)
        walk(x, [...keys, k], [...shownAt, p], p, depth + 1)
      }
    else {
      if (v === null || isEnc(v) || keys.length === 0) return
      if (identityPaths.has(keys.join("."))) return
      for (let j = 1; j <= keys.length; j++)
        if (selector.shouldEncrypt(keys.slice(0, j), [], false)) {
          out.add(shownAt[j - 1]!)
          return
        }
    }
  }
  walk(value, base.keys, base.shown, base.at, 0)
  return [...out]
}

const anchored = (pattern: string) => {
  try {
    return RE2JS.compile(`^(?:${pattern})$`)
  } catch {
    return undefined
  }
}

/** Resources a kustomization's patches apply to: its `resources` files and, recursively, its bases' ones. */
const resourceFiles = (dir: string, depth: number, seen: Set<string>): Array<string> => {
  if (depth > 10 || seen.has(dir)) return []
  seen.add(dir)
  const kfile = kustomizationFileNames.map((n) => join(dir, n)).find((p) => readText(p) !== undefined)
  if (kfile === undefined) return []
  const k = parseKustomization(kfile)
  if (k === undefined) return []
  const out: Array<string> = []
  for (const [key, v] of Object.entries(k))
    if (foldKey(key) === "resources" || foldKey(key) === "bases")
      for (const r of strings(v)) {
        if (/^[a-z][a-z0-9+.-]*:\/\//i.test(r) || r.includes("?")) continue
        const p = resolve(dir, r)
        if (readText(p) !== undefined) out.push(p)
        else out.push(...resourceFiles(p, depth + 1, seen))
      }
  return out
}

const readText = (p: string): string | undefined => {
  try {
    const b = readFileSync(p)
    return b.byteLength > walkLimits.maxFileSize ? undefined : b.toString("utf8")
  } catch {
    return undefined
  }
}

const parseKustomization = (file: string): Record<string, unknown> | undefined => {
  const text = readText(file)
  if (text === undefined) return undefined
  try {
    const doc = YAML.parse(text, { uniqueKeys: false, maxAliasCount: 1000 }) as unknown
    return isRecord(doc) ? doc : undefined
  } catch {
    return undefined
  }
}

interface Patch {
  /** Where its text is: a patch file, or the kustomization file for an inline patch. */
  readonly file: string
  /** For an inline patch, its field (`patches[0].patch`); prefixes the key path. */
  readonly field: string | undefined
  readonly docs: ReadonlyArray<unknown>
  readonly target: Record<string, unknown> | undefined
}

const patchesOf = (kfile: string, k: Record<string, unknown>): Array<Patch> => {
  const dir = dirname(kfile)
  const out: Array<Patch> = []
  const load = (
    field: string,
    inline: string | undefined,
    path: string | undefined,
    target: Record<string, unknown> | undefined,
  ) => {
    if (path !== undefined) {
      const abs = resolve(dir, path)
      const text = readText(abs)
      const docs = text === undefined ? undefined : parseManifests(text, abs)
      if (docs !== undefined) out.push({ file: abs, field: undefined, docs, target })
    } else if (inline !== undefined) {
      const docs = parseManifests(inline, "inline.yaml")
      if (docs !== undefined) out.push({ file: kfile, field, docs, target })
    }
  }
  for (const [key, v] of Object.entries(k)) {
    const folded = foldKey(key)
    if (folded === "patches" || folded === "patchesjson6902")
      records(v).forEach((p, i) => {
        const path = fieldEntries(p, "path").find(([, x]) => typeof x === "string")?.[1] as string | undefined
        const inline = fieldEntries(p, "patch").find(([, x]) => typeof x === "string")?.[1] as
          | string
          | undefined
        const target = fieldEntries(p, "target").find(([, x]) => isRecord(x))?.[1] as
          | Record<string, unknown>
          | undefined
        load(`${key}[${i}].patch`, inline, path, target)
      })
    else if (folded === "patchesstrategicmerge")
      strings(v).forEach((s, i) => {
        // kustomize tries an entry as inline YAML first, then as a path
        if (readText(resolve(dir, s)) !== undefined && !s.includes("\n"))
          load(`${key}[${i}]`, undefined, s, undefined)
        else load(`${key}[${i}]`, s, undefined, undefined)
      })
  }
  return out
}

/** JSON pointer segments (RFC 6901 unescaped). */
const pointer = (p: string) =>
  p
    .split("/")
    .slice(1)
    .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"))

/** The seed's `encrypted_regex` conflict in one kustomization's patches. */
const conflicts = Effect.fn("check.conflicts")(function* (
  kfile: string,
  encrypted: Map<string, ReadonlyArray<EncryptedDoc>>,
  roots: ReadonlyArray<string>,
  shown: (f: string) => string,
) {
  const k = parseKustomization(kfile)
  if (k === undefined) return []
  const targets: Array<EncryptedDoc> = []
  for (const f of resourceFiles(dirname(kfile), 0, new Set())) {
    let docs = encrypted.get(f)
    if (docs === undefined) {
      docs = yield* loadEncrypted(f, roots)
      encrypted.set(f, docs)
    }
    targets.push(...docs)
  }
  if (targets.length === 0) return []
  const out: Array<Finding> = []
  for (const patch of patchesOf(kfile, k)) {
    for (const doc of patch.docs) {
      const ops = Array.isArray(doc) ? doc.filter(isRecord) : undefined
      let matched: Array<EncryptedDoc>
      if (patch.target !== undefined) {
        const t = patch.target
        const re = (f: string) =>
          typeof t[f] === "string" && t[f] !== "" ? anchored(t[f] as string) : undefined
        const [kind, name, ns] = [re("kind"), re("name"), re("namespace")]
        matched = targets.filter(
          (d) =>
            (kind === undefined || kind.matcher(d.kind).matches()) &&
            (name === undefined || name.matcher(d.name).matches()) &&
            (ns === undefined || ns.matcher(d.namespace ?? "").matches()),
        )
      } else if (isRecord(doc) && isRecord(doc.metadata)) {
        const m = doc.metadata
        matched = targets.filter((d) => d.kind === doc.kind && d.name === m.name)
      } else matched = []
      for (const target of matched) {
        const paths: Array<string> = []
        if (ops !== undefined) {
          for (const op of ops) {
            if ((op.op !== "add" && op.op !== "replace") || typeof op.path !== "string") continue
            const keys = pointer(op.path).filter((s) => !/^(?:\d+|-)$/.test(s))
            const shownKeys = keys.map(() => op.path as string)
            if (!isRecord(op.value) && !Array.isArray(op.value)) {
              if (op.value === null || isEnc(op.value) || keys.length === 0) continue
              const sel = compileRule(target.rule)
              for (let j = 1; j <= keys.length; j++)
                if (sel.shouldEncrypt(keys.slice(0, j), [], false)) {
                  paths.push(op.path)
                  break
                }
            } else
              paths.push(
                ...plaintextUnderRule(op.value, target.rule, { keys, shown: shownKeys, at: op.path }),
              )
          }
        } else paths.push(...plaintextUnderRule(doc, target.rule, { keys: [], shown: [], at: "" }))
        const rule =
          target.rule === undefined ? "its selection rule" : `${target.rule.kind} ${target.rule.value}`
        for (const p of paths)
          out.push({
            file: shown(patch.file),
            path: patch.field === undefined ? p : `${patch.field}: ${p}`,
            kind: "encrypted-regex-conflict",
            message: `patch puts plaintext under a key ${rule} of encrypted ${target.kind} ${target.name} (${shown(target.file)}) covers; sops fails on it after the build`,
            fix: `encrypt the patch with the same rule (kustodian encrypt -i --${target.rule?.kind.replaceAll("_", "-") ?? "encrypted-regex"} '${target.rule?.value ?? ""}' ${shown(patch.file)}) or keep its values out of covered keys`,
          })
      }
    }
  }
  return out
})

/** Every `pgp` fingerprint of every creation rule of a `.sops.yaml` (key groups and `merge` included). */
const configFingerprints = (config: string, text: string): Array<string> => {
  let doc: unknown
  try {
    doc = YAML.parse(text, { maxAliasCount: 1000 })
  } catch {
    return []
  }
  if (!isRecord(doc) || !Array.isArray(doc.creation_rules)) return []
  const fps: Array<string> = []
  for (const r of doc.creation_rules) {
    if (!isRecord(r)) continue
    const { path_regex: _ignored, ...rest } = r
    try {
      const rule = creationRuleFor(config, YAML.stringify({ creation_rules: [rest] }), "x")
      for (const g of rule?.keyGroups ?? []) for (const key of g) if (key.type === "pgp") fps.push(key.fp)
    } catch {
      // the file-level check reports a broken rule
    }
  }
  return fps
}

const publicKeyFinding = Effect.fn("check.publicKey")(function* (file: string, config: string, text: string) {
  const armored = readText(file)
  const unreadable = {
    path: "-",
    message: "not an armored OpenPGP public key",
    fix: "gpg --export --armor FINGERPRINT > .sops.pub.asc",
  }
  if (armored === undefined) return unreadable
  const keys = yield* Effect.tryPromise({
    try: () => openpgp.readKeys({ armoredKeys: armored }),
    catch: () => "unreadable" as const,
  }).pipe(Effect.orElseSucceed(() => undefined))
  if (keys === undefined || keys.length === 0) return unreadable
  if (keys.some((k) => k.isPrivate()))
    return {
      path: "-",
      message: "holds a PRIVATE key: anyone with the repository can decrypt",
      fix: "remove it from git history, rotate the key, commit gpg --export --armor FINGERPRINT (public only)",
    }
  const wanted = configFingerprints(config, text).map((f) => f.toUpperCase().replace(/\s/g, ""))
  const have = keys.flatMap((k) => [k, ...k.getSubkeys()].map((s) => s.getFingerprint().toUpperCase()))
  const primary = keys.map((k) => k.getFingerprint().toUpperCase())
  if (wanted.some((w) => have.some((h) => w !== "" && h.endsWith(w)))) return undefined
  const rel = relative(dirname(file), config) || ".sops.yaml"
  return {
    path: "fingerprint",
    message:
      wanted.length === 0
        ? `key ${primary.join(", ")} but ${rel} has no pgp key`
        : `key ${primary.join(", ")} is not the pgp key of ${rel} (${wanted.join(", ")})`,
    fix: `gpg --export --armor ${wanted[0] ?? "FINGERPRINT"} > ${basename(file)}`,
  }
})
