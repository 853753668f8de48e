/**
 * Fuzz target `sops/stores`: hostile files for all five SOPS stores (yaml, json, dotenv, ini, binary) through
 * the engine's entry points used on repository content — `detectSops` and `decrypt` — with a real age key.
 * Seeds are encrypted in process at load time; each input is one of:
 * - an encrypted seed with 1–6 byte/token mutations (sometimes read as another store);
 * - a plaintext seed (which holds the secret in clear) with mutations, decrypted as if it were encrypted;
 * - a generated YAML file — nested block/flow collections, anchors and aliases (alias bombs of up to 9
 *   levels), comments, tags, deep nesting — spliced with the encrypted seed's values and metadata;
 * - a splice of two seeds of different stores, or short random bytes.
 * Every input must end in success or a typed SOPS error (never a defect or another exception), and no error
 * message may contain the seed's plaintext (outside key paths, for plaintext inputs: see `withoutPaths`).
 * The runner records the slowest input.
 *
 * @module
 */
import { generateIdentity, identityToRecipient } from "age-encryption"
import { Cause, Effect, Exit } from "effect"
import {
  type DataKeyCache,
  decrypt,
  detectSops,
  encrypt,
  type Format,
  type Keyring,
  type MacPolicy,
  makeDataKeyCache,
} from "../../operator/src/sops/index.ts"
import type { FuzzTarget } from "./target.ts"

/** The plaintext every seed holds; it must never appear in an error message. */
const SECRET = "s3cr3t-fuzz-plaintext-Qx7"
const formats: ReadonlyArray<Format> = ["yaml", "json", "dotenv", "ini", "binary"]
const tags = new Set([
  "DataKeyError",
  "MacMismatch",
  "MalformedValue",
  "BadMetadata",
  "UnsupportedInput",
  "TooManyValues",
  "EncryptError",
  "ConfigError",
])

const plaintexts: Record<Format, string> = {
  yaml: [
    "# head comment",
    "apiVersion: v1",
    "base: &base",
    `    password: ${SECRET}`,
    "    # inside",
    "    list:",
    `        - ${SECRET}`,
    "        - 12",
    "        - [a, {b: c}]",
    "other:",
    "    <<: *base",
    "    ref: *base",
    "    when: 2001-12-14t21:59:43.10-05:00",
    "    bin: !!binary aGVsbG8=",
    "    text: |",
    `        ${SECRET}`,
    "        second line",
    "flag: true # eol",
    "---",
    `second: ${SECRET}`,
    "",
  ].join("\n"),
  json: `{"password": "${SECRET}", "n": 1.5, "big": 12345678901234567890, "nested": {"a": [1, "${SECRET}", null, true, {"x": "\\u00e9"}]}}`,
  dotenv: `# comment\nPASSWORD=${SECRET}\nMULTI=a\\nb\nOTHER=x\n`,
  ini: `; c\n[db]\npassword = ${SECRET}\nuser = app\n# c2\n[db]\nhost = "h"\n[empty]\n`,
  binary: `${SECRET}\n\u0000\u00ff binary tail\n`,
}

const identity = await generateIdentity()
const recipient = await identityToRecipient(identity)
const keyring: Keyring = { scope: "fuzz/stores", age: [identity], pgp: [] }
const encoder = new TextEncoder()
const sealed = {} as Record<Format, Uint8Array>
for (const f of formats)
  sealed[f] = await Effect.runPromise(
    encrypt({
      bytes: encoder.encode(plaintexts[f]),
      format: f,
      file: `seed.${f}`,
      keyGroups: [[{ type: "age", recipient }]],
    }),
  )
const plainBytes = Object.fromEntries(formats.map((f) => [f, encoder.encode(plaintexts[f])])) as Record<
  Format,
  Uint8Array
>
const yamlSeed = Buffer.from(sealed.yaml).toString("utf8")
/** The encrypted YAML seed's `sops:` block and its ENC values, for generated files. */
const sopsBlock = yamlSeed.slice(yamlSeed.lastIndexOf("\nsops:") + 1)
const encValues = [...yamlSeed.matchAll(/ENC\[AES256_GCM,[^\]]*\]/g)].map((m) => m[0])

