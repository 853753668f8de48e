/**
 * AWS KMS in the cluster: `kustodian controller` as its own process against the test control plane, moto's
 * server as AWS KMS and STS (reached through AWS_ENDPOINT_URL; the operator's environment holds no AWS key),
 * and files the real sops encrypted with `--kms`:
 * - key material only in the cluster Secret's `sops.aws-kms` entry: Ready and the Secret decrypted;
 * - an AccessDenied from KMS: BuildFailed naming the file, the ARN and AWS's code, no credential, nothing applied;
 * - `spec.decryption.serviceAccountName` (ObjectLevelWorkloadIdentity): a TokenRequest for the ServiceAccount
 *   with the audience sts.amazonaws.com, exchanged with STS AssumeRoleWithWebIdentity for the role of its
 *   `eks.amazonaws.com/role-arn` annotation (a recording hop in front of moto's STS shows the exchange), the
 *   credentials cached (`gotk_token_cache_events_total`), `--default-decryption-service-account` used when a
 *   Kustomization names none, and a ServiceAccount without the annotation refused with Flux's message.
 */
import { createServer, request } from "node:http"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import {
  applyYaml,
  createTestNamespace,
  installFluxCrds,
  kubectl,
  testKubeconfigPath,
} from "./support/cluster.ts"
import { type GitHttpServer, gitHttpServer } from "./support/git-server.ts"
import { type Moto, motoCredentials, motoServer } from "./support/moto.ts"
import { type OperatorProcess, operatorProcess } from "./support/operator-process.ts"
import { listenOnLoopback } from "./support/ports.ts"
import { providerTestbed } from "./support/provider-testbed.ts"
import { scratchDir, secretManifest, sopsEncryptInPlace } from "./support/seed.ts"

let ns = ""
let server: GitHttpServer
let moto: Moto
let operator: OperatorProcess
/** AssumeRoleWithWebIdentity requests seen by the hop in front of moto's STS (form fields). */
const webIdentityCalls: Array<URLSearchParams> = []
const scope = Effect.runSync(Scope.make())

/** A recording hop in front of moto for STS: remembers each call's form, forwards it unchanged. */
const stsHop = (target: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const to = new URL(target)
      const hop = createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          const body = Buffer.concat(chunks)
          const form = new URLSearchParams(body.toString("utf8"))
          if (form.get("Action") === "AssumeRoleWithWebIdentity") webIdentityCalls.push(form)
          const up = request(
            { host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers },
            (r) => {
              res.writeHead(r.statusCode ?? 502, r.headers)
              r.pipe(res)
            },
          )
          up.end(body)
        })
      })
      return { hop, url: await listenOnLoopback(hop) }
    }),
    ({ hop }) => Effect.promise(() => new Promise<void>((r) => hop.close(() => r()))),
  )

beforeAll(async () => {
  await installFluxCrds()
  ns = await createTestNamespace("aws-kms")
  server = await Effect.runPromise(Scope.provide(scope)(gitHttpServer()))
  moto = await Effect.runPromise(Scope.provide(scope)(motoServer()))
  const hop = await Effect.runPromise(Scope.provide(scope)(stsHop(moto.url)))
  operator = await Effect.runPromise(
    Scope.provide(scope)(
      operatorProcess({
        kubeconfig: testKubeconfigPath(),
        namespace: ns,
        flags: [
          "--feature-gates=ObjectLevelWorkloadIdentity=true",
          "--default-decryption-service-account=decrypter",
        ],
        env: {
          AWS_ENDPOINT_URL: moto.url,
          AWS_ENDPOINT_URL_STS: hop.url,
          // nothing to authenticate with but what the cluster provides
          AWS_ACCESS_KEY_ID: "",
          AWS_SECRET_ACCESS_KEY: "",
          AWS_SESSION_TOKEN: "",
          AWS_PROFILE: "",
          AWS_CONFIG_FILE: moto.env.AWS_CONFIG_FILE!,
          AWS_SHARED_CREDENTIALS_FILE: moto.env.AWS_SHARED_CREDENTIALS_FILE!,
          AWS_EC2_METADATA_DISABLED: "true",
        },
      }),
    ),
  )
}, 300_000)

afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), 60_000)

const { get, ready, waitFor, isReady, isFailed, source, kustomization, passwordOf, tokenCacheEvent } =
  providerTestbed(() => ({
    ns,
    server,
    operator,
  }))

/** A Secret manifest encrypted by the real sops with `--kms arn`, its data only. */
const kmsEncrypted = (work: string, file: string, name: string, password: string, arn: string) =>
  Effect.promise(async () =>
    sopsEncryptInPlace(
      join(work, file),
      await secretManifest(ns, name, { password }),
      ["--kms", arn, "--encrypted-regex", "^(data|stringData)$"],
      moto.env,
    ),
  )

