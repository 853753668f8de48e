/**
 * The decryption stage's bounds with real age keys and the real engine: documents over
 * `--max-decryption-size` are refused before parsing wherever repository content is parsed (files before the
 * build, Secret data values, whole documents after it, the still-encrypted guard), more values than
 * `--max-decrypted-values` in one build fail, and alias bombs end in typed errors. Every message names the
 * file or object, the size, the limit and the flag, and never any content.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { generateIdentity, identityToRecipient } from "age-encryption"
import { Cause, Effect, Exit, Layer } from "effect"
import type { KubeObject } from "../../kube/object.ts"
import { defaultLimits } from "../../limits.ts"
import { encrypt, type Format } from "../../sops/index.ts"
import { ConfigLookup } from "../build/config-lookup.ts"
import type { BuildFailed } from "../build/errors.ts"
import type { KustomizationNode } from "../build/kustomization-graph.ts"
import { type DecryptLimits, Decryptor } from "./decryptor.ts"
import { KeyProviders } from "./providers.ts"
import { decryptResources } from "./resources.ts"
import { decryptSources } from "./sources.ts"
import { refuseStillEncrypted } from "./still-encrypted.ts"

const enc = (s: string) => new TextEncoder().encode(s)
const b64 = (b: Uint8Array | string) => Buffer.from(b).toString("base64")
const SECRET = "hunter2-plaintext"

const identity = await generateIdentity()
const recipient = await identityToRecipient(identity)
const seal = (text: string, format: Format = "yaml") =>
  Effect.runPromise(
    encrypt({ bytes: enc(text), format, file: `f.${format}`, keyGroups: [[{ type: "age", recipient }]] }),
  )

const decryptorWith = (limits: Partial<DecryptLimits>) =>
  Decryptor.layer({ limits: { ...defaultLimits, ...limits }, macPolicy: "strict" }).pipe(
    Layer.provide(
      Layer.merge(
        ConfigLookup.fromObjects({
          secrets: [
            {
              namespace: "ns",
              name: "sops-age",
              uid: "u1",
              resourceVersion: "1",
              data: { "identity.agekey": b64(identity) },
            },
          ],
        }),
        KeyProviders.none,
      ),
    ),
  )
const keysOf = Effect.gen(function* () {
  const d = yield* Decryptor
  return yield* d.keys("ns", { provider: "sops", secretRef: { name: "sops-age" } })
})

const failure = (exit: Exit.Exit<unknown, BuildFailed>): BuildFailed => {
  if (Exit.isSuccess(exit)) return expect.fail("expected BuildFailed")
  expect(Cause.hasDies(exit.cause), Cause.pretty(exit.cause)).toBe(false)
  const e = Cause.findErrorOption(exit.cause)
  if (e._tag === "None") return expect.fail(Cause.pretty(exit.cause))
  expect(e.value._tag).toBe("BuildFailed")
  expect(e.value.message).not.toContain(SECRET)
  return e.value
}

const secretWith = (data: Record<string, string>, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: "s", namespace: "ns" },
  data,
  ...extra,
})

/** An alias bomb of 8 levels of 10 (10^8 nodes when expanded). */
const bomb = (() => {
  let s = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
  for (let i = 1; i < 8; i++)
    s += `l${i}: &l${i} [${Array(10)
      .fill(`*l${i - 1}`)
      .join(", ")}]\n`
  return s
})()