/** One cache for the run (as the operator shares one per Secret): unchanged key blocks skip the age unwrap. */
const cache: DataKeyCache = makeDataKeyCache(64)

const int = (rng: () => number, n: number) => Math.floor(rng() * n)
const pick = <A>(rng: () => number, xs: ReadonlyArray<A>): A => xs[int(rng, xs.length)]!

const tokens: Record<Format, ReadonlyArray<string>> = {
  yaml: [
    "&a ",
    "*a",
    "&b ",
    "*b",
    "[",
    "]",
    "{",
    "}",
    "- ",
    ": ",
    "\n  ",
    "\n",
    "# c\n",
    "---\n",
    "...\n",
    "!!binary ",
    "!!int ",
    "!!map ",
    "<<: *a\n",
    "? ",
    "|\n",
    ">-\n",
    "'",
    '"',
    "\t",
    "ENC[AES256_GCM,",
    ",type:str]",
    "sops:\n",
    "    mac: ",
    "\u00ff",
    "\ufeff",
    "%YAML 1.2\n",
  ],
  json: [
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    '"',
    "\\u00",
    "\\ud800",
    "1e999",
    "-0",
    "null",
    '"sops"',
    "ENC[",
    "12345678901234567890",
    " ",
    "\n",
  ],
  dotenv: ["=", "\n", "sops_", "#", "sops_mac=", "\\n", "ENC[AES256_GCM,", "\r\n"],
  ini: ["[", "]", "=", ";", "#", "\n", "[sops]\n", '"""', "`", ":", "mac = ", "ENC[AES256_GCM,", " "],
  binary: ["{", "}", '"data"', ":", '"', ",", "ENC[", "\\u0000", "\n"],
}

/** 1–6 mutations: flips, deletions, insertions of format tokens, duplications, truncation, byte writes. */
const mutate = (rng: () => number, src: Uint8Array, format: Format): Uint8Array => {
  let b = Buffer.from(src)
  // Mostly one or two: a single change reaches the deeper stages (metadata, values, MAC) more often.
  for (let n = 1 + int(rng, rng() < 0.7 ? 2 : 6); n > 0; n--) {
    const at = b.length === 0 ? 0 : int(rng, b.length)
    const len = 1 + int(rng, 40)
    switch (int(rng, 7)) {
      case 0:
        if (b.length > 0) b[at] = b[at]! ^ (1 << int(rng, 8))
        break
      case 1:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + len)])
        break
      case 2:
      case 3:
        b = Buffer.concat([b.subarray(0, at), Buffer.from(pick(rng, tokens[format])), b.subarray(at)])
        break
      case 4:
        if (b.length < 1 << 16) b = Buffer.concat([b.subarray(0, at + len), b.subarray(at)])
        break
      case 5:
        b = b.subarray(0, at)
        break
      default:
        if (b.length > 0) b[at] = int(rng, 256)
    }
  }
  return new Uint8Array(b)
}

/** A random YAML scalar: plain, quoted, typed, tagged, block, or an ENC value of the seed. */
const scalar = (rng: () => number): string =>
  pick(rng, [
    () => pick(rng, ["x", "value", "true", "~", "null", "0x1F", "1_000", ".inf", "-.5e3", "08", "<<", "yes"]),
    () => `'${pick(rng, ["q", "it''s", ""])}'`,
    () => `"${pick(rng, ["d", "\\u00e9", "\\x41", "a\\nb", ""])}"`,
    () => pick(rng, ["2001-12-14", "2001-12-14 21:59:43.10", "2001-02-30", "99999999999999999999"]),
    () =>
      `${pick(rng, ["!!str", "!!int", "!!float", "!!bool", "!!binary", "!Custom", "!!null", "!!timestamp"])} ${pick(rng, ["1", "aGVsbG8=", "x", "2001-12-14"])}`,
    () => pick(rng, encValues),
  ])()

