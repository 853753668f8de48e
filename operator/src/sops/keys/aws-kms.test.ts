import { createServer, type Server } from "node:http"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { closeServer, listenOnLoopback } from "../../../../e2e/support/ports.ts"
import { kmsRecipient } from "../recipients.ts"
import { awsKmsService, describeAwsError, regionOfArn, stsSessionName } from "./aws-kms.ts"

describe("AWS KMS key service (what needs no server)", () => {
  it("takes the region from the key ARN as sops does, and refuses what is not a KMS ARN", () => {
    expect(regionOfArn("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")).toBe(
      "eu-west-1",
    )
    expect(regionOfArn("arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/sops")).toBe("us-gov-west-1")
    expect(regionOfArn("alias/sops")).toBeUndefined()
    expect(regionOfArn("arn:aws:iam::123456789012:role/x")).toBeUndefined()
  })

  it.effect("a malformed ARN fails before any request, naming the ARN", () =>
    Effect.gen(function* () {
      const r = yield* Effect.result(
        awsKmsService({ env: {} }).decrypt({
          type: "kms",
          arn: "not-an-arn",
          role: "",
          context: {},
          awsProfile: "",
          createdAt: "2026-01-01T00:00:00Z",
          enc: "AAAA",
        }),
      )
      expect(r._tag === "Failure" && r.failure.reason).toBe("no valid ARN found in 'not-an-arn'")
    }),
  )

  it("names the STS session sops@<hostname>, without the characters STS refuses, at most 64 characters", () => {
    // sops' class `[^a-zA-Z0-9=,.@-_]` reads `@-_` as a range, so a hyphen is removed too: same name as sops
    expect(stsSessionName("build-7.example.com")).toBe("sops@build7.example.com")
    expect(stsSessionName("Pod_[x]^y")).toBe("sops@Pod_[x]^y")
    expect(stsSessionName("my host/with:odd*chars")).toBe("sops@myhostwithoddchars")
    expect(stsSessionName("h".repeat(100))).toHaveLength(64)
  })

  it("splits ARN+role where '+arn:' starts, with spaces removed, as sops' NewMasterKeyFromArn", () => {
    expect(
      kmsRecipient(" arn:aws:kms:us-east-1:1:key/k + arn:aws:iam::1:role/r ", { a: "b" }, "prof"),
    ).toEqual({
      type: "kms",
      arn: "arn:aws:kms:us-east-1:1:key/k",
      role: "arn:aws:iam::1:role/r",
      context: { a: "b" },
      awsProfile: "prof",
    })
    // a '+' that does not start a role ARN stays in the key ARN
    expect(kmsRecipient("arn:aws:kms:us-east-1:1:alias/a+b")).toMatchObject({
      arn: "arn:aws:kms:us-east-1:1:alias/a+b",
      role: "",
    })
  })

  it("describes SDK errors by AWS's code and HTTP status, masking credentials and tokens", () => {
    const e = Object.assign(
      new Error("User AKIAIOSFODNN7EXAMPLE with secret wJalrXUtnFEMI/K7MDENG is denied"),
      {
        name: "AccessDeniedException",
        $metadata: { httpStatusCode: 400 },
      },
    )
    const text = describeAwsError(e, ["wJalrXUtnFEMI/K7MDENG"])
    expect(text).toBe("AccessDeniedException (HTTP 400): User <redacted> with secret <redacted> is denied")
    expect(describeAwsError(Object.assign(new Error("UnknownError"), { name: "ThrottlingException" }))).toBe(
      "ThrottlingException",
    )
    expect(describeAwsError(new Error("token eyJhbGciOi.eyJzdWIiOi.c2ln leaked"))).toBe(
      "error: token <redacted> leaked",
    )
  })

  // A server that takes connections and never answers: the network fault that timeouts exist for.
  const silent = Effect.acquireRelease(
    Effect.promise(async () => {
      const open = { count: 0, closed: 0 }
      const server: Server = createServer((req) => {
        open.count++
        req.socket.on("close", () => open.closed++)
      })
      return { server, open, url: await listenOnLoopback(server) }
    }),
    ({ server }) => Effect.promise(() => closeServer(server)),
  )
  const key = {
    type: "kms",
    arn: "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
    role: "",
    context: {},
    awsProfile: "",
    createdAt: "2026-01-01T00:00:00Z",
    enc: "AAAA",
  } as const
  const creds = () => async () => ({ accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret-example" })

  it.live("every attempt is bounded by the request timeout, and the attempts by maxAttempts", () =>
    Effect.gen(function* () {
      const { url, open } = yield* silent
      const service = awsKmsService({
        env: { AWS_ENDPOINT_URL: url },
        credentials: creds,
        requestTimeoutMs: 300,
        maxAttempts: 2,
      })
      const t0 = Date.now()
      const r = yield* Effect.result(service.decrypt(key))
      expect(r._tag).toBe("Failure")
      expect(r._tag === "Failure" && r.failure.reason).toMatch(
        /^failed to decrypt sops data key with AWS KMS: /,
      )
      expect(open.count).toBe(2)
      expect(Date.now() - t0).toBeLessThan(5_000)
    }).pipe(Effect.scoped),
  )

  it.live("interrupting the caller (spec.timeout) aborts the request in flight", () =>
    Effect.gen(function* () {
      const { url, open } = yield* silent
      const service = awsKmsService({ env: { AWS_ENDPOINT_URL: url }, credentials: creds })
      const r = yield* Effect.result(service.decrypt(key).pipe(Effect.timeout("300 millis")))
      expect(r._tag).toBe("Failure")
      // the socket the SDK opened is closed by the abort, long before its 10 s request timeout
      yield* Effect.promise(async () => {
        for (let i = 0; i < 50 && open.closed < 1; i++) await new Promise((s) => setTimeout(s, 20))
      })
      expect(open.count).toBe(1)
      expect(open.closed).toBe(1)
    }).pipe(Effect.scoped),
  )
})