describe("AWS KMS decryption in the cluster (moto's server)", () => {
  it.live(
    "static keys from sops.aws-kms decrypt sops' --kms files; an AccessDenied names the file, ARN and code",
    () =>
      Effect.gen(function* () {
        const work = yield* scratchDir("kustodian-aws-kms-")
        const arn = yield* Effect.promise(() => moto.createKey())
        const other = yield* Effect.promise(() => moto.createKey())
        const good = yield* kmsEncrypted(work, "good/secret.yaml", "kms-secret", "kms-plaintext", arn)
        const denied = (yield* kmsEncrypted(
          work,
          "denied/secret.yaml",
          "kms-denied",
          "denied-plaintext",
          arn,
        ))
          // the entry now names a key that does not own the ciphertext: KMS answers AccessDeniedException
          .replaceAll(arn, other)
        const src = yield* source("kms-static", { "good/secret.yaml": good, "denied/secret.yaml": denied })
        yield* Effect.promise(() =>
          kubectl([
            "-n",
            ns,
            "create",
            "secret",
            "generic",
            "aws-keys",
            `--from-literal=sops.aws-kms=aws_access_key_id: ${motoCredentials.accessKeyId}\naws_secret_access_key: ${motoCredentials.secretAccessKey}\n`,
          ]),
        )
        yield* kustomization("kms-static", src.name, "./good", { secretRef: { name: "aws-keys" } })
        yield* waitFor("kustomization", "kms-static", "Ready", isReady(src.revision))
        expect(yield* passwordOf("kms-secret")).toBe("kms-plaintext")

        yield* kustomization("kms-denied", src.name, "./denied", { secretRef: { name: "aws-keys" } })
        const failed = yield* waitFor("kustomization", "kms-denied", "BuildFailed", isFailed)
        const message = ready(failed)?.message ?? ""
        expect(message).toContain("secret.yaml")
        expect(message).toContain(other)
        expect(message).toContain("AccessDeniedException")
        expect(message).not.toContain(motoCredentials.secretAccessKey)
        expect(message).not.toContain(motoCredentials.accessKeyId)
        expect(message).not.toContain("denied-plaintext")
        expect(yield* get("secret", "kms-denied")).toBeUndefined()
      }).pipe(Effect.scoped),
    180_000,
  )

  it.live(
    "spec.decryption.serviceAccountName: TokenRequest (aud sts.amazonaws.com) → AssumeRoleWithWebIdentity, cached",
    () =>
      Effect.gen(function* () {
        const work = yield* scratchDir("kustodian-aws-wi-")
        const arn = yield* Effect.promise(() => moto.createKey())
        const role = "arn:aws:iam::123456789012:role/kms-decrypt"
        const src = yield* source("kms-wi", {
          "a/secret.yaml": yield* kmsEncrypted(work, "a/secret.yaml", "wi-a", "wi-a-plaintext", arn),
          "b/secret.yaml": yield* kmsEncrypted(work, "b/secret.yaml", "wi-b", "wi-b-plaintext", arn),
          "c/secret.yaml": yield* kmsEncrypted(work, "c/secret.yaml", "wi-c", "wi-c-plaintext", arn),
        })
        yield* Effect.promise(() =>
          applyYaml(
            JSON.stringify({
              apiVersion: "v1",
              kind: "ServiceAccount",
              metadata: {
                name: "decrypter",
                namespace: ns,
                annotations: { "eks.amazonaws.com/role-arn": role },
              },
            }),
          ),
        )
        yield* Effect.promise(() => kubectl(["-n", ns, "create", "serviceaccount", "no-role"]))
        yield* kustomization("wi-a", src.name, "./a", { serviceAccountName: "decrypter" })
        yield* waitFor("kustomization", "wi-a", "Ready", isReady(src.revision))
        expect(yield* passwordOf("wi-a")).toBe("wi-a-plaintext")
        expect(webIdentityCalls).toHaveLength(1)
        const call = webIdentityCalls[0]!
        expect(call.get("RoleArn")).toBe(role)
        expect(call.get("RoleSessionName")).toBe(`decrypter.${ns}.us-east-1.fluxcd.io`)
        const claims = JSON.parse(
          Buffer.from(call.get("WebIdentityToken")!.split(".")[1]!, "base64url").toString("utf8"),
        ) as { aud: ReadonlyArray<string>; sub: string }
        expect(claims.aud).toEqual(["sts.amazonaws.com"])
        expect(claims.sub).toBe(`system:serviceaccount:${ns}:decrypter`)

        // another file, another data key, same ServiceAccount: the credentials come from the token cache
        yield* kustomization("wi-b", src.name, "./b", { serviceAccountName: "decrypter" })
        yield* waitFor("kustomization", "wi-b", "Ready", isReady(src.revision))
        expect(yield* passwordOf("wi-b")).toBe("wi-b-plaintext")
        expect(webIdentityCalls).toHaveLength(1)
        expect(yield* tokenCacheEvent("cache_miss", "wi-a", "decrypt_with_aws")).toBeDefined()
        expect(yield* tokenCacheEvent("cache_hit", "wi-b", "decrypt_with_aws")).toBeDefined()

        // no serviceAccountName and no secretRef: --default-decryption-service-account=decrypter serves
        yield* kustomization("wi-default", src.name, "./c", {})
        yield* waitFor("kustomization", "wi-default", "Ready", isReady(src.revision))
        expect(yield* passwordOf("wi-c")).toBe("wi-c-plaintext")
        expect(webIdentityCalls).toHaveLength(1)
        const again = yield* Effect.promise(async () => (await fetch(`${operator.probeUrl}/metrics`)).text())
        expect(again).toMatch(
          /gotk_token_cache_events_total\{[^}]*event_type="cache_hit"[^}]*name="wi-default"/,
        )

        // without the role annotation: Flux's message, naming the ServiceAccount and the annotation
        yield* kustomization("wi-none", src.name, "./a", { serviceAccountName: "no-role" })
        const failed = yield* waitFor("kustomization", "wi-none", "BuildFailed", isFailed)
        expect(ready(failed)?.message).toContain(
          `failed to decrypt sops data key with AWS KMS: failed to get provider identity from service account '${ns}/no-role' annotations: invalid eks.amazonaws.com/role-arn annotation: ''`,
        )
      }).pipe(Effect.scoped),
    180_000,
  )
})
