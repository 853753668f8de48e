import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type AuthSecret, materializeAuth } from "./git-auth.ts"

const secret = (data: Record<string, string>): AuthSecret => ({
  ref: "ns/auth",
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)])),
})

describe("materializeAuth", () => {
  it.effect(
    "keeps credentials in private files, never in the environment, and removes them with the scope",
    () =>
      Effect.gen(function* () {
        let dir = ""
        yield* Effect.scoped(
          Effect.gen(function* () {
            const auth = yield* materializeAuth(
              new URL("https://git.example:8443/org/repo.git"),
              secret({ username: "bob", password: "hunter2-secret", "ca.crt": "CERT" }),
            )
            dir = auth.dir
            expect(statSync(dir).mode & 0o777).toBe(0o700)
            const config = readFileSync(join(dir, "gitconfig"), "utf8")
            expect(statSync(join(dir, "gitconfig")).mode & 0o777).toBe(0o600)
            // Scoped to the remote's origin, so a redirect elsewhere never receives the header.
            expect(config).toContain('[http "https://git.example:8443/"]')
            expect(config).toContain(
              `Authorization: Basic ${Buffer.from("bob:hunter2-secret").toString("base64")}`,
            )
            expect(JSON.stringify(auth.env)).not.toContain("hunter2-secret")
            expect(JSON.stringify(auth.env)).not.toContain(
              Buffer.from("bob:hunter2-secret").toString("base64"),
            )
            expect(auth.secrets).toContain("hunter2-secret")
          }),
        )
        expect(existsSync(dir)).toBe(false)
      }),
  )

  it.effect(
    "SSH: strict host key checking against the given known_hosts, askpass only for a passphrase",
    () =>
      Effect.gen(function* () {
        const keys = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "kustodian-key-"))),
          (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true })),
        )
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "pass-phrase-1", "-f", join(keys, "id")])
        const identity = readFileSync(join(keys, "id"), "utf8")
        const auth = yield* materializeAuth(
          new URL("ssh://git@host:2222/repo.git"),
          secret({ identity, known_hosts: "[host]:2222 ssh-ed25519 AAAA", password: "pass-phrase-1" }),
        )
        const cmd = auth.env.GIT_SSH_COMMAND ?? ""
        expect(cmd).toContain("'StrictHostKeyChecking=yes'")
        expect(cmd).toContain(`'UserKnownHostsFile=${join(auth.dir, "known_hosts")}'`)
        expect(cmd).not.toContain("pass-phrase-1")
        expect(auth.env.SSH_ASKPASS).toBe(join(auth.dir, "askpass"))
        expect(readFileSync(join(auth.dir, "passphrase"), "utf8")).toBe("pass-phrase-1")
      }).pipe(Effect.scoped),
  )

  it.effect("refuses SSH without known_hosts and half-configured secrets, naming the Secret", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<[string, AuthSecret | undefined, string]> = [
        ["ssh://git@host/repo.git", undefined, "spec.secretRef"],
        ["ssh://git@host/repo.git", secret({ identity: "KEY" }), "'ns/auth' has no 'known_hosts'"],
        ["https://host/repo.git", secret({ username: "u" }), "needs both 'username' and 'password'"],
        ["https://host/repo.git", secret({ "tls.crt": "C" }), "needs both 'tls.crt' and 'tls.key'"],
        ["https://host/repo.git", secret({ bearerToken: "t", username: "u", password: "p" }), "use one"],
      ]
      for (const [url, s, message] of cases) {
        const r = yield* Effect.result(Effect.scoped(materializeAuth(new URL(url), s)))
        expect(r._tag).toBe("Failure")
        if (r._tag === "Failure") expect(r.failure.message).toContain(message)
      }
    }),
  )
})
