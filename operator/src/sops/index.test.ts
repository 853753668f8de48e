import { describe, expect, it } from "@effect/vitest"
import { generateIdentity, identityToRecipient } from "age-encryption"
import { Effect } from "effect"
import { decrypt, encrypt, type Format, formatForPath, hasSopsMetadata } from "./index.ts"

const enc = new TextEncoder()

describe("public API", () => {
  it("formatForPath follows sops' suffix rules", () => {
    expect(["a.yaml", "a.yml", "a.json", "a.env", "a.ini", "a.txt", "Dockerfile"].map(formatForPath)).toEqual(
      ["yaml", "yaml", "json", "dotenv", "ini", "binary", "binary"],
    )
  })

  it.effect("hasSopsMetadata recognises encrypted files of every format and nothing else", () =>
    Effect.gen(function* () {
      const recipient = yield* Effect.promise(async () => identityToRecipient(await generateIdentity()))
      const plain: Record<Format, string> = {
        yaml: "a: b\n",
        json: '{"a": "b"}',
        dotenv: "A=b\n",
        ini: "[s]\na = b\n",
        binary: "raw bytes",
      }
      for (const [format, text] of Object.entries(plain) as Array<[Format, string]>) {
        const bytes = enc.encode(text)
        expect(hasSopsMetadata(bytes, format), `${format} plain`).toBe(false)
        const e = yield* encrypt({
          bytes,
          format,
          file: `x.${format}`,
          keyGroups: [[{ type: "age", recipient }]],
        })
        expect(hasSopsMetadata(e, format), `${format} encrypted`).toBe(true)
      }
      expect(hasSopsMetadata(enc.encode("a: [\n"), "yaml")).toBe(false)
      expect(hasSopsMetadata(enc.encode("sops: 1\n"), "yaml")).toBe(false)
    }),
  )

  it.effect("converts between formats on decrypt (outputFormat)", () =>
    Effect.gen(function* () {
      const identity = yield* Effect.promise(() => generateIdentity())
      const recipient = yield* Effect.promise(() => identityToRecipient(identity))
      const e = yield* encrypt({
        bytes: enc.encode("user: app\nport: 5432\n"),
        format: "yaml",
        file: "x.yaml",
        keyGroups: [[{ type: "age", recipient }]],
      })
      const out = yield* decrypt({
        bytes: e,
        format: "yaml",
        outputFormat: "json",
        file: "x.yaml",
        keyring: { scope: "t", age: [identity], pgp: [] },
        mac: "strict",
      })
      expect(new TextDecoder().decode(out.plaintext)).toBe('{\n\t"user": "app",\n\t"port": 5432\n}\n')
    }),
  )
})

describe("version tolerance", () => {
  it.effect("accepts the MAC of a ≤ 3.13.1 JSON file that hashed clear integers beyond 2^53 as floats", () =>
    Effect.gen(function* () {
      const { decryptFile } = yield* Effect.promise(() => import("./decrypt.ts"))
      const { encryptMac } = yield* Effect.promise(() => import("./mac.ts"))
      const { Mac } = yield* Effect.promise(() => import("./mac.ts"))
      const { float } = yield* Effect.promise(() => import("./tree.ts"))
      const identity = yield* Effect.promise(() => generateIdentity())
      const recipient = yield* Effect.promise(() => identityToRecipient(identity))
      const keyring = { scope: "t", age: [identity], pgp: [] }
      const file = yield* encrypt({
        bytes: enc.encode('{"secret": "s", "big_unencrypted": 12345678901234567}'),
        format: "json",
        file: "old.json",
        keyGroups: [[{ type: "age", recipient }]],
      })
      const text = new TextDecoder().decode(file)
      const opened = yield* decryptFile({
        bytes: file,
        format: "json",
        file: "old.json",
        keyring,
        mac: "strict",
      })
      // what sops ≤ 3.13.1 hashed: "s" then the float64-rounded integer
      const legacy = new Mac(false)
      legacy.add("s")
      legacy.add(float(Number(12345678901234567n)))
      const lastModified = /"lastmodified": "([^"]+)"/.exec(text)![1]!
      const oldMac = encryptMac(legacy.digest(), opened.dataKey, lastModified)
      const forge = (version: string) =>
        enc.encode(
          text
            .replace(/"mac": "[^"]+"/, `"mac": "${oldMac}"`)
            .replace(/"version": "[^"]+"/, `"version": "${version}"`),
        )
      const ok = yield* decrypt({
        bytes: forge("3.13.1"),
        format: "json",
        file: "old.json",
        keyring,
        mac: "strict",
      })
      expect(new TextDecoder().decode(ok.plaintext)).toContain("12345678901234567")
      const err = yield* Effect.flip(
        decrypt({ bytes: forge("3.13.2"), format: "json", file: "new.json", keyring, mac: "strict" }),
      )
      expect(err._tag).toBe("MacMismatch")
    }),
  )
})