describe("decryption limits", () => {
  it.effect("refuses a document over --max-decryption-size before the engine parses it", () =>
    Effect.gen(function* () {
      const file = yield* Effect.promise(() => seal(`password: ${SECRET}\n`))
      const d = yield* Decryptor
      const keys = yield* keysOf
      const e = failure(
        yield* Effect.exit(
          d.decrypt({ bytes: file, format: "yaml", file: "secrets/db.yaml", context: "decrypting", keys }),
        ),
      )
      expect(e.message).toBe(
        `decrypting: 'secrets/db.yaml' is ${file.byteLength} bytes, more than the 512 bytes SOPS parses (raise it with --max-decryption-size)`,
      )
      expect(e.file).toBe("secrets/db.yaml")
    }).pipe(Effect.provide(decryptorWith({ maxDecryptionSize: 512 }))),
  )

  it.effect("counts decrypted values per build against --max-decrypted-values", () =>
    Effect.gen(function* () {
      const three = yield* Effect.promise(() => seal(`a: ${SECRET}\nb: two\nc: three\n`))
      const d = yield* Decryptor
      const keys = yield* keysOf
      const one = (file: string) =>
        d.decrypt({ bytes: three, format: "yaml", file, context: "decrypting", keys })
      const first = yield* one("a.yaml")
      expect(new TextDecoder().decode(first.plaintext)).toContain(SECRET)
      const e = failure(yield* Effect.exit(one("b.yaml")))
      expect(e.message).toBe(
        "decrypting: 'b.yaml' holds 3 encrypted values; with the 3 decrypted before it this build would decrypt more than 5 (raise it with --max-decrypted-values)",
      )
      // The next build has its own count.
      const next = yield* keysOf
      const again = yield* d.decrypt({
        bytes: three,
        format: "yaml",
        file: "b.yaml",
        context: "x",
        keys: next,
      })
      expect(new TextDecoder().decode(again.plaintext)).toContain(SECRET)
    }).pipe(Effect.provide(decryptorWith({ maxDecryptedValues: 5 }))),
  )

  it.effect("decryptSources refuses an oversized SOPS file and skips an oversized plain one", () =>
    Effect.gen(function* () {
      const root = yield* Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "limits-")))
      const sealed = yield* Effect.promise(() => seal(`password: ${SECRET}\npad: ${"x".repeat(2000)}\n`))
      yield* Effect.promise(() => fs.writeFile(path.join(root, "big.yaml"), sealed))
      yield* Effect.promise(() => fs.writeFile(path.join(root, "plain.yaml"), `a: ${"y".repeat(5000)}\n`))
      const node = (name: string): KustomizationNode => ({
        dir: root,
        file: path.join(root, "kustomization.yaml"),
        doc: {} as KustomizationNode["doc"],
        refs: [{ ref: { use: "resource", path: name }, abs: path.join(root, name), kind: "file" }],
      })
      const keys = yield* keysOf
      const plain = yield* decryptSources(root, [node("plain.yaml")], keys)
      expect(plain.decrypted).toEqual([])
      const e = failure(yield* Effect.exit(decryptSources(root, [node("big.yaml")], keys)))
      expect(e.message).toContain(`'big.yaml' is ${sealed.byteLength} bytes, more than the 1 KiB SOPS parses`)
      expect(e.message).toContain("--max-decryption-size")
      yield* Effect.promise(() => fs.rm(root, { recursive: true }))
    }).pipe(Effect.provide(decryptorWith({ maxDecryptionSize: 1024 }))),
  )

  it.effect("decryptResources: oversized data values and documents are refused, a bomb fails typed", () =>
    Effect.gen(function* () {
      const keys = yield* keysOf
      const small = yield* Effect.promise(() => seal(`password: ${SECRET}\n`))
      const ok = yield* decryptResources([secretWith({ "db.yaml": b64(small) })], keys)
      expect(
        Buffer.from((ok.objects[0]!.data as Record<string, string>)["db.yaml"]!, "base64").toString(),
      ).toContain(SECRET)

      const big = yield* Effect.promise(() => seal(`password: ${SECRET}\npad: ${"x".repeat(3000)}\n`))
      const e1 = failure(yield* Effect.exit(decryptResources([secretWith({ "db.yaml": b64(big) })], keys)))
      expect(e1.message).toContain(
        `'Secret/ns/s data.db.yaml' is ${big.byteLength} bytes, more than the 2 KiB`,
      )
      expect(e1.keyPath).toBe("data.db.yaml")

      // A whole document with sops metadata (a remote base) is bounded by the same limit.
      const doc = secretWith({}, { sops: { mac: "ENC[x]", pad: "z".repeat(3000) } })
      const e2 = failure(yield* Effect.exit(decryptResources([doc], keys)))
      expect(e2.message).toContain("more than the 2 KiB SOPS parses (raise it with --max-decryption-size)")

      // SOPS markers plus an alias bomb: detected from the text, then the engine stops the bomb.
      const bombed = `sops:\n    mac: x\n${bomb}`
      const e3 = failure(yield* Effect.exit(decryptResources([secretWith({ "v.yaml": b64(bombed) })], keys)))
      expect(e3.message).toContain("document contains excessive aliasing")
      expect(e3.message).not.toContain("lol")
    }).pipe(Effect.provide(decryptorWith({ maxDecryptionSize: 2048 }))),
  )
})

describe("the still-encrypted guard on hostile values", () => {
  it.effect("a value with sops and mac plus an alias bomb is refused from its text, without parsing", () =>
    Effect.gen(function* () {
      const value = b64(`sops:\n    mac: x\n${bomb}`)
      const e = failure(yield* Effect.exit(refuseStillEncrypted([secretWith({ "v.yaml": value })])))
      expect(e.message).toContain("Secret/ns/s is SOPS encrypted")
      expect(e.keyPath).toBe("data.v.yaml")
      // The words alone (no top-level sops mapping) are not SOPS: the bomb passes untouched, unparsed.
      const words = b64(`# about sops and its mac\n${bomb}`)
      const passed = yield* Effect.exit(refuseStillEncrypted([secretWith({ "v.yaml": words })]))
      expect(Exit.isSuccess(passed)).toBe(true)
    }),
  )

  it.effect("a SOPS-looking value over the limit is refused as too large to check", () =>
    Effect.gen(function* () {
      const text = `sops:\n    mac: x\n${"- {}\n".repeat(1_100_000)}`
      const e = failure(yield* Effect.exit(refuseStillEncrypted([secretWith({ "v.yaml": b64(text) })])))
      expect(e.message).toBe(
        `Secret/ns/s may be SOPS encrypted and cannot be checked: 'Secret/ns/s data.v.yaml' is ${text.length} bytes, more than the 5 MiB SOPS parses (raise it with --max-decryption-size)`,
      )
      expect(text.length).toBeGreaterThan(5 * 1024 * 1024)
    }),
  )

  it.effect("uses the Decryptor's limit when the build has one", () =>
    Effect.gen(function* () {
      const value = b64(`sops:\n    mac: x\n${"k: v\n".repeat(100)}`)
      const e = failure(yield* Effect.exit(refuseStillEncrypted([secretWith({ "v.yaml": value })])))
      expect(e.message).toContain("more than the 100 bytes SOPS parses")
    }).pipe(Effect.provide(decryptorWith({ maxDecryptionSize: 100 }))),
  )
})
