import { createHash, randomBytes } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { decryptValue } from "./cipher.ts"
import { compileRule, defaultRule } from "./rules.ts"
import { type Branch, branch, comment, float, isComment, type List, list } from "./tree.ts"
import { decryptDocuments, encryptDocuments, WalkError } from "./walk.ts"

const key = new Uint8Array(randomBytes(32))
const sha = (...parts: Array<string | Buffer>) => {
  const h = createHash("sha512")
  for (const p of parts) h.update(p)
  return h.digest("hex").toUpperCase()
}

const doc: Branch = branch([
  { key: comment(" top"), value: null },
  { key: "a", value: "x" },
  { key: "n", value: 25n },
  { key: "f", value: float(1.5) },
  { key: "b", value: true },
  { key: "z", value: null },
  { key: "list", value: list([comment(" in list"), "p", branch([{ key: "number", value: "q" }])]) },
  { key: "keep_unencrypted", value: "clear" },
])

describe("tree walk", () => {
  it("encrypts selected leaves with path AADs and hashes cleartext in walk order", () => {
    const selector = compileRule(defaultRule)
    const { documents, mac } = encryptDocuments([doc], { key, selector, macOnlyEncrypted: false })
    expect(mac).toBe(sha("x", "25", "1.5", "True", "p", "q", "clear"))
    const items = documents[0]!.items
    expect(decryptValue(items[1]!.value as string, key, "a:")).toBe("x")
    expect(isComment(items[0]!.key) && (items[0]!.key.value as string).endsWith("type:comment]")).toBe(true)
    expect(decryptValue((items[0]!.key as { value: string }).value, key, ":")).toEqual(comment(" top"))
    const l = items[6]!.value as List
    // a comment inside a list becomes an ENC[…,type:comment] element; list elements share the list's path
    expect(typeof l.items[0]).toBe("string")
    expect(decryptValue(l.items[1] as string, key, "list:")).toBe("p")
    const nested = l.items[2] as Branch
    expect(decryptValue(nested.items[0]!.value as string, key, "list:number:")).toBe("q")
    expect(items[5]!.value).toBeNull()
    expect(items[7]!.value).toBe("clear")

    const back = decryptDocuments(documents, { key, selector, macOnlyEncrypted: false })
    expect(back.mac).toBe(mac)
    expect(back.documents[0]!.items[1]!.value).toBe("x")
    expect(back.documents[0]!.items[2]!.value).toBe(25n)
    expect((back.documents[0]!.items[6]!.value as List).items[0]).toEqual(comment(" in list"))
  })

  it("mac_only_encrypted hashes a fixed prefix and only the encrypted leaves", () => {
    const selector = compileRule(defaultRule)
    const { mac } = encryptDocuments([doc], { key, selector, macOnlyEncrypted: true })
    const prefix = createHash("sha256").update("sops").digest()
    expect(mac).toBe(sha(prefix, "x", "25", "1.5", "True", "p", "q"))
  })

  it("reports a non-string value at an encrypted position with its path", () => {
    const selector = compileRule(defaultRule)
    let err: unknown
    try {
      decryptDocuments([branch([{ key: "outer", value: branch([{ key: "n", value: 5n }]) }])], {
        key,
        selector,
        macOnlyEncrypted: false,
      })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(WalkError)
    expect((err as WalkError).path).toEqual(["outer", "n"])
  })

  it("keeps a plaintext comment at an encrypted position (older writers) and reports it", () => {
    const selector = compileRule(defaultRule)
    const seen: Array<ReadonlyArray<string>> = []
    const out = decryptDocuments(
      [
        branch([
          { key: comment(" legacy"), value: null },
          { key: "k", value: "" },
        ]),
      ],
      {
        key,
        selector,
        macOnlyEncrypted: false,
        onUndecryptableComment: (p) => seen.push(p),
      },
    )
    expect(out.documents[0]!.items[0]!.key).toEqual(comment(" legacy"))
    expect(seen).toEqual([[]])
  })

  it("encrypted_comment_regex encrypts what follows the marker comment", () => {
    const selector = compileRule({ kind: "encrypted_comment_regex", value: "sops:enc" })
    const d = branch([
      { key: "public", value: "p" },
      { key: comment(" sops:enc"), value: null },
      { key: "secret", value: "s" },
      { key: "after", value: "a" },
    ])
    const { documents } = encryptDocuments([d], { key, selector, macOnlyEncrypted: false })
    const items = documents[0]!.items
    expect(items[0]!.value).toBe("p")
    expect(items[1]!.key).toEqual(comment(" sops:enc"))
    expect(String(items[2]!.value)).toMatch(/^ENC\[/)
    // the marker only covers the next key
    expect(items[3]!.value).toBe("a")
  })
})
