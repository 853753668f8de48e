import { existsSync, readFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { isBranch } from "../tree.ts"
import { formatForPath, storeFor } from "./store.ts"
import { canon, outcome } from "./testkit.ts"

const root = resolve(import.meta.dirname, "../../../../../shared/fixtures/sops")
const present = existsSync(root)

/** Encrypted fixtures; `exact` when the writer is one whose layout sops 3.13 reproduces byte for byte. */
const encrypted: ReadonlyArray<{ file: string; exact: boolean; docs: number; keys: ReadonlyArray<string> }> =
  [
    {
      file: "example.yaml",
      exact: true,
      docs: 1,
      keys: [
        "myapp1",
        "app2",
        "number",
        "an_array",
        "somebooleans",
        "this",
        "somelist_unencrypted",
        "nested_unencrypted",
      ],
    },
    { file: "functional-tests/res/format.enc.yaml", exact: true, docs: 1, keys: ["foo"] },
    { file: "functional-tests/res/format.enc.json", exact: true, docs: 1, keys: ["foo"] },
    { file: "functional-tests/res/format.enc.env", exact: true, docs: 1, keys: ["foo "] },
    { file: "functional-tests/res/format.enc.ini", exact: true, docs: 1, keys: ["DEFAULT", "foo"] },
    // Older writers: yaml.v2 indentation (≤3.6), no trailing newline in JSON (<3.10), random INI metadata order.
    { file: "functional-tests/res/comments.enc.yaml", exact: false, docs: 1, keys: ["lorem", "dolor"] },
    { file: "functional-tests/res/no_mac.yaml", exact: false, docs: 1, keys: ["myapp1"] },
    {
      file: "example.json",
      exact: false,
      docs: 1,
      keys: ["firstName", "lastName", "age", "address", "phoneNumbers", "anEmptyValue"],
    },
    {
      file: "example.ini",
      exact: false,
      docs: 1,
      keys: ["DEFAULT", "name", "address", "phoneNumbers", "not private"],
    },
    { file: "example.txt", exact: false, docs: 1, keys: ["data"] },
  ]

const sorted = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.every((e) => Array.isArray(e) && typeof e[0] === "string")
      ? [...v].map(([k, x]) => [k, sorted(x)]).sort((a, b) => (a[0] < b[0] ? -1 : 1))
      : v.map(sorted)
    : v !== null && typeof v === "object" && "list" in v
      ? { list: (v as { list: Array<unknown> }).list.map(sorted) }
      : v

const plain = [
  "functional-tests/res/comments.yaml",
  "functional-tests/res/comments_list.yaml",
  "functional-tests/res/plainfile.yaml",
]

describe.skipIf(!present)("sops fixtures", () => {
  for (const f of encrypted) {
    it.effect(`reads ${f.file}`, () =>
      Effect.gen(function* () {
        const store = storeFor(formatForPath(f.file))
        const bytes = readFileSync(join(root, f.file))
        const { documents, metadata } = yield* store.readEncrypted(bytes)
        expect(documents).toHaveLength(f.docs)
        const keys = documents[0]!.items.flatMap((i) => (typeof i.key === "string" ? [i.key] : []))
        expect(keys).toEqual(f.keys)
        const metaKeys = metadata.items.flatMap((i) => (typeof i.key === "string" ? [i.key] : []))
        expect(metaKeys).toContain("lastmodified")
        expect(metaKeys).toContain("version")
        expect(metadata.items.find((i) => i.key === "pgp")?.value).toSatisfy((v) => v !== null)

        const again = yield* store.writeEncrypted(documents, metadata)
        if (f.exact) expect(Buffer.from(again).toString()).toBe(bytes.toString())
        // Whatever the writer, what we write reads back to the same tree and metadata.
        const back = yield* store.readEncrypted(again)
        expect(canon(back.documents)).toEqual(canon(documents))
        // Flat formats write metadata keys sorted (3.13); old files had them in another order.
        expect(sorted(canon(back.metadata))).toEqual(sorted(canon(metadata)))
      }),
    )
  }

  it.effect("keeps the encrypted comments of example.yaml in go-yaml's branches", () =>
    Effect.gen(function* () {
      const { documents } = yield* storeFor("yaml").readEncrypted(readFileSync(join(root, "example.yaml")))
      const app2 = documents[0]!.items.find((i) => i.key === "app2")!.value
      const db = isBranch(app2) ? app2.items.find((i) => i.key === "db")?.value : undefined
      expect(canon(db ?? null)).toEqual([
        ["user", expect.stringMatching(/^ENC\[/)],
        ["password", expect.stringMatching(/^ENC\[/)],
        { comment: expect.stringMatching(/^ENC\[.*type:comment\]$/), inline: false },
      ])
    }),
  )

  it.effect("reads the 3.13.0 INI metadata variant and the literal \\n variant alike", () =>
    Effect.gen(function* () {
      const { metadata } = yield* storeFor("ini").readEncrypted(readFileSync(join(root, "example.ini")))
      const pgp = metadata.items.find((i) => i.key === "pgp")!.value
      const first = canon(pgp as never) as { list: Array<Array<[string, unknown]>> }
      const enc = first.list[0]!.find(([k]) => k === "enc")![1] as string
      expect(enc.startsWith("-----BEGIN PGP MESSAGE-----\n\n")).toBe(true)
      expect(enc.endsWith("\n-----END PGP MESSAGE-----")).toBe(true)
    }),
  )

  for (const f of plain) {
    it.effect(`round-trips plaintext ${f}`, () =>
      Effect.gen(function* () {
        const store = storeFor("yaml")
        const bytes = readFileSync(join(root, f))
        const docs = yield* store.readPlain(bytes)
        const out = Buffer.from(yield* store.writePlain(docs)).toString()
        expect(canon(yield* store.readPlain(Buffer.from(out)))).toEqual(canon(docs))
      }),
    )
  }

  it("puts the comment of comments_list.yaml inside the list, as go-yaml does", () => {
    const docs = Effect.runSync(
      storeFor("yaml").readPlain(readFileSync(join(root, "functional-tests/res/comments_list.yaml"))),
    )
    expect(canon(docs)).toEqual([
      [["lorem", { list: ["foo", { comment: "this-is-a-comment", inline: false }, "bar"] }]],
    ])
    expect(Buffer.from(Effect.runSync(storeFor("yaml").writePlain(docs))).toString()).toBe(
      "lorem:\n    - foo\n    #this-is-a-comment\n    - bar\n",
    )
  })

  it("binary: example.txt metadata and data entry", () => {
    const { documents } = Effect.runSync(
      storeFor("binary").readEncrypted(readFileSync(join(root, "example.txt"))),
    )
    expect(documents[0]!.items.map((i) => i.key)).toEqual(["data"])
  })

  it("mutated fixtures only ever fail with typed errors", () => {
    let seed = 12345
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    const alphabet = Buffer.from(":-#[]{}\"'\n \t=;`|>&*!%@,?\\0aZ\u00e9")
    let failures = 0
    for (const f of [...encrypted.map((e) => e.file), ...plain]) {
      const original = readFileSync(join(root, f))
      const store = storeFor(formatForPath(f))
      for (let round = 0; round < 60; round++) {
        const b = Buffer.from(original)
        const edits = 1 + rnd(4)
        let m: Buffer = b
        for (let e = 0; e < edits; e++) {
          const at = rnd(m.length + 1)
          switch (rnd(3)) {
            case 0:
              m[at % m.length] = alphabet[rnd(alphabet.length)]!
              break
            case 1:
              m = Buffer.concat([m.subarray(0, at), m.subarray(Math.min(m.length, at + 1 + rnd(40)))])
              break
            default:
              m = Buffer.concat([m.subarray(0, at), alphabet.subarray(rnd(alphabet.length)), m.subarray(at)])
          }
        }
        for (const o of [outcome(store.readEncrypted(m)), outcome(store.readPlain(m))]) {
          expect(o, `${f} round ${round}`).not.toBe("defect")
          if (o !== "ok") failures++
        }
      }
    }
    expect(failures).toBeGreaterThan(0)
  })
})
