import { describe, expect, it } from "@effect/vitest"
import { redact, stripUserinfo } from "./redact.ts"

describe("redact", () => {
  it("removes userinfo from URLs", () => {
    expect(stripUserinfo("fatal: unable to access 'https://bob:hunter22@git.example/r.git/'")).toBe(
      "fatal: unable to access 'https://git.example/r.git/'",
    )
    expect(stripUserinfo("ssh://git@host:22/repo")).toBe("ssh://host:22/repo")
  })

  it("masks secret values, their base64 and Authorization headers", () => {
    const b64 = Buffer.from("s3cret-token").toString("base64")
    const out = redact(`token s3cret-token; header ${b64}; Authorization: Bearer abc.def`, ["s3cret-token"])
    expect(out).not.toContain("s3cret-token")
    expect(out).not.toContain(b64)
    expect(out).not.toContain("abc.def")
  })
})
