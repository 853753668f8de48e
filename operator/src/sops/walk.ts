/**
 * The tree walk that drives value encryption, decryption and the MAC (§2.2, §4.3, §5): depth first in document
 * order, paths made of mapping keys only (list elements share their list's path), a comment stack per container.
 *
 * Synchronous and allocation-light: it runs over every leaf of every file. Failures are thrown as
 * {@link WalkError} (key path + reason, never a value) and mapped to engine errors by the caller.
 *
 * @module
 */
import {
  CipherError,
  decryptValue,
  encryptValue,
  isEncrypted,
  parseEncrypted,
  scalarBytes,
} from "./cipher.ts"
import { Mac } from "./mac.ts"
import type { Selector } from "./rules.ts"
import {
  type Branch,
  branch,
  type Comment,
  type Documents,
  type Item,
  isBranch,
  isComment,
  isList,
  type List,
  list,
  comment as makeComment,
  type Value,
} from "./tree.ts"

/** A leaf failed; `path` is where, `reason` says why. */
export class WalkError extends Error {
  override readonly name = "WalkError"
  readonly path: ReadonlyArray<string>
  readonly reason: string
  readonly kind: "malformed" | "unsupported"
  constructor(path: ReadonlyArray<string>, reason: string, kind: "malformed" | "unsupported" = "malformed") {
    super(reason)
    this.path = path
    this.reason = reason
    this.kind = kind
  }
}

export interface WalkOptions {
  readonly key: Uint8Array
  readonly selector: Selector
  readonly macOnlyEncrypted: boolean
  /**
   * IVs by (additional data, typed plaintext), as sops' cipher stash: decrypting records the IV of every value,
   * encrypting reuses it for the same plaintext at the same path, so an unchanged value keeps its ciphertext.
   */
  readonly stash?: IvStash
}

/** See {@link WalkOptions.stash}. */
export type IvStash = Map<string, Uint8Array>

const stashKey = (aad: string, v: Exclude<Value, null | Branch | List> | Comment): string =>
  `${aad}\u0000${stashType(v)}\u0000${Buffer.from(scalarBytes(v)).toString("base64")}`

const stashType = (v: Exclude<Value, null | Branch | List> | Comment): string =>
  typeof v === "string" || v instanceof Uint8Array
    ? "str"
    : typeof v === "bigint"
      ? "int"
      : typeof v === "boolean"
        ? "bool"
        : v._tag

export interface DecryptWalkOptions extends WalkOptions {
  /** Decrypt `str` values to bytes (binary store). */
  readonly rawBytes?: boolean
  /** Called (without the text) when a comment at an encrypted position does not decrypt and is kept as is. */
  readonly onUndecryptableComment?: (path: ReadonlyArray<string>) => void
}

const aadOf = (path: ReadonlyArray<string>) => (path.length === 0 ? ":" : `${path.join(":")}:`)

type Stack = Array<Array<string>>

const typeName = (v: Value): string =>
  typeof v === "bigint"
    ? "int"
    : typeof v === "boolean"
      ? "bool"
      : v instanceof Uint8Array
        ? "bytes"
        : v === null
          ? "null"
          : typeof v === "string"
            ? "string"
            : v._tag.toLowerCase()

