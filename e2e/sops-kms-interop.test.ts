/**
 * AWS KMS interop with the real sops 3.13 against moto's server (a real server of the KMS and STS wire
 * protocols, started here on a free loopback port; both tools reach it through AWS_ENDPOINT_URL): files sops
 * encrypts with `--kms` (encryption context, `+role` ARNs) decrypt with `kustodian decrypt`; files `kustodian
 * encrypt --kms` writes decrypt with sops and have sops' metadata fields; `.sops.yaml` key groups mixing KMS
 * with age under a Shamir threshold, with an unreachable first group; an AccessDenied that names the file, the
 * ARN and AWS's code and no credential; throttled and failing calls retried.
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer, request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, type Scope } from "effect"
import * as YAML from "yaml"
import { decryptCommand } from "../operator/src/cli/decrypt.ts"
import { encryptCommand } from "../operator/src/cli/encrypt.ts"
import { ageKeygen, runSops } from "../operator/src/sops/testing/peers.ts"
import { type Moto, motoCredentials, motoServer } from "./support/moto.ts"
import { listenOnLoopback } from "./support/ports.ts"
import { hasTool, toolPath } from "./support/tools.ts"

const ready = hasTool("sops") && hasTool("moto-server") && hasTool("age-keygen")

const plaintext =
  "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\nstringData:\n    password: hunter2\n"

const failureMessage = (exit: Exit.Exit<unknown, { message: string }>): string => {
  if (Exit.isSuccess(exit)) return "<succeeded>"
  const e = Cause.findErrorOption(exit.cause)
  return e._tag === "Some" ? e.value.message : Cause.pretty(exit.cause)
}

describe.skipIf(!ready)("AWS KMS with the real sops and moto's server", () => {
  const withMoto = <A, E>(f: (moto: Moto, dir: string) => Effect.Effect<A, E, Scope.Scope>) =>
    Effect.scoped(
      Effect.gen(function* () {
        const moto = yield* motoServer()
        const dir = mkdtempSync(join(tmpdir(), "kustodian-kms-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        return yield* f(moto, dir)
      }),
    )
  const sops = (dir: string, moto: Moto, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) =>
    runSops(toolPath("sops"), args, { cwd: dir, env: { ...moto.env, ...env } })
  const cliEnv = (dir: string, moto: Moto, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, ".no-config"),
    ...moto.env,
    ...extra,
  })
  const kustodianDecrypt = (dir: string, env: NodeJS.ProcessEnv, file: string) =>
    Effect.gen(function* () {
      const out = join(dir, `${file}.out`)
      yield* decryptCommand([join(dir, file), "--output", out], env)
      return readFileSync(out, "utf8")
    })

  it.live(
    "a file sops encrypts with --kms, a context and a role decrypts with kustodian decrypt",
    () =>
      withMoto((moto, dir) =>
        Effect.gen(function* () {
          const arn = yield* Effect.promise(() => moto.createKey("eu-west-1"))
          writeFileSync(join(dir, "s.yaml"), plaintext)
          const role = "arn:aws:iam::123456789012:role/sops-decrypt"
          const r = sops(dir, moto, [
            "encrypt",
            "--kms",
            `${arn}+${role}`,
            "--encryption-context",
            "app:db,env:prod",
            "--output",
            join(dir, "enc.yaml"),
            join(dir, "s.yaml"),
          ])
          expect(r.stderr).toBe("")
          expect(r.code).toBe(0)
          const md = YAML.parse(readFileSync(join(dir, "enc.yaml"), "utf8")).sops
          expect(md.kms[0].arn).toBe(arn)
          expect(md.kms[0].role).toBe(role)
          expect(md.kms[0].context).toEqual({ app: "db", env: "prod" })
          expect(yield* kustodianDecrypt(dir, cliEnv(dir, moto), "enc.yaml")).toBe(plaintext)
        }),
      ),
    120_000,
  )

  it.live(
    "a file kustodian encrypt --kms writes decrypts with sops and carries sops' kms fields",
    () =>
      withMoto((moto, dir) =>
        Effect.gen(function* () {
          const arn = yield* Effect.promise(() => moto.createKey())
          writeFileSync(join(dir, "s.yaml"), plaintext)
          const env = cliEnv(dir, moto)
          yield* encryptCommand(
            [
              "--kms",
              arn,
              "--encryption-context",
              "team:payments",
              "--output",
              join(dir, "k.yaml"),
              join(dir, "s.yaml"),
            ],
            env,
            dir,
          )
          const r = sops(dir, moto, ["decrypt", join(dir, "k.yaml")])
          expect(r.stderr).toBe("")
          expect(r.stdout.toString("utf8")).toBe(plaintext)
          // the same entry fields, in the same order, as the file sops writes for the same flags
          const s = sops(dir, moto, [
            "encrypt",
            "--kms",
            arn,
            "--encryption-context",
            "team:payments",
            "--output",
            join(dir, "s.enc.yaml"),
            join(dir, "s.yaml"),
          ])
          expect(s.code).toBe(0)
          const ours = YAML.parse(readFileSync(join(dir, "k.yaml"), "utf8")).sops.kms[0]
          const theirs = YAML.parse(readFileSync(join(dir, "s.enc.yaml"), "utf8")).sops.kms[0]
          expect(Object.keys(ours)).toEqual(Object.keys(theirs))
          expect(ours.context).toEqual(theirs.context)
          expect(ours.aws_profile).toBe("")
          expect(ours.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
          // SOPS_KMS_ARN and the +role syntax: sops assumes the role with its own session and decrypts
          yield* encryptCommand(
            ["--output", join(dir, "r.yaml"), join(dir, "s.yaml")],
            { ...env, SOPS_KMS_ARN: `${arn}+arn:aws:iam::123456789012:role/ci` },
            dir,
          )
          const entry = YAML.parse(readFileSync(join(dir, "r.yaml"), "utf8")).sops.kms[0]
          expect(entry.arn).toBe(arn)
          expect(entry.role).toBe("arn:aws:iam::123456789012:role/ci")
          expect(sops(dir, moto, ["decrypt", join(dir, "r.yaml")]).stdout.toString("utf8")).toBe(plaintext)
        }),
      ),
    120_000,
  )

  it.live(
    "--aws-profile and AWS_PROFILE name a shared-credentials profile; a flat .sops.yaml kms rule lists several keys",
    () =>
      withMoto((moto, dir) =>
        Effect.gen(function* () {
          const [a, b] = yield* Effect.promise(() =>
            Promise.all([moto.createKey(), moto.createKey("eu-central-1")]),
          )
          writeFileSync(join(dir, "s.yaml"), plaintext)
          // the keys only in a profile of the shared credentials file; nothing in the environment
          const shared = moto.env.AWS_SHARED_CREDENTIALS_FILE!
          writeFileSync(
            shared,
            `[kms-ci]\naws_access_key_id = ${motoCredentials.accessKeyId}\naws_secret_access_key = ${motoCredentials.secretAccessKey}\n`,
          )
          const before = process.env.AWS_SHARED_CREDENTIALS_FILE
          process.env.AWS_SHARED_CREDENTIALS_FILE = shared
          yield* Effect.addFinalizer(() =>
            Effect.sync(() => {
              if (before === undefined) delete process.env.AWS_SHARED_CREDENTIALS_FILE
              else process.env.AWS_SHARED_CREDENTIALS_FILE = before
            }),
          )
          const noKeys = { AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "" }
          const env = cliEnv(dir, moto, noKeys)
          yield* encryptCommand(
            ["--kms", a, "--aws-profile", "kms-ci", "--output", join(dir, "p.yaml"), join(dir, "s.yaml")],
            env,
            dir,
          )
          expect(YAML.parse(readFileSync(join(dir, "p.yaml"), "utf8")).sops.kms[0].aws_profile).toBe("kms-ci")
          expect(sops(dir, moto, ["decrypt", join(dir, "p.yaml")], noKeys).stdout.toString("utf8")).toBe(
            plaintext,
          )
          expect(yield* kustodianDecrypt(dir, env, "p.yaml")).toBe(plaintext)
          // a file without aws_profile opens with AWS_PROFILE
          expect(
            sops(dir, moto, ["encrypt", "--kms", a, "--output", join(dir, "n.yaml"), join(dir, "s.yaml")])
              .code,
          ).toBe(0)
          expect(yield* kustodianDecrypt(dir, { ...env, AWS_PROFILE: "kms-ci" }, "n.yaml")).toBe(plaintext)
          // without keys or a profile the chain finds nothing: the error says so and names the key
          const none = yield* Effect.exit(kustodianDecrypt(dir, env, "n.yaml"))
          expect(failureMessage(none)).toContain(a)
          // a flat creation rule: both keys in one group; each alone opens the file
          writeFileSync(
            join(dir, ".sops.yaml"),
            YAML.stringify({ creation_rules: [{ kms: `${a},${b}`, aws_profile: "kms-ci" }] }),
          )
          yield* encryptCommand(["--output", join(dir, "f.yaml"), join(dir, "s.yaml")], env, dir)
          const md = YAML.parse(readFileSync(join(dir, "f.yaml"), "utf8")).sops
          expect(md.kms.map((k: { arn: string }) => k.arn)).toEqual([a, b])
          expect(md.kms.map((k: { aws_profile: string }) => k.aws_profile)).toEqual(["kms-ci", "kms-ci"])
          expect(sops(dir, moto, ["decrypt", join(dir, "f.yaml")], noKeys).stdout.toString("utf8")).toBe(
            plaintext,
          )
          // the same file with only key B's entry (metadata is outside the MAC)
          const doc = YAML.parseDocument(readFileSync(join(dir, "f.yaml"), "utf8"))
          doc.deleteIn(["sops", "kms", 0])
          const onlyB = doc.toString()
          writeFileSync(join(dir, "b.yaml"), onlyB)
          expect(YAML.parse(onlyB).sops.kms.map((k: { arn: string }) => k.arn)).toEqual([b])
          expect(yield* kustodianDecrypt(dir, env, "b.yaml")).toBe(plaintext)
        }),
      ),
    120_000,
  )

  it.live(
    ".sops.yaml key groups mix KMS and age under a threshold; an unreachable first group is skipped",
    () =>
      withMoto((moto, dir) =>
        Effect.gen(function* () {
          const arn = yield* Effect.promise(() => moto.createKey())
          const lost = ageKeygen()
          const kept = ageKeygen()
          writeFileSync(join(dir, "s.yaml"), plaintext)
          writeFileSync(
            join(dir, ".sops.yaml"),
            YAML.stringify({
              creation_rules: [
                {
                  path_regex: "\\.yaml$",
                  shamir_threshold: 2,
                  key_groups: [
                    { age: [lost.recipient] },
                    { kms: [{ arn, context: { tier: "gold" } }] },
                    { age: [kept.recipient] },
                  ],
                },
              ],
            }),
          )
          const keyFile = join(dir, "kept.txt")
          writeFileSync(keyFile, kept.keyFile)
          const env = cliEnv(dir, moto, { SOPS_AGE_KEY_FILE: keyFile })
          yield* encryptCommand(["--output", join(dir, "g.yaml"), join(dir, "s.yaml")], env, dir)
          const md = YAML.parse(readFileSync(join(dir, "g.yaml"), "utf8")).sops
          expect(md.shamir_threshold).toBe(2)
          expect(md.key_groups).toHaveLength(3)
          expect(md.key_groups[1].kms[0].context).toEqual({ tier: "gold" })
          // group 0's identity is nowhere: sops and kustodian both need groups 1 (KMS) and 2 (age)
          expect(
            sops(dir, moto, ["decrypt", join(dir, "g.yaml")], {
              SOPS_AGE_KEY_FILE: keyFile,
            }).stdout.toString(),
          ).toBe(plaintext)
          expect(yield* kustodianDecrypt(dir, env, "g.yaml")).toBe(plaintext)
          // sops' own file with the same rule decrypts here too
          expect(
            sops(dir, moto, ["encrypt", "--output", join(dir, "sg.yaml"), join(dir, "s.yaml")]).code,
          ).toBe(0)
          expect(yield* kustodianDecrypt(dir, env, "sg.yaml")).toBe(plaintext)
          // without KMS (its endpoint refuses connections) one share is missing: the error names the key
          const closed = createServer()
          const closedUrl = yield* Effect.promise(() => listenOnLoopback(closed))
          yield* Effect.promise(() => new Promise<void>((r) => closed.close(() => r())))
          const exit = yield* Effect.exit(
            kustodianDecrypt(dir, { ...env, AWS_ENDPOINT_URL: closedUrl }, "g.yaml"),
          )
          const message = failureMessage(exit)
          expect(message).toContain("shamir threshold 2 needs 2 groups, 1 succeeded")
          expect(message).toContain(arn)
        }),
      ),
    120_000,
  )

  it.live(
    "AccessDenied names the file, the ARN and AWS's code, never a credential",
    () =>
      withMoto((moto, dir) =>
        Effect.gen(function* () {
          const a = yield* Effect.promise(() => moto.createKey())
          const b = yield* Effect.promise(() => moto.createKey())
          writeFileSync(join(dir, "s.yaml"), plaintext)
          expect(
            sops(dir, moto, ["encrypt", "--kms", a, "--output", join(dir, "e.yaml"), join(dir, "s.yaml")])
              .code,
          ).toBe(0)
          // the entry now names key B, which does not own the ciphertext: KMS refuses it
          writeFileSync(join(dir, "denied.yaml"), readFileSync(join(dir, "e.yaml"), "utf8").replaceAll(a, b))
          const exit = yield* Effect.exit(kustodianDecrypt(dir, cliEnv(dir, moto), "denied.yaml"))
          const message = failureMessage(exit)
          expect(message).toContain("denied.yaml")
          expect(message).toContain(b)
          expect(message).toContain("AccessDeniedException")
          expect(message).not.toContain(motoCredentials.secretAccessKey)
          expect(message).not.toContain(motoCredentials.accessKeyId)
        }),
      ),
    120_000,
  )

  it.live(
    "throttling and 5xx answers are retried with backoff",
    () =>
      withMoto((moto, dir) =>
        Effect.gen(function* () {
          const arn = yield* Effect.promise(() => moto.createKey())
          writeFileSync(join(dir, "s.yaml"), plaintext)
          expect(
            sops(dir, moto, ["encrypt", "--kms", arn, "--output", join(dir, "e.yaml"), join(dir, "s.yaml")])
              .code,
          ).toBe(0)
          // a fault-injecting hop in front of moto: the first two calls fail (throttled, then 503), the rest pass
          const target = new URL(moto.url)
          let calls = 0
          const hop = createServer((req, res) => {
            calls++
            if (calls === 1) {
              res.writeHead(400, { "content-type": "application/x-amz-json-1.1" })
              res.end(JSON.stringify({ __type: "ThrottlingException", message: "Rate exceeded" }))
              return
            }
            if (calls === 2) {
              res.writeHead(503, { "content-type": "application/x-amz-json-1.1" })
              res.end(JSON.stringify({ __type: "KMSInternalException", message: "try again" }))
              return
            }
            const up = request(
              {
                host: target.hostname,
                port: target.port,
                path: req.url,
                method: req.method,
                headers: req.headers,
              },
              (r) => {
                res.writeHead(r.statusCode ?? 502, r.headers)
                r.pipe(res)
              },
            )
            req.pipe(up)
          })
          const hopUrl = yield* Effect.promise(() => listenOnLoopback(hop))
          yield* Effect.addFinalizer(() =>
            Effect.promise(() => new Promise<void>((r) => hop.close(() => r()))),
          )
          const out = yield* kustodianDecrypt(dir, cliEnv(dir, moto, { AWS_ENDPOINT_URL: hopUrl }), "e.yaml")
          expect(out).toBe(plaintext)
          expect(calls).toBe(3)
        }),
      ),
    120_000,
  )
})
