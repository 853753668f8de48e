/**
 * Vault transit interop with the real sops 3.13 against the real Vault server in dev mode (started here on a
 * free loopback port, the transit engine enabled and keys created through its HTTP API): files sops encrypts with
 * `--hc-vault-transit` decrypt with `kustodian decrypt` (VAULT_TOKEN or ~/.vault-token); files `kustodian encrypt
 * --hc-vault-transit` (or SOPS_VAULT_URIS) writes decrypt with sops and carry sops' hc_vault fields; `.sops.yaml`
 * rules with `hc_vault_transit_uri` and key groups mixing Vault with age under a Shamir threshold, with a first
 * group whose Vault is unreachable; a refused token names the file, the key and Vault's error, never the token.
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, type Scope } from "effect"
import * as YAML from "yaml"
import { decryptCommand } from "../operator/src/cli/decrypt.ts"
import { encryptCommand } from "../operator/src/cli/encrypt.ts"
import { ageKeygen, runSops } from "../operator/src/sops/testing/peers.ts"
import { closeServer, listenOnLoopback } from "./support/ports.ts"
import { hasTool, toolPath } from "./support/tools.ts"
import { type Vault, vaultServer } from "./support/vault.ts"

const ready = hasTool("sops") && hasTool("vault") && hasTool("age-keygen")

const plaintext =
  "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\nstringData:\n    password: hunter2\n"

const failureMessage = (exit: Exit.Exit<unknown, { message: string }>): string => {
  if (Exit.isSuccess(exit)) return "<succeeded>"
  const e = Cause.findErrorOption(exit.cause)
  return e._tag === "Some" ? e.value.message : Cause.pretty(exit.cause)
}

describe.skipIf(!ready)("Vault transit with the real sops and the real Vault (dev mode)", () => {
  const withVault = <A, E>(f: (vault: Vault, dir: string) => Effect.Effect<A, E, Scope.Scope>) =>
    Effect.scoped(
      Effect.gen(function* () {
        const vault = yield* vaultServer()
        const dir = mkdtempSync(join(tmpdir(), "kustodian-vault-interop-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        return yield* f(vault, dir)
      }),
    )
  const sops = (dir: string, vault: Vault, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) =>
    runSops(toolPath("sops"), args, { cwd: dir, env: { ...vault.env, ...env } })
  const cliEnv = (dir: string, vault: Vault, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, ".no-config"),
    ...vault.env,
    ...extra,
  })
  const kustodianDecrypt = (dir: string, env: NodeJS.ProcessEnv, file: string) =>
    Effect.gen(function* () {
      const out = join(dir, `${file}.out`)
      yield* decryptCommand([join(dir, file), "--output", out], env)
      return readFileSync(out, "utf8")
    })
  /** An address where nothing listens (a server was there and is closed). */
  const deadAddress = Effect.promise(async () => {
    const closed = createServer()
    const url = await listenOnLoopback(closed)
    await closeServer(closed)
    return url
  })

  it.live(
    "a file sops encrypts with --hc-vault-transit decrypts with kustodian decrypt (VAULT_TOKEN, ~/.vault-token)",
    () =>
      withVault((vault, dir) =>
        Effect.gen(function* () {
          // the seed's guide mounts transit at `sops`
          const uri = yield* Effect.promise(() => vault.createKey("my-encryption-key", "sops"))
          expect(uri).toBe(`${vault.address}/v1/sops/keys/my-encryption-key`)
          writeFileSync(join(dir, "s.yaml"), plaintext)
          const r = sops(dir, vault, [
            "encrypt",
            "--hc-vault-transit",
            uri,
            "--encrypted-regex",
            "^(data|stringData)$",
            "--output",
            join(dir, "enc.yaml"),
            join(dir, "s.yaml"),
          ])
          expect(r.stderr).toBe("")
          expect(r.code).toBe(0)
          const md = YAML.parse(readFileSync(join(dir, "enc.yaml"), "utf8")).sops
          expect(md.hc_vault[0]).toMatchObject({
            vault_address: vault.address,
            engine_path: "sops",
            key_name: "my-encryption-key",
          })
          expect(md.hc_vault[0].enc).toMatch(/^vault:v1:/)
          expect(yield* kustodianDecrypt(dir, cliEnv(dir, vault), "enc.yaml")).toBe(plaintext)
          // no VAULT_TOKEN: the token file in the home directory, as sops reads it
          writeFileSync(join(dir, ".vault-token"), `${vault.token}\n`)
          expect(yield* kustodianDecrypt(dir, cliEnv(dir, vault, { VAULT_TOKEN: "" }), "enc.yaml")).toBe(
            plaintext,
          )
          rmSync(join(dir, ".vault-token"))
          const none = yield* Effect.exit(
            kustodianDecrypt(dir, cliEnv(dir, vault, { VAULT_TOKEN: "" }), "enc.yaml"),
          )
          expect(failureMessage(none)).toContain("no Vault token (VAULT_TOKEN, ~/.vault-token)")
          expect(failureMessage(none)).toContain(uri)
        }),
      ),
    120_000,
  )

  it.live(
    "a file kustodian encrypt --hc-vault-transit (or SOPS_VAULT_URIS) writes decrypts with sops, with sops' fields",
    () =>
      withVault((vault, dir) =>
        Effect.gen(function* () {
          const a = yield* Effect.promise(() => vault.createKey("kustodian-a"))
          const b = yield* Effect.promise(() => vault.createKey("kustodian-b", "team/transit"))
          writeFileSync(join(dir, "s.yaml"), plaintext)
          const env = cliEnv(dir, vault)
          yield* encryptCommand(
            ["--hc-vault-transit", `${a},${b}`, "--output", join(dir, "k.yaml"), join(dir, "s.yaml")],
            env,
            dir,
          )
          const r = sops(dir, vault, ["decrypt", join(dir, "k.yaml")])
          expect(r.stderr).toBe("")
          expect(r.stdout.toString("utf8")).toBe(plaintext)
          // the same entry fields, in the same order, as the file sops writes for the same flag
          const s = sops(dir, vault, [
            "encrypt",
            "--hc-vault-transit",
            `${a},${b}`,
            "--output",
            join(dir, "s.enc.yaml"),
            join(dir, "s.yaml"),
          ])
          expect(s.code).toBe(0)
          const ours = YAML.parse(readFileSync(join(dir, "k.yaml"), "utf8")).sops.hc_vault
          const theirs = YAML.parse(readFileSync(join(dir, "s.enc.yaml"), "utf8")).sops.hc_vault
          expect(ours).toHaveLength(2)
          expect(Object.keys(ours[0])).toEqual(Object.keys(theirs[0]))
          expect(ours[1]).toMatchObject({ engine_path: "team/transit", key_name: "kustodian-b" })
          expect(ours[0].created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
          // SOPS_VAULT_URIS, as sops reads it; sops opens the file with only key B's entry left
          yield* encryptCommand(
            ["--output", join(dir, "e.yaml"), join(dir, "s.yaml")],
            { ...env, SOPS_VAULT_URIS: b },
            dir,
          )
          expect(YAML.parse(readFileSync(join(dir, "e.yaml"), "utf8")).sops.hc_vault[0].key_name).toBe(
            "kustodian-b",
          )
          expect(sops(dir, vault, ["decrypt", join(dir, "e.yaml")]).stdout.toString("utf8")).toBe(plaintext)
          // kustodian decrypt of its own file, and of sops'
          expect(yield* kustodianDecrypt(dir, env, "k.yaml")).toBe(plaintext)
          expect(yield* kustodianDecrypt(dir, env, "s.enc.yaml")).toBe(plaintext)
        }),
      ),
    120_000,
  )

  it.live(
    ".sops.yaml key groups mix Vault and age under a threshold; a first group whose Vault is dead is skipped",
    () =>
      withVault((vault, dir) =>
        Effect.gen(function* () {
          const gone = yield* Effect.promise(() => vault.createKey("gone"))
          const kept = yield* Effect.promise(() => vault.createKey("kept"))
          const age = ageKeygen()
          writeFileSync(join(dir, "s.yaml"), plaintext)
          writeFileSync(
            join(dir, ".sops.yaml"),
            YAML.stringify({
              creation_rules: [
                {
                  path_regex: "\\.yaml$",
                  shamir_threshold: 2,
                  key_groups: [{ hc_vault: [gone] }, { hc_vault: [kept] }, { age: [age.recipient] }],
                },
              ],
            }),
          )
          const keyFile = join(dir, "age.txt")
          writeFileSync(keyFile, age.keyFile)
          const env = cliEnv(dir, vault, { SOPS_AGE_KEY_FILE: keyFile })
          yield* encryptCommand(["--output", join(dir, "g.yaml"), join(dir, "s.yaml")], env, dir)
          const theirs = sops(dir, vault, ["encrypt", "--output", join(dir, "sg.yaml"), join(dir, "s.yaml")])
          expect(theirs.code).toBe(0)
          const dead = yield* deadAddress
          for (const file of ["g.yaml", "sg.yaml"]) {
            const doc = YAML.parseDocument(readFileSync(join(dir, file), "utf8"))
            const md = doc.toJS().sops
            expect(md.shamir_threshold).toBe(2)
            expect(md.key_groups).toHaveLength(3)
            expect(md.key_groups[1].hc_vault[0].key_name).toBe("kept")
            // group 0's Vault is gone (metadata is outside the MAC): its share must come from groups 1 and 2
            doc.setIn(["sops", "key_groups", 0, "hc_vault", 0, "vault_address"], dead)
            writeFileSync(join(dir, `dead-${file}`), doc.toString())
            expect(yield* kustodianDecrypt(dir, env, `dead-${file}`)).toBe(plaintext)
            expect(
              sops(dir, vault, ["decrypt", join(dir, `dead-${file}`)], {
                SOPS_AGE_KEY_FILE: keyFile,
              }).stdout.toString("utf8"),
            ).toBe(plaintext)
          }
          // without the age key too, one group is all that is left: the error names both Vault keys
          const exit = yield* Effect.exit(kustodianDecrypt(dir, cliEnv(dir, vault), "dead-g.yaml"))
          const message = failureMessage(exit)
          expect(message).toContain("shamir threshold 2 needs 2 groups, 1 succeeded")
          expect(message).toContain(`${dead}/v1/transit/keys/gone`)
          expect(message).toContain("ECONNREFUSED")
          // a flat creation rule: hc_vault_transit_uri with two keys in one group, each alone opens the file
          writeFileSync(
            join(dir, ".sops.yaml"),
            YAML.stringify({ creation_rules: [{ hc_vault_transit_uri: `${gone},${kept}` }] }),
          )
          yield* encryptCommand(["--output", join(dir, "f.yaml"), join(dir, "s.yaml")], env, dir)
          const flat = YAML.parseDocument(readFileSync(join(dir, "f.yaml"), "utf8"))
          expect(flat.toJS().sops.hc_vault.map((k: { key_name: string }) => k.key_name)).toEqual([
            "gone",
            "kept",
          ])
          flat.setIn(["sops", "hc_vault", 0, "vault_address"], dead)
          writeFileSync(join(dir, "f-dead.yaml"), flat.toString())
          expect(yield* kustodianDecrypt(dir, env, "f-dead.yaml")).toBe(plaintext)
          expect(sops(dir, vault, ["decrypt", join(dir, "f-dead.yaml")]).stdout.toString("utf8")).toBe(
            plaintext,
          )
        }),
      ),
    180_000,
  )

  it.live(
    "a token Vault refuses: the error names the file, the key and Vault's error, never the token",
    () =>
      withVault((vault, dir) =>
        Effect.gen(function* () {
          const uri = yield* Effect.promise(() => vault.createKey("guarded"))
          yield* Effect.promise(() => vault.createKey("elsewhere"))
          writeFileSync(join(dir, "s.yaml"), plaintext)
          expect(
            sops(dir, vault, [
              "encrypt",
              "--hc-vault-transit",
              uri,
              "--output",
              join(dir, "e.yaml"),
              join(dir, "s.yaml"),
            ]).code,
          ).toBe(0)
          // a tenant's token for another key only
          const scoped = yield* Effect.promise(() => vault.scopedToken("elsewhere"))
          const exit = yield* Effect.exit(
            kustodianDecrypt(dir, cliEnv(dir, vault, { VAULT_TOKEN: scoped }), "e.yaml"),
          )
          const message = failureMessage(exit)
          expect(message).toContain("e.yaml")
          expect(message).toContain(uri)
          expect(message).toContain("Vault answered HTTP 403")
          expect(message).toContain("permission denied")
          expect(message).not.toContain(scoped)
          expect(message).not.toContain(vault.token)
          // kustodian encrypt with that token fails the same way, without writing the file
          const enc = yield* Effect.exit(
            encryptCommand(
              ["--hc-vault-transit", uri, "--output", join(dir, "x.yaml"), join(dir, "s.yaml")],
              cliEnv(dir, vault, { VAULT_TOKEN: scoped }),
              dir,
            ),
          )
          expect(failureMessage(enc)).toContain("permission denied")
          expect(failureMessage(enc)).not.toContain(scoped)
        }),
      ),
    120_000,
  )
})
