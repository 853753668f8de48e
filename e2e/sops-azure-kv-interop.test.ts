/**
 * Azure Key Vault interop with the real sops 3.13 against our local server of Key Vault's and Entra's wire
 * protocols (e2e/support/azure-kv-server.ts): sops authenticates with its default chain (AZURE_TENANT_ID,
 * AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST), trusts the test CA through SSL_CERT_FILE and
 * reaches `vault.localhost` (and MSAL's instance discovery) through HTTPS_PROXY, since Go resolves no
 * `*.localhost`. Files sops encrypts with `--azure-kv` decrypt with `kustodian decrypt` and the reverse;
 * `.sops.yaml` key groups mixing Azure with age under a threshold, an unreachable first group, and an
 * authentication failure that names the file, the key and Entra's code, never the secret.
 */
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, type Scope } from "effect"
import * as YAML from "yaml"
import { decryptCommand } from "../operator/src/cli/decrypt.ts"
import { encryptCommand } from "../operator/src/cli/encrypt.ts"
import { ageKeygen } from "../operator/src/sops/testing/peers.ts"
import { type AzureKvServer, azureKvServer } from "./support/azure-kv-server.ts"
import { hasTool, toolPath } from "./support/tools.ts"

const ready = hasTool("sops") && hasTool("age-keygen")

const plaintext =
  "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\nstringData:\n    password: hunter2\n"

const failureMessage = (exit: Exit.Exit<unknown, { message: string }>): string => {
  if (Exit.isSuccess(exit)) return "<succeeded>"
  const e = Cause.findErrorOption(exit.cause)
  return e._tag === "Some" ? e.value.message : Cause.pretty(exit.cause)
}

/** The real sops, asynchronously: the servers it talks to run in this process. */
const sops = (dir: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) =>
  Effect.promise(
    () =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          toolPath("sops"),
          [...args],
          {
            cwd: dir,
            env: { PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, ".no-config"), ...env },
            timeout: 60_000,
          },
          (err, stdout, stderr) =>
            resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
        )
      }),
  )