/** A flow collection of scalars, aliases and nested flow collections. */
const flow = (rng: () => number, depth: number, anchors: Array<string>): string => {
  const item = () =>
    depth > 1 && rng() < 0.3
      ? flow(rng, depth - 1, anchors)
      : anchors.length > 0 && rng() < 0.2
        ? `*${pick(rng, anchors)}`
        : scalar(rng).replace(/ # eol$/, "")
  const items = Array.from({ length: int(rng, 4) }, item)
  return rng() < 0.5 ? `[${items.join(", ")}]` : `{${items.map((v, i) => `f${i}: ${v}`).join(", ")}}`
}

/** A random YAML value at `indent`, with anchors, aliases of earlier anchors, comments and flow parts. */
const node = (rng: () => number, depth: number, indent: number, anchors: Array<string>): string => {
  const pad = " ".repeat(indent)
  const r = rng()
  if (anchors.length > 0 && r < 0.12) return ` *${pick(rng, anchors)}`
  const anchor = rng() < 0.15 ? `&a${anchors.length} ` : ""
  if (anchor) anchors.push(`a${anchors.length}`)
  if (depth <= 0 || r < 0.35) return ` ${anchor}${scalar(rng)}${rng() < 0.1 ? " # eol" : ""}`
  if (r < 0.5) return ` ${anchor}${flow(rng, depth, anchors)}`
  const lines: Array<string> = []
  const n = 1 + int(rng, 4)
  for (let i = 0; i < n; i++) {
    if (rng() < 0.15) lines.push(`${pad}${rng() < 0.5 ? "#" : "# c"}`)
    if (r < 0.75)
      lines.push(`${pad}k${depth}_${i}:${node(rng, depth - 1, indent + 2 + int(rng, 3), anchors)}`)
    else lines.push(`${pad}-${node(rng, depth - 1, indent + 2, anchors)}`)
  }
  if (rng() < 0.1) lines.push(`${" ".repeat(int(rng, indent + 2))}# trailing`)
  return ` ${anchor}\n${lines.join("\n")}`
}

/** A billion-laughs document: `levels` anchored collections of `width` aliases each. */
const bomb = (rng: () => number): string => {
  const levels = 2 + int(rng, 8)
  const width = 2 + int(rng, 11)
  const flow = rng() < 0.5
  const list = (xs: ReadonlyArray<string>) =>
    flow ? ` [${xs.join(", ")}]` : `\n${xs.map((x) => `  - ${x}`).join("\n")}`
  let s = `b0: &b0${list(Array(width).fill(rng() < 0.5 ? "lol" : pick(rng, encValues)))}\n`
  for (let i = 1; i < levels; i++) s += `b${i}: &b${i}${list(Array(width).fill(`*b${i - 1}`))}\n`
  return s
}

/** A generated YAML file: random documents, sometimes a bomb or very deep nesting, with the seed's metadata. */
export const generatedYaml = (rng: () => number): Uint8Array => {
  const anchors: Array<string> = []
  const docs: Array<string> = []
  for (let d = 1 + (rng() < 0.2 ? int(rng, 3) : 0); d > 0; d--) {
    const keys = Array.from(
      { length: 1 + int(rng, 6) },
      (_, i) => `key${i}:${node(rng, 1 + int(rng, 5), 4, anchors)}`,
    )
    docs.push(keys.join("\n"))
  }
  let text = docs.join("\n---\n")
  const extra = rng()
  if (extra < 0.25) text = `${bomb(rng)}${text}`
  else if (extra < 0.3) {
    const n = 100 + int(rng, 3000)
    text += `\ndeep: ${"[".repeat(n)}${"]".repeat(n)}`
  } else if (extra < 0.33) {
    text += `\n${Array.from({ length: 50 + int(rng, 400) }, (_, i) => `${" ".repeat(i)}n${i}:`).join("\n")} x`
  }
  // The seed's metadata: key recovery succeeds (cached), then values, aliases and the MAC are exercised.
  return encoder.encode(rng() < 0.9 ? `${text}\n${sopsBlock}` : `${sopsBlock}${text}\n`)
}

/** Outcomes by kind (success, or the error tag and the first words of its reason), for a look at coverage. */
export const outcomes = new Map<string, number>()
const tally = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1)

