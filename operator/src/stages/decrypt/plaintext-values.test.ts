import { describe, expect, it } from "@effect/vitest"
import { plaintextValues } from "./plaintext-values.ts"

const bytes = (s: string) => new TextEncoder().encode(s)
const enc = "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"

describe("plaintextValues", () => {
  it("collects only the values that were encrypted, leaving kinds and names readable", () => {
    const encrypted = `kind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: ${enc}\n  port: ${enc}\nlist:\n  - ${enc}\n`
    const plain =
      "kind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: hunter22\n  port: 12345\nlist:\n  - one-value\n"
    expect(plaintextValues(bytes(encrypted), bytes(plain), "yaml")).toEqual([
      "hunter22",
      "12345",
      "one-value",
    ])
    expect(
      plaintextValues(
        bytes(`PASSWORD=${enc}\nMODE_unencrypted=plainmode\n`),
        bytes("PASSWORD=s3cr3t!\nMODE_unencrypted=plainmode\n"),
        "dotenv",
      ),
    ).toEqual(["s3cr3t!"])
    expect(plaintextValues(bytes("{}"), bytes("line-one\nline-two\n"), "binary")).toEqual([
      "line-one",
      "line-two",
    ])
  })

  it("reads a large file line by line instead of parsing it again, masking every value (more, never less)", () => {
    const filler = Array.from({ length: 4_000 }, (_, i) => `  key-${i}: filler-${i}`).join("\n")
    const plain = `kind: Secret\nstringData:\n  password: "hunter22-long"\n${filler}\n`
    const encrypted = plain.replace('"hunter22-long"', enc)
    expect(plain.length).toBeGreaterThan(64 * 1024)
    const values = plaintextValues(bytes(encrypted), bytes(plain), "yaml")
    expect(values).toContain("hunter22-long")
    expect(values).toContain("filler-7")
  })
})
