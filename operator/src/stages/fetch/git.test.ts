import { describe, expect, it } from "@effect/vitest"
import { classify } from "./git.ts"
import { GitExit } from "./git-process.ts"
import { parseListenAddress } from "./layer.ts"

const url = "https://git.example/r.git"

describe("classify", () => {
  it("turns git's stderr into a reason and a message a user can act on", () => {
    const cases: ReadonlyArray<[string, string, string, boolean | undefined]> = [
      [
        "fatal: could not read Username for 'https://git.example': terminal prompts disabled",
        "GitAuthError",
        "credentials are missing or wrong",
        undefined,
      ],
      [
        "Host key verification failed.\nfatal: Could not read from remote repository.",
        "GitAuthError",
        "not in known_hosts",
        undefined,
      ],
      ["git@host: Permission denied (publickey).", "GitAuthError", "refused the key", undefined],
      [
        "fatal: couldn't find remote ref refs/heads/nope",
        "GitOperationError",
        "couldn't find remote ref",
        false,
      ],
      [
        "fatal: unable to access 'https://git.example/r.git/': Could not resolve host",
        "GitOperationError",
        "Could not resolve host",
        true,
      ],
    ]
    for (const [stderr, tag, message, transient] of cases) {
      const e = classify(url, "ls-remote", new GitExit(128, stderr))
      expect(e._tag, stderr).toBe(tag)
      expect(e.message).toContain(message)
      expect(e.message).toContain(url)
      expect(e.reason).toBe(tag === "GitAuthError" ? "AuthenticationFailed" : "GitOperationFailed")
      if (e._tag === "GitOperationError") expect(e.transient).toBe(transient)
    }
  })
})

describe("parseListenAddress", () => {
  it("reads Flux-style listen addresses", () => {
    expect(parseListenAddress(":9090")).toEqual({ host: undefined, port: 9090 })
    expect(parseListenAddress("127.0.0.1:0")).toEqual({ host: "127.0.0.1", port: 0 })
    expect(parseListenAddress("[::1]:9090")).toEqual({ host: "::1", port: 9090 })
    expect(() => parseListenAddress("nope")).toThrow()
  })
})
