/**
 * Cheap answer to "is this a sops file?" for callers deciding what to decrypt — and for the guard that refuses
 * anything still encrypted, which runs on every Secret value of every build, encrypted or not. The answer must
 * therefore cost little on any input, hostile or huge: it never parses the file. It looks for the shape every
 * file sops writes has, in one linear pass:
 * - YAML: a top-level `sops:` key (column 0) whose block holds a `mac` or `lastmodified` key;
 * - JSON and binary: a top-level `"sops"` object with one of those keys (native `JSON.parse`, linear);
 * - dotenv: a `sops_mac=` or `sops_lastmodified=` line;
 * - INI: a `[sops]` section with a `mac` or `lastmodified` key.
 * A file that has the shape but is broken elsewhere is still "sops": decrypting it then fails with a typed
 * error naming the file, as Flux does with its marker test.
 *
 * @module
 */
import type { Format } from "./format.ts"

/** `sops`: looks encrypted; `plain`: does not; `oversized`: carries the markers but is larger than allowed. */
export type SopsDetection = "plain" | "sops" | "oversized"

/** Calls `f` on each line of `text` from `from` (without its `\n`); stops when `f` returns a boolean. */
const eachLine = (text: string, from: number, f: (line: string) => boolean | undefined): boolean => {
  for (let start = from; start < text.length; ) {
    const nl = text.indexOf("\n", start)
    const end = nl < 0 ? text.length : nl
    const r = f(text.slice(start, end))
    if (r !== undefined) return r
    start = end + 1
  }
  return false
}

const TOP_SOPS_YAML = /(?:^|\n)(?:\xEF\xBB\xBF)?(["']?)sops\1[ \t]*:/g
const YAML_MD_KEY = /^[ \t]+["']?(?:mac|lastmodified)["']?[ \t]*:/
const FLOW_MD_KEY = /[{,][ \t]*["']?(?:mac|lastmodified)["']?[ \t]*:/

const yamlLike = (text: string): boolean => {
  TOP_SOPS_YAML.lastIndex = 0
  for (let m = TOP_SOPS_YAML.exec(text); m !== null; m = TOP_SOPS_YAML.exec(text)) {
    const keyEnd = m.index + m[0].length
    const eol = text.indexOf("\n", keyEnd)
    // `sops: {mac: …}` on one line, or a block below the key up to the next line at column 0.
    if (FLOW_MD_KEY.test(text.slice(keyEnd, eol < 0 ? text.length : eol))) return true
    if (eol < 0) return false
    const found = eachLine(text, eol + 1, (line) => {
      const c = line[0]
      if (c !== undefined && c !== " " && c !== "\t" && c !== "#" && c !== "\r") return false
      return YAML_MD_KEY.test(line) ? true : undefined
    })
    if (found) return true
    TOP_SOPS_YAML.lastIndex = Math.max(TOP_SOPS_YAML.lastIndex, keyEnd)
  }
  return false
}

const jsonLike = (text: string): boolean => {
  try {
    const v = JSON.parse(text) as unknown
    if (v === null || typeof v !== "object" || Array.isArray(v)) return false
    const md = (v as Record<string, unknown>).sops
    return (
      md !== null && typeof md === "object" && !Array.isArray(md) && ("mac" in md || "lastmodified" in md)
    )
  } catch {
    return false
  }
}

const DOTENV_MD = /(?:^|\n)sops_(?:mac|lastmodified)=/

const INI_SECTION = /^[ \t]*\[/
const INI_SOPS = /^[ \t]*\[[ \t]*sops[ \t]*\]/
const INI_MD_KEY = /^[ \t]*(?:mac|lastmodified)[ \t]*[=:]/

const iniLike = (text: string): boolean => {
  let inSops = false
  return eachLine(text, 0, (line) => {
    if (INI_SECTION.test(line)) inSops = INI_SOPS.test(line)
    else if (inSops && INI_MD_KEY.test(line)) return true
    return undefined
  })
}

/** Whether `bytes` look like a file sops wrote in `format`; `oversized` when they would but exceed `maxSize`. */
export const detectSops = (
  bytes: Uint8Array,
  format: Format,
  maxSize = Number.POSITIVE_INFINITY,
): SopsDetection => {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  // Most files of a repository are plain: two substring searches decide them.
  if (!buf.includes("sops") || !(buf.includes("lastmodified") || buf.includes("mac"))) return "plain"
  if (bytes.byteLength > maxSize) return "oversized"
  // latin1 maps bytes 1:1, so the markers (ASCII) are found without decoding UTF-8; JSON needs the real text.
  switch (format) {
    case "yaml":
      return yamlLike(buf.toString("latin1")) ? "sops" : "plain"
    case "json":
    case "binary":
      return jsonLike(buf.toString("utf8")) ? "sops" : "plain"
    case "dotenv":
      return DOTENV_MD.test(buf.toString("latin1")) ? "sops" : "plain"
    case "ini":
      return iniLike(buf.toString("latin1")) ? "sops" : "plain"
  }
}

/** True when the bytes look like a sops file in `format` (see {@link detectSops}; no size limit). */
export const hasSopsMetadata = (bytes: Uint8Array, format: Format): boolean =>
  detectSops(bytes, format) === "sops"