describe.skipIf(!ready)("Azure Key Vault with the real sops and the local Key Vault server", () => {
  const withVault = <A, E>(f: (kv: AzureKvServer, dir: string) => Effect.Effect<A, E, Scope.Scope>) =>
    Effect.scoped(
      Effect.gen(function* () {
        const kv = yield* azureKvServer()
        const dir = mkdtempSync(join(tmpdir(), "kustodian-azkv-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        return yield* f(kv, dir)
      }),
    )
  /** What both tools get: the client secret credential, the authority host and the CA. */
  const azureEnv = (kv: AzureKvServer): NodeJS.ProcessEnv => ({
    AZURE_TENANT_ID: kv.tenantId,
    AZURE_CLIENT_ID: kv.clientId,
    AZURE_CLIENT_SECRET: kv.clientSecret,
    AZURE_AUTHORITY_HOST: kv.authorityHost,
    SSL_CERT_FILE: kv.caFile,
  })
  const sopsEnv = (kv: AzureKvServer, extra: NodeJS.ProcessEnv = {}) => ({
    ...azureEnv(kv),
    HTTPS_PROXY: kv.proxyUrl,
    ...extra,
  })
  const cliEnv = (dir: string, kv: AzureKvServer, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, ".no-config"),
    ...azureEnv(kv),
    ...extra,
  })
  const kustodianDecrypt = (dir: string, env: NodeJS.ProcessEnv, file: string) =>
    Effect.gen(function* () {
      const out = join(dir, `${file}.out`)
      yield* decryptCommand([join(dir, file), "--output", out], env)
      return readFileSync(out, "utf8")
    })

  it.live(
    "a file sops encrypts with --azure-kv (no version: sops records the current one) decrypts with kustodian",
    () =>
      withVault((kv, dir) =>
        Effect.gen(function* () {
          const kid = kv.createKey("sops-key")
          writeFileSync(join(dir, "s.yaml"), plaintext)
          const r = yield* sops(
            dir,
            [
              "encrypt",
              "--azure-kv",
              `${kv.vaultUrl}/keys/sops-key`,
              "--output",
              join(dir, "e.yaml"),
              join(dir, "s.yaml"),
            ],
            sopsEnv(kv),
          )
          expect(r.stderr).toBe("")
          expect(r.code).toBe(0)
          const entry = YAML.parse(readFileSync(join(dir, "e.yaml"), "utf8")).sops.azure_kv[0]
          expect(entry).toMatchObject({
            vault_url: kv.vaultUrl,
            name: "sops-key",
            version: kid.split("/").at(-1),
          })
          expect(entry.enc).toMatch(/^[A-Za-z0-9_-]+$/)
          expect(kv.counts["proxy-connect"]).toBeGreaterThanOrEqual(1)
          expect(yield* kustodianDecrypt(dir, cliEnv(dir, kv), "e.yaml")).toBe(plaintext)
        }),
      ),
    120_000,
  )

  it.live(
    "a file kustodian encrypt --azure-kv (and SOPS_AZURE_KEYVAULT_URLS) writes decrypts with sops, with sops' fields",
    () =>
      withVault((kv, dir) =>
        Effect.gen(function* () {
          const kid = kv.createKey("k1")
          writeFileSync(join(dir, "s.yaml"), plaintext)
          yield* encryptCommand(
            ["--azure-kv", kid, "--output", join(dir, "k.yaml"), join(dir, "s.yaml")],
            cliEnv(dir, kv),
            dir,
          )
          const r = yield* sops(dir, ["decrypt", join(dir, "k.yaml")], sopsEnv(kv))
          expect(r.stderr).toBe("")
          expect(r.stdout).toBe(plaintext)
          const mine = YAML.parse(readFileSync(join(dir, "k.yaml"), "utf8")).sops.azure_kv[0]
          const s = yield* sops(
            dir,
            ["encrypt", "--azure-kv", kid, "--output", join(dir, "theirs.yaml"), join(dir, "s.yaml")],
            sopsEnv(kv),
          )
          expect(s.code).toBe(0)
          const theirs = YAML.parse(readFileSync(join(dir, "theirs.yaml"), "utf8")).sops.azure_kv[0]
          expect(Object.keys(mine)).toEqual(Object.keys(theirs))
          expect({ ...mine, enc: "", created_at: "" }).toEqual({ ...theirs, enc: "", created_at: "" })
          // the environment variable sops reads instead of the flag
          yield* encryptCommand(
            ["--output", join(dir, "env.yaml"), join(dir, "s.yaml")],
            cliEnv(dir, kv, { SOPS_AZURE_KEYVAULT_URLS: `${kv.vaultUrl}/keys/k1` }),
            dir,
          )
          expect((yield* sops(dir, ["decrypt", join(dir, "env.yaml")], sopsEnv(kv))).stdout).toBe(plaintext)
        }),
      ),
    120_000,
  )

  it.live(
    ".sops.yaml key groups mix Azure and age under a threshold; an unreachable first group is skipped",
    () =>
      withVault((kv, dir) =>
        Effect.gen(function* () {
          kv.createKey("grouped")
          const kept = ageKeygen()
          const other = ageKeygen()
          writeFileSync(join(dir, "s.yaml"), plaintext)
          writeFileSync(
            join(dir, ".sops.yaml"),
            YAML.stringify({
              creation_rules: [
                {
                  path_regex: "\\.yaml$",
                  shamir_threshold: 2,
                  key_groups: [
                    { azure_keyvault: [{ vaultUrl: kv.vaultUrl, key: "grouped", version: "" }] },
                    { age: [kept.recipient] },
                    { age: [other.recipient] },
                  ],
                },
              ],
            }),
          )
          const keyFile = join(dir, "kept.txt")
          writeFileSync(keyFile, `${kept.keyFile}\n${other.keyFile}`)
          yield* encryptCommand(["--output", join(dir, "g.yaml"), join(dir, "s.yaml")], cliEnv(dir, kv), dir)
          const md = YAML.parse(readFileSync(join(dir, "g.yaml"), "utf8")).sops
          expect(md.key_groups).toHaveLength(3)
          expect(md.key_groups[0].azure_kv[0].version).not.toBe("")
          // Azure + one age key, and age only (the Azure group unreachable: a wrong secret)
          const withKept = sopsEnv(kv, { SOPS_AGE_KEY: kept.keyFile })
          expect((yield* sops(dir, ["decrypt", join(dir, "g.yaml")], withKept)).stdout).toBe(plaintext)
          expect(
            yield* kustodianDecrypt(dir, cliEnv(dir, kv, { SOPS_AGE_KEY: kept.keyFile }), "g.yaml"),
          ).toBe(plaintext)
          const ageOnly = cliEnv(dir, kv, {
            AZURE_CLIENT_SECRET: "not-the-secret",
            SOPS_AGE_KEY_FILE: keyFile,
          })
          expect(yield* kustodianDecrypt(dir, ageOnly, "g.yaml")).toBe(plaintext)
          // sops' own file with the same rule
          const s = yield* sops(
            dir,
            ["encrypt", "--output", join(dir, "sg.yaml"), join(dir, "s.yaml")],
            sopsEnv(kv),
          )
          expect(s.stderr).toBe("")
          expect(yield* kustodianDecrypt(dir, ageOnly, "sg.yaml")).toBe(plaintext)
          expect(
            yield* kustodianDecrypt(dir, cliEnv(dir, kv, { SOPS_AGE_KEY: other.keyFile }), "sg.yaml"),
          ).toBe(plaintext)
        }),
      ),
    120_000,
  )

  it.live(
    "a refused credential names the file, the key URL and Entra's code, never the secret",
    () =>
      withVault((kv, dir) =>
        Effect.gen(function* () {
          const kid = kv.createKey("denied")
          writeFileSync(join(dir, "s.yaml"), plaintext)
          yield* encryptCommand(
            ["--azure-kv", kid, "--output", join(dir, "d.yaml"), join(dir, "s.yaml")],
            cliEnv(dir, kv),
            dir,
          )
          const wrong = "wrong-client-secret-value-42"
          const exit = yield* Effect.exit(
            kustodianDecrypt(dir, cliEnv(dir, kv, { AZURE_CLIENT_SECRET: wrong }), "d.yaml"),
          )
          const message = failureMessage(exit)
          expect(message).toContain("d.yaml")
          expect(message).toContain(kid)
          expect(message).toContain("AADSTS7000215")
          expect(message).not.toContain(wrong)
          expect(message).not.toContain(kv.clientSecret)
          // Key Vault's own refusal (403) by its code
          kv.deny(kv.clientId)
          const forbidden = failureMessage(
            yield* Effect.exit(kustodianDecrypt(dir, cliEnv(dir, kv), "d.yaml")),
          )
          expect(forbidden).toContain("Forbidden (HTTP 403)")
          expect(forbidden).not.toContain(kv.clientSecret)
        }),
      ),
    120_000,
  )
})