/**
 * The message without its key paths (`… (line 3:5, key a:b)` of the stores, `file at a.b: …` of the engine).
 * Keys are named in errors by design — sops never encrypts a key — and in a mutated plaintext file the secret
 * can become part of a key (`- secret<<: *a`), so there only the rest of the message is checked.
 */
const withoutPaths = (message: string) => message.replace(/key [^)]*\)/g, "").replace(/ at [^:]*:/g, ":")

const check = (
  exit: Exit.Exit<unknown, { readonly _tag: string; readonly message: string }>,
  what: string,
  plaintextInput: boolean,
) => {
  if (Exit.isSuccess(exit)) {
    tally("success")
    return
  }
  if (Cause.hasDies(exit.cause) || Cause.hasInterrupts(exit.cause))
    throw new Error(`${what}: defect: ${Cause.pretty(exit.cause).slice(0, 300)}`)
  const e = Cause.findErrorOption(exit.cause)
  if (e._tag === "None")
    throw new Error(`${what}: failure without an error: ${Cause.pretty(exit.cause).slice(0, 300)}`)
  if (!tags.has(e.value._tag)) throw new Error(`${what}: untyped error ${e.value._tag}`)
  tally(
    `${e.value._tag}: ${e.value.message
      .replace(/^[^:]*: /, "")
      .replace(/\(line.*$|[0-9]+/g, "")
      .slice(0, 50)}`,
  )
  const message = plaintextInput ? withoutPaths(e.value.message) : e.value.message
  if (message.includes(SECRET) || message.includes(SECRET.slice(0, 12)))
    throw new Error(`${what}: plaintext in the error message of ${e.value._tag}`)
}

export const target: FuzzTarget = {
  name: "sops/stores",
  asserted:
    "mutated and generated yaml/json/dotenv/ini/binary files (encrypted with a real age key in process) through detectSops and decrypt end in success or a typed SopsError, never a defect or another exception, and no error message contains the seed's plaintext (key paths excepted for mutated plaintext inputs, where the secret can become a key)",
  run: async (rng) => {
    const mode = rng()
    let format: Format = pick(rng, formats)
    let bytes: Uint8Array
    const plaintextInput = mode >= 0.45 && mode < 0.6
    if (mode < 0.45) {
      bytes = mutate(rng, sealed[format], format)
      if (rng() < 0.1) format = pick(rng, formats)
    } else if (mode < 0.6) {
      bytes = mutate(rng, plainBytes[format], format)
    } else if (mode < 0.88) {
      format = "yaml"
      bytes = generatedYaml(rng)
      if (rng() < 0.3) bytes = mutate(rng, bytes, "yaml")
    } else if (mode < 0.96) {
      const a = sealed[pick(rng, formats)]
      const b = sealed[pick(rng, formats)]
      const cut = int(rng, a.length)
      bytes = new Uint8Array(Buffer.concat([a.subarray(0, cut), b.subarray(int(rng, b.length))]))
    } else {
      bytes = new Uint8Array(Array.from({ length: int(rng, 64) }, () => int(rng, 256)))
    }
    const detected = detectSops(bytes, format, 5 * 1024 * 1024)
    if (detected !== "plain" && detected !== "sops" && detected !== "oversized")
      throw new Error(`detectSops answered ${String(detected)}`)
    const mac: MacPolicy = pick(rng, ["strict", "warn", "ignore"])
    const maxValues = rng() < 0.1 ? int(rng, 4) : undefined
    const exit = await Effect.runPromiseExit(
      decrypt({
        bytes,
        format,
        file: `input.${format}`,
        keyring,
        mac,
        cache,
        ...(maxValues === undefined ? {} : { maxValues }),
        ...(rng() < 0.2 ? { outputFormat: pick(rng, formats) } : {}),
      }),
    )
    check(exit, `decrypt ${format} (${bytes.length} bytes)`, plaintextInput)
  },
}