/** Decrypts every selected leaf; returns the cleartext documents and the MAC computed over them. */
export const decryptDocuments = (
  docs: Documents,
  o: DecryptWalkOptions,
): { documents: Documents; mac: string } => {
  const mac = new Mac(o.macOnlyEncrypted)

  const leaf = (v: Value, path: ReadonlyArray<string>, stack: Stack): Value | Comment => {
    if (v === null) return v
    const enc = o.selector.shouldEncrypt(path, stack, false)
    let out: Value | Comment = v
    if (enc) {
      if (typeof v !== "string")
        throw new WalkError(path, `expected an encrypted value (string), found ${typeName(v)}`)
      try {
        out = decryptValue(v, o.key, aadOf(path), o.rawBytes)
        if (o.stash !== undefined && v !== "") o.stash.set(stashKey(aadOf(path), out), parseEncrypted(v).iv)
      } catch (e) {
        if (e instanceof CipherError) throw new WalkError(path, e.message)
        throw e
      }
    }
    if (!isComment(out) && (enc || !o.macOnlyEncrypted)) mac.add(out as Exclude<Value, null | Branch | List>)
    return out
  }

  const comment = (c: Comment, path: ReadonlyArray<string>, stack: Stack): Comment => {
    stack[stack.length - 1]!.push(c.value)
    if (!o.selector.shouldEncrypt(path, stack, true) || c.value === "") return c
    // a comment at an encrypted position that does not decrypt (older writers left some in clear) is kept
    if (!isEncrypted(c.value)) {
      o.onUndecryptableComment?.(path)
      return c
    }
    try {
      const d = decryptValue(c.value, o.key, aadOf(path))
      if (o.stash !== undefined && isComment(d))
        o.stash.set(stashKey(aadOf(path), d), parseEncrypted(c.value).iv)
      return isComment(d) ? d : c
    } catch {
      o.onUndecryptableComment?.(path)
      return c
    }
  }

  const value = (v: Value, path: ReadonlyArray<string>, stack: Stack): Value | Comment =>
    isBranch(v) ? walkBranch(v, path, stack) : isList(v) ? walkList(v, path, stack) : leaf(v, path, stack)

  const walkBranch = (b: Branch, path: ReadonlyArray<string>, stack: Stack): Branch => {
    const active: Array<string> = []
    stack.push(active)
    const items: Array<Item> = []
    for (const item of b.items) {
      if (isComment(item.key)) {
        items.push({ key: comment(item.key, path, stack), value: null })
        continue
      }
      const childPath = [...path, item.key]
      const out = value(item.value, childPath, stack)
      // a mapping value cannot be a comment; keep the text of an ENC[…,type:comment] found there
      items.push({ key: item.key, value: isComment(out) ? out.value : out })
      active.length = 0
    }
    stack.pop()
    return branch(items)
  }

  const walkList = (l: List, path: ReadonlyArray<string>, stack: Stack): List => {
    const active: Array<string> = []
    stack.push(active)
    const items: Array<Value | Comment> = []
    for (const el of l.items) {
      if (isComment(el)) {
        items.push(comment(el, path, stack))
        continue
      }
      items.push(value(el, path, stack))
      active.length = 0
    }
    stack.pop()
    return list(items)
  }

  const documents = docs.map((d) => walkBranch(d, [], []))
  return { documents, mac: mac.digest() }
}

/** Encrypts every selected leaf; returns the encrypted documents and the MAC over the cleartext. */
export const encryptDocuments = (docs: Documents, o: WalkOptions): { documents: Documents; mac: string } => {
  const mac = new Mac(o.macOnlyEncrypted)
  const commentRegex = o.selector.rule?.kind === "unencrypted_comment_regex" ? o.selector : undefined
  const encryptStashed = (v: Exclude<Value, null | Branch | List> | Comment, aad: string): string => {
    const iv = o.stash?.get(stashKey(aad, v))
    return iv === undefined ? encryptValue(v, o.key, aad) : encryptValue(v, o.key, aad, iv)
  }

  const leaf = (v: Value, path: ReadonlyArray<string>, stack: Stack): Value => {
    if (v === null) return v
    const enc = o.selector.shouldEncrypt(path, stack, false)
    if (enc || !o.macOnlyEncrypted) mac.add(v as Exclude<Value, null | Branch | List>)
    if (!enc) return v
    return encryptStashed(v as Exclude<Value, null | Branch | List>, aadOf(path))
  }

  const comment = (c: Comment, path: ReadonlyArray<string>, stack: Stack): string | undefined => {
    stack[stack.length - 1]!.push(c.value)
    if (!o.selector.shouldEncrypt(path, stack, true)) return undefined
    const e = encryptStashed(c, aadOf(path))
    if (commentRegex !== undefined && e !== "" && !commentRegex.shouldEncrypt(path, [[e]], false))
      throw new WalkError(path, "an encrypted comment matches unencrypted_comment_regex", "unsupported")
    return e
  }

  const value = (v: Value, path: ReadonlyArray<string>, stack: Stack): Value =>
    isBranch(v) ? walkBranch(v, path, stack) : isList(v) ? walkList(v, path, stack) : leaf(v, path, stack)

  const walkBranch = (b: Branch, path: ReadonlyArray<string>, stack: Stack): Branch => {
    const active: Array<string> = []
    stack.push(active)
    const items: Array<Item> = []
    for (const item of b.items) {
      if (isComment(item.key)) {
        const e = comment(item.key, path, stack)
        items.push({ key: e === undefined ? item.key : makeComment(e, item.key.inline), value: null })
        continue
      }
      items.push({ key: item.key, value: value(item.value, [...path, item.key], stack) })
      active.length = 0
    }
    stack.pop()
    return branch(items)
  }

  const walkList = (l: List, path: ReadonlyArray<string>, stack: Stack): List => {
    const active: Array<string> = []
    stack.push(active)
    const items: Array<Value | Comment> = []
    for (const el of l.items) {
      if (isComment(el)) {
        const e = comment(el, path, stack)
        // an encrypted comment inside a sequence becomes an ordinary element holding the ENC string (§3.5)
        items.push(e === undefined ? el : e === "" ? el : e)
        continue
      }
      items.push(value(el, path, stack))
      active.length = 0
    }
    stack.pop()
    return list(items)
  }

  const documents = docs.map((d) => walkBranch(d, [], []))
  return { documents, mac: mac.digest() }
}
