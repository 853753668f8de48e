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
})
