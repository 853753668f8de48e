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

describe("redact on hostile text", () => {
  const MiB = 1024 * 1024
  it("stays linear on a megabyte of scheme-like runs and unterminated URLs", () => {
    const dots = "a.".repeat(MiB / 2)
    expect(redact(dots)).toBe(dots)
    const schemes = "a://".repeat(MiB / 4)
    expect(stripUserinfo(schemes)).toBe(schemes)
    const noAt = `x https://${"u".repeat(MiB)} y`
    expect(stripUserinfo(noAt)).toBe(noAt)
    const headers = "Authorization: Bearer".repeat(MiB / 21)
    expect(redact(headers)).toBe(headers)
    const many = "https://u:p@h/ ".repeat(MiB / 15)
    expect(redact(many)).toBe("https://h/ ".repeat(MiB / 15))
  })

  it("follows the scheme rules of the expression it replaces", () => {
    expect(stripUserinfo("git+ssh://me@host/x and HTTPS://A:B@H/ and _x://u@h and 1x://u@h")).toBe(
      "git+ssh://host/x and HTTPS://H/ and _x://u@h and 1x://u@h",
    )
    expect(stripUserinfo("a.b-c://u@h ://u@h s://u h@x")).toBe("a.b-c://h ://u@h s://u h@x")
    expect(redact("authorization:basic   dXNlcjpwYXNz rest")).toBe("authorization:basic *** rest")
  })

  it("agrees with the regular expressions it replaces on random short texts", () => {
    const userinfo = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi
    const authorization = /(authorization:\s*)(basic|bearer)\s+\S+/gi
    const alphabet = [
      "a",
      "Z",
      "1",
      "_",
      "+",
      ".",
      "-",
      ":",
      "/",
      "@",
      " ",
      "\n",
      "://",
      "x@",
      "Authorization: ",
      "bearer ",
      "Basic",
    ]
    let seed = 42
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed
    }
    for (let n = 0; n < 5000; n++) {
      const text = Array.from({ length: next() % 24 }, () => alphabet[next() % alphabet.length]).join("")
      const expected = text.replace(userinfo, "$1").replace(authorization, "$1$2 ***")
      expect(redact(text), JSON.stringify(text)).toBe(expected)
    }
  })

  it("masks the lines of a multi-line secret", () => {
    const key = "-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\nEEEEFFFFGGGG\n-----END KEY-----"
    const out = redact("echo: EEEEFFFFGGGG and AAAABBBBCCCCDDDD", [key])
    expect(out).toBe("echo: *** and ***")
  })
})
