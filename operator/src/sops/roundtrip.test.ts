/**
 * Property tests: random trees survive encrypt → decrypt, at the tree level (every leaf type, comments, all six
 * selection rules, mac_only_encrypted) and through the public byte API with the real stores.
 */
import { randomBytes } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { generateIdentity, identityToRecipient } from "age-encryption"
import { Effect } from "effect"
import fc from "fast-check"
import { formatTimeGo, parseTimestamp } from "./goformat.ts"
import { decrypt, encrypt, type Format, type Keyring } from "./index.ts"
import { compileRule, type SelectionRule } from "./rules.ts"
import { storeFor } from "./stores/store.ts"
import { type Branch, branch, type Comment, comment, float, list, type Value } from "./tree.ts"
import { decryptDocuments, encryptDocuments } from "./walk.ts"

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
const keyArb = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.constantFrom("data", "stringData", "x_unencrypted", "a_secret"),
)
const commentArb = fc
  .oneof(fc.string({ maxLength: 12 }), fc.constantFrom(" keep", " secret", " keep me"))
  .map((s) => comment(s))
const timestampArb = fc
  .tuple(
    fc.date({
      min: new Date("1970-01-01T00:00:00Z"),
      max: new Date("2100-01-01T00:00:00Z"),
      noInvalidDate: true,
    }),
    fc.integer({ min: 0, max: 999_999_999 }),
  )
  .map(([d, ns]) => {
    const raw = `${d.toISOString().slice(0, 19)}.${String(ns).padStart(9, "0")}Z`
    // decryption yields Go's MarshalText form, so start from it
    return parseTimestamp(formatTimeGo({ _tag: "Timestamp", date: d, text: raw }))!
  })

const scalarArb: fc.Arbitrary<Value> = fc.oneof(
  fc.string(),
  int64,
  fc.double().map(float),
  fc.boolean(),
  fc.constant(null),
  timestampArb,
)

const treeArb = (withListComments: boolean) => {
  const { tree } = fc.letrec<{ tree: Branch; value: Value; list: Value }>((tie) => ({
    tree: fc
      .array(
        fc.oneof(
          fc.record({ key: keyArb, value: tie("value") }),
          commentArb.map((c) => ({ key: c as Comment, value: null })),
        ),
        {
          maxLength: 5,
        },
      )
      .map((items) => branch(items as Branch["items"])),
    value: fc.oneof({ depthSize: "small", withCrossShrink: true }, scalarArb, tie("tree"), tie("list")),
    list: fc
      .array(withListComments ? fc.oneof(tie("value"), commentArb) : tie("value"), { maxLength: 4 })
      .map((items) => list(items as Array<Value | Comment>)),
  }))
  return fc.array(tree, { minLength: 1, maxLength: 2 })
}

const ruleArb: fc.Arbitrary<SelectionRule | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constant<SelectionRule>({ kind: "unencrypted_suffix", value: "_unencrypted" }),
  fc.constant<SelectionRule>({ kind: "encrypted_suffix", value: "_secret" }),
  fc.constant<SelectionRule>({ kind: "unencrypted_regex", value: "^x" }),
  fc.constant<SelectionRule>({ kind: "encrypted_regex", value: "^(data|stringData)$" }),
  fc.constant<SelectionRule>({ kind: "unencrypted_comment_regex", value: "^ keep" }),
  fc.constant<SelectionRule>({ kind: "encrypted_comment_regex", value: "^ secret$" }),
)

const isCommentRule = (r: SelectionRule | undefined) => r?.kind.endsWith("comment_regex") === true

describe("encrypt → decrypt round trip (tree level)", () => {
  it("restores every tree exactly and recomputes the same MAC", () => {
    const key = new Uint8Array(randomBytes(32))
    fc.assert(
      fc.property(
        ruleArb.chain((rule) => fc.tuple(fc.constant(rule), treeArb(!isCommentRule(rule)), fc.boolean())),
        ([rule, docs, macOnly]) => {
          const selector = compileRule(rule)
          const enc = encryptDocuments(docs, { key, selector, macOnlyEncrypted: macOnly })
          const dec = decryptDocuments(enc.documents, { key, selector, macOnlyEncrypted: macOnly })
          expect(dec.mac).toBe(enc.mac)
          expect(dec.documents).toEqual(docs)
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe("encrypt → decrypt round trip (bytes, real stores)", () => {
  const jsonTree = fc.letrec<{ obj: Branch; value: Value }>((tie) => ({
    obj: fc
      .uniqueArray(fc.record({ key: fc.string({ maxLength: 6 }), value: tie("value") }), {
        selector: (i) => i.key,
        maxLength: 4,
      })
      .map((items) => branch(items)),
    value: fc.oneof(
      { depthSize: "small" },
      fc.string(),
      int64,
      fc.double({ noNaN: true, noDefaultInfinity: true }).map(float),
      fc.boolean(),
      tie("obj"),
      fc.array(tie("value"), { maxLength: 3 }).map((items) => list(items)),
    ),
  })).obj

  it.effect(
    "decrypt(encrypt(x)) equals x re-emitted by the store, for yaml, json, dotenv, ini and binary",
    () =>
      Effect.gen(function* () {
        const identity = yield* Effect.promise(() => generateIdentity())
        const recipient = yield* Effect.promise(() => identityToRecipient(identity))
        const keyring: Keyring = { scope: "prop", age: [identity], pgp: [] }
        const flat = fc
          .uniqueArray(
            fc.record({
              key: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/),
              value: fc.string().filter((s) => !s.includes("\n") && s.trim() === s),
            }),
            {
              selector: (i) => i.key,
              maxLength: 5,
            },
          )
          .filter((items) => items.every((i) => !i.key.startsWith("sops")))
        const cases: Array<[Format, fc.Arbitrary<Uint8Array>]> = [
          ["json", jsonTree.map((t) => Effect.runSync(storeFor("json").writePlain([t])))],
          [
            "yaml",
            fc
              .array(jsonTree, { minLength: 1, maxLength: 2 })
              .map((ds) => Effect.runSync(storeFor("yaml").writePlain(ds))),
          ],
          ["dotenv", flat.map((items) => Effect.runSync(storeFor("dotenv").writePlain([branch(items)])))],
          [
            "ini",
            flat.map((items) =>
              Effect.runSync(
                storeFor("ini").writePlain([
                  branch([
                    { key: "DEFAULT", value: branch([]) },
                    { key: "section", value: branch(items) },
                  ]),
                ]),
              ),
            ),
          ],
          ["binary", fc.uint8Array({ maxLength: 200 })],
        ]
        for (const [format, arb] of cases) {
          const samples = fc.sample(arb, 25)
          for (const bytes of samples) {
            const normalised = yield* storeFor(format)
              .readPlain(bytes)
              .pipe(Effect.flatMap((d) => storeFor(format).writePlain(d)))
            const enc = yield* encrypt({
              bytes,
              format,
              file: `prop.${format}`,
              keyGroups: [[{ type: "age", recipient }]],
            })
            const out = yield* decrypt({ bytes: enc, format, file: `prop.${format}`, keyring, mac: "strict" })
            expect(Buffer.from(out.plaintext).toString("base64"), format).toBe(
              Buffer.from(normalised).toString("base64"),
            )
          }
        }
      }),
  )
})
