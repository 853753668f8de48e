import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { stringify } from "yaml"
import {
  type KubeConfigPolicy,
  maxKubeConfigBytes,
  parseUntrustedKubeConfig,
} from "./untrusted-kubeconfig.ts"

const secretToken = "s3cr3t-t0ken-value"
const caPem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

const kubeconfig = (
  cluster: Record<string, unknown> = {},
  user: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) =>
  Buffer.from(
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "remote",
          cluster: {
            server: "https://remote.example:6443",
            "certificate-authority-data": Buffer.from(caPem).toString("base64"),
            ...cluster,
          },
        },
      ],
      users: [{ name: "deployer", user: { token: secretToken, ...user } }],
      contexts: [{ name: "remote", context: { cluster: "remote", user: "deployer" } }],
      "current-context": "remote",
      ...extra,
    }),
  )

const refusal = (bytes: Uint8Array, policy: KubeConfigPolicy = {}) =>
  parseUntrustedKubeConfig(bytes, policy).pipe(
    Effect.flip,
    Effect.map((e) => e.message),
  )

describe("a tenant's kubeconfig (Flux's sanitising rules)", () => {
  it.effect("uses the current context's server, CA and token", () =>
    Effect.gen(function* () {
      const endpoint = yield* parseUntrustedKubeConfig(kubeconfig({ "tls-server-name": "api.internal" }))
      expect(endpoint.server.toString()).toBe("https://remote.example:6443/")
      expect(endpoint.tls.ca?.toString()).toBe(caPem)
      expect(endpoint.tls.serverName).toBe("api.internal")
      expect(endpoint.tls.insecure).toBe(false)
      expect(endpoint.headers).toEqual({ Authorization: `Bearer ${secretToken}` })
      expect(endpoint.exec).toBe(false)
      const basic = yield* parseUntrustedKubeConfig(
        kubeconfig({}, { token: undefined, username: "u", password: "p" }),
      )
      expect(basic.headers).toEqual({ Authorization: `Basic ${Buffer.from("u:p").toString("base64")}` })
    }),
  )

  it.effect("refuses exec plugins and insecure TLS unless the controller's flags allow them", () =>
    Effect.gen(function* () {
      const exec = kubeconfig({}, { token: undefined, exec: { apiVersion: "v1", command: "/bin/cred" } })
      expect(yield* refusal(exec)).toContain("users[].user.exec")
      expect(yield* refusal(exec)).toContain("--insecure-kubeconfig-exec")
      expect((yield* parseUntrustedKubeConfig(exec, { allowExec: true })).exec).toBe(true)

      const insecure = kubeconfig({
        "insecure-skip-tls-verify": true,
        "certificate-authority-data": undefined,
      })
      expect(yield* refusal(insecure)).toContain("--insecure-kubeconfig-tls")
      expect(yield* refusal(insecure, { allowExec: true })).toContain("insecure-skip-tls-verify")
      expect((yield* parseUntrustedKubeConfig(insecure, { allowInsecureTls: true })).tls.insecure).toBe(true)
    }),
  )

  it.effect(
    "refuses file references, auth-provider, proxies and its own impersonation, naming the field",
    () =>
      Effect.gen(function* () {
        const cases: ReadonlyArray<readonly [Uint8Array, string]> = [
          [
            kubeconfig({ "certificate-authority": "/etc/ca.crt" }),
            "clusters[].cluster.certificate-authority",
          ],
          [kubeconfig({ "proxy-url": "http://proxy:3128" }), "clusters[].cluster.proxy-url"],
          [
            kubeconfig({}, { tokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token" }),
            "users[].user.tokenFile",
          ],
          [kubeconfig({}, { "client-certificate": "/tmp/c.crt" }), "users[].user.client-certificate"],
          [kubeconfig({}, { "client-key": "/tmp/c.key" }), "users[].user.client-key"],
          [kubeconfig({}, { "auth-provider": { name: "gcp" } }), "users[].user.auth-provider"],
          [kubeconfig({}, { as: "system:admin" }), "users[].user.as"],
          [kubeconfig({}, { "as-groups": ["system:masters"] }), "users[].user.as-groups"],
        ]
        for (const [bytes, field] of cases) {
          const message = yield* refusal(bytes, { allowExec: true, allowInsecureTls: true })
          expect(message).toContain(field)
          expect(message).not.toContain(secretToken)
        }
      }),
  )

  it.effect("malformed or oversized kubeconfigs fail without quoting them", () =>
    Effect.gen(function* () {
      const bad = Buffer.from(`clusters: [\n  token: ${secretToken}\n  {{{`)
      const message = yield* refusal(bad)
      expect(message).toMatch(/^is not valid YAML/)
      expect(message).not.toContain(secretToken)
      expect(yield* refusal(Buffer.alloc(maxKubeConfigBytes + 1, 0x20))).toContain("more than the")
      expect(yield* refusal(Buffer.from("- a\n- b\n"))).toContain("is not a kubeconfig")
      expect(yield* refusal(kubeconfig({}, {}, { "current-context": "elsewhere" }))).toContain(
        "no context named by current-context",
      )
      expect(yield* refusal(kubeconfig({ server: "ftp://x" }))).toContain("https:// or http://")
      expect(yield* refusal(kubeconfig({ server: undefined }))).toContain("server is not set")
      expect(yield* refusal(kubeconfig({ "certificate-authority-data": "%%%" }))).toContain("is not base64")
      // An alias bomb is refused by the parser, not expanded.
      const bomb = Buffer.from(`a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n`)
      expect(yield* refusal(bomb)).toMatch(/^is not valid YAML|is not a kubeconfig/)
    }),
  )
})
