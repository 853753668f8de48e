import { describe, expect, it } from "@effect/vitest"
import { redact } from "./redact.ts"

describe("redact", () => {
  const secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "s", namespace: "a" },
    data: { password: Buffer.from("hunter22").toString("base64"), pin: Buffer.from("42").toString("base64") },
  }

  it("masks a Secret's values, encoded or decoded, in server messages", () => {
    const msg = `Secret "s" is invalid: data[password]: Invalid value: "hunter22": bad; raw ${secret.data.password}; pin "42"; port 4242`
    const out = redact(secret, msg)
    expect(out).not.toContain("hunter22")
    expect(out).not.toContain(secret.data.password)
    expect(out).toContain('pin "*****"')
    // Short values are masked only where quoted, so the rest of the message survives.
    expect(out).toContain("port 4242")
    expect(out).toContain("data[password]")
  })

  it("leaves messages about other kinds untouched", () => {
    expect(redact({ ...secret, kind: "ConfigMap" }, "hunter22")).toBe("hunter22")
  })
})
