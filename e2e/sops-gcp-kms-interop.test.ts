/**
 * GCP KMS interop with the real sops 3.13 against the local server of GCP KMS's wire protocol (gRPC over TLS on
 * loopback, e2e/support/gcp-kms-server.ts). sops reaches it through its own `SOPS_GCP_KMS_ENDPOINT`, trusts its
 * CA through `SSL_CERT_FILE` and authenticates with `GOOGLE_CREDENTIALS` (a service-account key file: Go's client
 * sends a self-signed JWT); `kustodian` reads the same variables (and goes through the token endpoint). Files sops
 * encrypts with `--gcp-kms` decrypt with `kustodian decrypt`; files `kustodian encrypt --gcp-kms` (and
 * `SOPS_GCP_KMS_IDS`) writes decrypt with sops and carry sops' fields; `.sops.yaml` key groups mixing GCP KMS
 * with age under a Shamir threshold, with an unreachable first group, open with both; a PERMISSION_DENIED names
 * the file, the resource and Google's code and no credential.
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
import { closeGcpKmsClients } from "../operator/src/sops/keys/gcp-kms.ts"
import { ageKeygen } from "../operator/src/sops/testing/peers.ts"
import { type GcpKmsServer, gcpKmsServer, type TestServiceAccount } from "./support/gcp-kms-server.ts"
import { hasTool, toolPath } from "./support/tools.ts"

const ready = hasTool("sops") && hasTool("age-keygen")

const plaintext =
  "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\nstringData:\n    password: hunter2\n"
const keyA = "projects/kustodian-test/locations/europe-west1/keyRings/sops/cryptoKeys/a"
const keyB = "projects/kustodian-test/locations/global/keyRings/sops/cryptoKeys/b"

const failureMessage = (exit: Exit.Exit<unknown, { message: string }>): string => {
  if (Exit.isSuccess(exit)) return "<succeeded>"
  const e = Cause.findErrorOption(exit.cause)
  return e._tag === "Some" ? e.value.message : Cause.pretty(exit.cause)
}

interface World {
  readonly server: GcpKmsServer
  readonly dir: string
  /** Environment for sops and the CLI with `sa`'s key file as GOOGLE_CREDENTIALS. */
  readonly envFor: (sa: TestServiceAccount, extra?: NodeJS.ProcessEnv) => NodeJS.ProcessEnv
}

/** The real sops, asynchronously: the server answers from this process. */
const sops = (dir: string, env: NodeJS.ProcessEnv, args: ReadonlyArray<string>) =>
  Effect.promise(
    () =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(toolPath("sops"), [...args], { cwd: dir, env, timeout: 60_000 }, (err, stdout, stderr) =>
          resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr }),
        )
      }),
  )

