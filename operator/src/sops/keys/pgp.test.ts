import { execFileSync } from "node:child_process"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as openpgp from "openpgp"
import { fixtureText, haveFixtures } from "../testing/fixtures.ts"
import { gnupgHome, gpg } from "../testing/gpg.ts"
import { pgpService } from "./pgp.ts"

const hasGpg = (() => {
  try {
    execFileSync("gpg", ["--version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

const generate = (type: "rsa" | "ecc") =>
  Effect.promise(() =>
    openpgp.generateKey({
      type,
      ...(type === "rsa" ? { rsaBits: 2048 } : { curve: "curve25519Legacy" as const }),
      userIDs: [{ name: "kustodian test", email: "test@example.invalid" }],
      format: "armored",
    }),
  )

describe("OpenPGP key service (in process)", () => {
  for (const type of ["rsa", "ecc"] as const)
    it.effect(`wraps and unwraps with an armored ${type.toUpperCase()} private key`, () =>
      Effect.gen(function* () {
        const { privateKey } = yield* generate(type)
        const key = yield* Effect.promise(() => openpgp.readPrivateKey({ armoredKey: privateKey }))
        const fp = key.getFingerprint().toUpperCase()
        const svc = pgpService({ privateKeys: [privateKey] })
        const part = new Uint8Array(32).fill(9)
        const stored = yield* svc.encrypt({ type: "pgp", fp }, part)
        expect(stored.type === "pgp" && stored.enc.startsWith("-----BEGIN PGP MESSAGE-----")).toBe(true)
        expect(stored.type === "pgp" && stored.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
        expect(yield* svc.decrypt(stored)).toEqual(part)
        const other = yield* generate(type)
        const failure = yield* Effect.flip(pgpService({ privateKeys: [other.privateKey] }).decrypt(stored))
        expect(failure.reason).toContain("in process")
      }),
    )

  it.effect("without keys and without gpg it says so", () =>
    Effect.gen(function* () {
      const f = yield* Effect.flip(
        pgpService({ privateKeys: [] }).decrypt({ type: "pgp", fp: "AB", createdAt: "", enc: "x" }),
      )
      expect(f.reason).toContain("no OpenPGP private key")
    }),
  )
})

describe.skipIf(!hasGpg || !haveFixtures)("OpenPGP via the gpg binary", () => {
  it.effect("falls back to gpg with GNUPGHOME, and a gpg-encrypted part opens in process", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const keys = fixtureText("pgp/sops_functional_tests_key.asc")
        const home = yield* gnupgHome([keys])
        const fp = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"
        const part = new Uint8Array(32).fill(3)
        // encrypt with gpg (as sops does for a fingerprint recipient)
        const viaGpg = pgpService({ privateKeys: [], gpg: { home } })
        const stored = yield* viaGpg.encrypt({ type: "pgp", fp }, part)
        // decrypt with gpg only
        expect(yield* viaGpg.decrypt(stored)).toEqual(part)
        // and in process with the armored key
        expect(yield* pgpService({ privateKeys: [keys] }).decrypt(stored)).toEqual(part)
        // in-process encryption opens with gpg
        const own = yield* pgpService({ privateKeys: [keys] }).encrypt({ type: "pgp", fp }, part)
        const enc = own.type === "pgp" ? own.enc : ""
        expect(new Uint8Array(Buffer.from(gpg(home, ["-d"], enc), "binary"))).toEqual(part)
        // SOPS_GPG_EXEC-style override of the binary is honoured
        const bad = yield* Effect.flip(
          pgpService({ privateKeys: [], gpg: { home, exec: "/nonexistent/gpg" } }).decrypt(stored),
        )
        expect(bad.reason).toContain("ENOENT")
      }),
    ),
  )
})
