/**
 * Detection without parsing: real encrypted files of every store are recognised, plain and broken ones are
 * not, oversized SOPS-looking input is reported as such, and hostile input (alias bombs, megabytes) is
 * answered from its text alone.
 */
import { describe, expect, it } from "@effect/vitest"
import { generateIdentity, identityToRecipient } from "age-encryption"
import { Effect } from "effect"
import { detectSops } from "./detect.ts"
import { encrypt, type Format } from "./index.ts"

const enc = (s: string) => new TextEncoder().encode(s)
const plain: Record<Format, string> = {
  yaml: "# about sops and its mac\napi: v1\nmac: address\n",
  json: '{"about": "sops", "mac": 1}',
  dotenv: "NOTE=sops\nmac=1\n",
  ini: "[db]\nnote = sops mac\n",
  binary: "sops mac lastmodified\n",
}

describe("detectSops", () => {
  it.effect("recognises files encrypted by the engine in every store, and their plaintext as plain", () =>
    Effect.gen(function* () {
      const identity = yield* Effect.promise(() => generateIdentity())
      const recipient = yield* Effect.promise(() => identityToRecipient(identity))
      for (const [format, text] of Object.entries(plain) as Array<[Format, string]>) {
        expect(detectSops(enc(text), format), `${format} plain`).toBe("plain")
        const e = yield* encrypt({
          bytes: enc(text),
          format,
          file: `f.${format}`,
          keyGroups: [[{ type: "age", recipient }]],
        })
        expect(detectSops(e, format), `${format} encrypted`).toBe("sops")
        expect(detectSops(e, format, e.byteLength - 1), `${format} over the limit`).toBe("oversized")
        expect(detectSops(e, format, e.byteLength), `${format} at the limit`).toBe("sops")
      }
    }),
  )

  it("needs a top-level sops mapping with mac or lastmodified", () => {
    const yaml = (s: string) => detectSops(enc(s), "yaml")
    expect(yaml("sops: 1\nmac: 2\n")).toBe("plain")
    expect(yaml("a:\n  sops:\n    mac: x\n")).toBe("plain")
    expect(yaml("sops:\n    kms: []\nother:\n    mac: x\n")).toBe("plain")
    expect(yaml("a: [\nsops:\n    # c\n\n    lastmodified: '2020'\n")).toBe("sops")
    expect(yaml("---\na: 1\n'sops': {mac: x}\n")).toBe("sops")
    expect(detectSops(enc('{"sops": {"kms": []}, "mac": 1}'), "json")).toBe("plain")
    expect(detectSops(enc('{"sops": {"mac": "x"}'), "json")).toBe("plain")
    expect(detectSops(enc("a=1\nsops_mac=x\n"), "dotenv")).toBe("sops")
    expect(detectSops(enc("a=1\n#sops_mac=x\n"), "dotenv")).toBe("plain")
    expect(detectSops(enc("[sops]\nversion = 3\nmac = x\n"), "ini")).toBe("sops")
    expect(detectSops(enc("[sops]\nversion = 3\n[other]\nmac = x\n"), "ini")).toBe("plain")
  })

  it("answers from the text on hostile input: an alias bomb under sops metadata, 8 MB of '- {}'", () => {
    let bomb = "sops:\n    mac: x\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for (let i = 1; i < 9; i++)
      bomb += `l${i}: &l${i} [${Array(10)
        .fill(`*l${i - 1}`)
        .join(", ")}]\n`
    expect(detectSops(enc(bomb), "yaml")).toBe("sops")
    const big = enc(`# sops mac\n${"- {}\n".repeat(2_000_000)}`)
    for (const f of ["yaml", "json", "dotenv", "ini", "binary"] as const) {
      expect(detectSops(big, f), f).toBe("plain")
      expect(detectSops(big, f, 5 * 1024 * 1024), f).toBe("oversized")
    }
    const manyKeys = enc(`${"sops:\n  x: 1\n".repeat(500_000)}`)
    expect(detectSops(manyKeys, "yaml")).toBe("plain")
  })
})