describe.skipIf(!ready)("GCP KMS with the real sops and the local GCP KMS server", () => {
  const withWorld = <A, E>(f: (w: World) => Effect.Effect<A, E, Scope.Scope>) =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* gcpKmsServer()
        yield* Effect.addFinalizer(() => Effect.promise(() => closeGcpKmsClients()))
        const dir = mkdtempSync(join(tmpdir(), "kustodian-gcp-interop-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        writeFileSync(join(dir, "ca.pem"), server.ca)
        const envFor = (sa: TestServiceAccount, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
          const file = join(dir, `${sa.email.split("@")[0]}.json`)
          writeFileSync(file, JSON.stringify(sa.keyJson))
          return {
            PATH: process.env.PATH,
            HOME: dir,
            XDG_CONFIG_HOME: join(dir, ".no-config"),
            SOPS_GCP_KMS_ENDPOINT: server.kmsEndpoint,
            SSL_CERT_FILE: join(dir, "ca.pem"),
            GOOGLE_CREDENTIALS: file,
            ...extra,
          }
        }
        return yield* f({ server, dir, envFor })
      }),
    )
  const kustodianDecrypt = (dir: string, env: NodeJS.ProcessEnv, file: string) =>
    Effect.gen(function* () {
      const out = join(dir, `${file}.out`)
      yield* decryptCommand([join(dir, file), "--output", out], env)
      return readFileSync(out, "utf8")
    })

  it.live(
    "sops --gcp-kms → kustodian decrypt; kustodian encrypt --gcp-kms / SOPS_GCP_KMS_IDS → sops decrypt, same fields",
    () =>
      withWorld(({ server, dir, envFor }) =>
        Effect.gen(function* () {
          const sa = server.serviceAccount("sops")
          server.createKey(keyA, [sa.principal])
          server.createKey(keyB, [sa.principal])
          const env = envFor(sa)
          writeFileSync(join(dir, "s.yaml"), plaintext)
          const r = yield* sops(dir, env, [
            "encrypt",
            "--gcp-kms",
            `${keyA},${keyB}`,
            "--output",
            join(dir, "enc.yaml"),
            join(dir, "s.yaml"),
          ])
          expect(r.stderr).toBe("")
          expect(r.code).toBe(0)
          const theirs = YAML.parse(readFileSync(join(dir, "enc.yaml"), "utf8")).sops.gcp_kms
          expect(theirs.map((k: { resource_id: string }) => k.resource_id)).toEqual([keyA, keyB])
          expect(yield* kustodianDecrypt(dir, env, "enc.yaml")).toBe(plaintext)
          // sops went through a self-signed JWT; kustodian through the token endpoint
          expect(server.calls["token:jwt-bearer"]).toBe(1)

          yield* encryptCommand(
            ["--gcp-kms", keyA, "--output", join(dir, "k.yaml"), join(dir, "s.yaml")],
            env,
            dir,
          )
          const d = yield* sops(dir, env, ["decrypt", join(dir, "k.yaml")])
          expect(d.stderr).toBe("")
          expect(d.stdout).toBe(plaintext)
          const ours = YAML.parse(readFileSync(join(dir, "k.yaml"), "utf8")).sops.gcp_kms
          expect(ours).toHaveLength(1)
          expect(Object.keys(ours[0])).toEqual(Object.keys(theirs[0]))
          expect(ours[0].created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
          // the raw text too: the same key order as sops writes (created_at, enc, resource_id)
          expect(readFileSync(join(dir, "k.yaml"), "utf8")).toMatch(
            /gcp_kms:\n {8}- created_at: "[^"]+"\n {10}enc: [A-Za-z0-9+/=]+\n {10}resource_id: projects\//,
          )
          yield* encryptCommand(
            ["--output", join(dir, "e.yaml"), join(dir, "s.yaml")],
            { ...env, SOPS_GCP_KMS_IDS: keyB },
            dir,
          )
          expect(YAML.parse(readFileSync(join(dir, "e.yaml"), "utf8")).sops.gcp_kms[0].resource_id).toBe(keyB)
          expect((yield* sops(dir, env, ["decrypt", join(dir, "e.yaml")])).stdout).toBe(plaintext)
        }),
      ),
    120_000,
  )

  it.live(
    "SOPS_GCP_KMS_CLIENT_TYPE=rest: sops' REST client and kustodian's, both ways",
    () =>
      withWorld(({ server, dir, envFor }) =>
        Effect.gen(function* () {
          const sa = server.serviceAccount("rest")
          server.createKey(keyA, [sa.principal])
          const env = envFor(sa, {
            SOPS_GCP_KMS_CLIENT_TYPE: "rest",
            SOPS_GCP_KMS_ENDPOINT: `${server.httpUrl}/`,
          })
          writeFileSync(join(dir, "s.yaml"), plaintext)
          const r = yield* sops(dir, env, [
            "encrypt",
            "--gcp-kms",
            keyA,
            "--output",
            join(dir, "enc.yaml"),
            join(dir, "s.yaml"),
          ])
          expect(r.stderr).toBe("")
          expect(yield* kustodianDecrypt(dir, env, "enc.yaml")).toBe(plaintext)
          yield* encryptCommand(
            ["--gcp-kms", keyA, "--output", join(dir, "k.yaml"), join(dir, "s.yaml")],
            env,
            dir,
          )
          expect((yield* sops(dir, env, ["decrypt", join(dir, "k.yaml")])).stdout).toBe(plaintext)
          expect(server.calls.Encrypt).toBe(2)
          expect(server.calls.Decrypt).toBe(2)
        }),
      ),
    120_000,
  )

  it.live(
    ".sops.yaml key groups mix GCP KMS and age under a threshold; an unreachable first group is skipped by both",
    () =>
      withWorld(({ server, dir, envFor }) =>
        Effect.gen(function* () {
          const writer = server.serviceAccount("writer")
          const reader = server.serviceAccount("reader")
          server.createKey(keyA, [writer.principal])
          server.createKey(keyB, [writer.principal, reader.principal])
          const kept = ageKeygen()
          const keyFile = join(dir, "kept.txt")
          writeFileSync(keyFile, kept.keyFile)
          writeFileSync(join(dir, "s.yaml"), plaintext)
          writeFileSync(
            join(dir, ".sops.yaml"),
            YAML.stringify({
              creation_rules: [
                {
                  path_regex: "\\.yaml$",
                  shamir_threshold: 2,
                  key_groups: [
                    { gcp_kms: [{ resource_id: keyA }] },
                    { age: [kept.recipient] },
                    { gcp_kms: [{ resource_id: keyB }] },
                  ],
                },
              ],
            }),
          )
          const writeEnv = envFor(writer, { SOPS_AGE_KEY_FILE: keyFile })
          yield* encryptCommand(["--output", join(dir, "g.yaml"), join(dir, "s.yaml")], writeEnv, dir)
          const md = YAML.parse(readFileSync(join(dir, "g.yaml"), "utf8")).sops
          expect(md.shamir_threshold).toBe(2)
          expect(
            md.key_groups.map((g: Record<string, unknown>) =>
              Object.keys(g).filter((k) => Array.isArray(g[k]) && (g[k] as Array<unknown>).length > 0),
            ),
          ).toEqual([["gcp_kms"], ["age"], ["gcp_kms"]])
          // the reader may not use key A: group 0 fails, groups 1 (age) and 2 (key B) make the threshold
          const readEnv = envFor(reader, { SOPS_AGE_KEY_FILE: keyFile })
          const theirs = yield* sops(dir, readEnv, ["decrypt", join(dir, "g.yaml")])
          expect(theirs.stdout).toBe(plaintext)
          expect(yield* kustodianDecrypt(dir, readEnv, "g.yaml")).toBe(plaintext)
          // sops' own file with the same rule decrypts here too
          expect(
            (yield* sops(dir, writeEnv, ["encrypt", "--output", join(dir, "sg.yaml"), join(dir, "s.yaml")]))
              .code,
          ).toBe(0)
          expect(yield* kustodianDecrypt(dir, readEnv, "sg.yaml")).toBe(plaintext)
          // without the age key one share is missing: the error names both GCP keys and the threshold
          const exit = yield* Effect.exit(kustodianDecrypt(dir, envFor(reader), "sg.yaml"))
          const message = failureMessage(exit)
          expect(message).toContain("shamir threshold 2 needs 2 groups, 1 succeeded")
          expect(message).toContain(keyA)
          expect(message).toContain("PERMISSION_DENIED")
        }),
      ),
    120_000,
  )

  it.live(
    "PERMISSION_DENIED names the file, the resource ID and Google's code, never a credential",
    () =>
      withWorld(({ server, dir, envFor }) =>
        Effect.gen(function* () {
          const owner = server.serviceAccount("owner")
          const stranger = server.serviceAccount("stranger")
          server.createKey(keyA, [owner.principal])
          writeFileSync(join(dir, "s.yaml"), plaintext)
          expect(
            (yield* sops(dir, envFor(owner), [
              "encrypt",
              "--gcp-kms",
              keyA,
              "--output",
              join(dir, "e.yaml"),
              join(dir, "s.yaml"),
            ])).code,
          ).toBe(0)
          const exit = yield* Effect.exit(kustodianDecrypt(dir, envFor(stranger), "e.yaml"))
          const message = failureMessage(exit)
          expect(message).toContain("e.yaml")
          expect(message).toContain(keyA)
          expect(message).toContain(
            `PERMISSION_DENIED: Permission 'cloudkms.cryptoKeyVersions.useToDecrypt' denied on resource '${keyA}' (or it may not exist).`,
          )
          expect(message).not.toContain(stranger.keyJson.private_key!.slice(40, 80))
          expect(message).not.toContain("ya29.")
          expect(message).not.toContain("hunter2")
          // sops says the same thing in its words
          const theirs = yield* sops(dir, envFor(stranger), ["decrypt", join(dir, "e.yaml")])
          expect(theirs.code).not.toBe(0)
          expect(theirs.stderr).toContain("PermissionDenied")
        }),
      ),
    120_000,
  )
})
