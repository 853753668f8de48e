import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import type { KubeObject } from "../../kube/object.ts"
import { encryptedPart, refuseStillEncrypted } from "./still-encrypted.ts"

const secret = (extra: Record<string, unknown>, annotations?: Record<string, string>): KubeObject => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: "s", namespace: "ns", ...(annotations ? { annotations } : {}) },
  ...extra,
})
const b64 = (s: string) => Buffer.from(s).toString("base64")

describe("still-encrypted guard", () => {
  it("finds sops metadata, ENC[ values and SOPS files inside data", () => {
    expect(encryptedPart(secret({ sops: { mac: "x" } }))).toBe("sops")
    expect(encryptedPart(secret({ stringData: { a: "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]" } }))).toBe(
      "stringData.a",
    )
    expect(encryptedPart(secret({ data: { a: b64("ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]") } }))).toBe(
      "data.a",
    )
    expect(encryptedPart(secret({ data: { a: b64("plain"), b: b64("ENC is a word") } }))).toBeUndefined()
  })

  it("refuses with Flux's message unless the object opted out", () => {
    const exit = Effect.runSyncExit(refuseStillEncrypted([secret({ sops: { mac: "x" } })]))
    expect(Exit.isFailure(exit) && String(exit.cause)).toContain(
      "Secret/ns/s is SOPS encrypted, configuring decryption is required for this secret to be reconciled",
    )
    const optedOut = secret({ sops: { mac: "x" } }, { "kustomize.toolkit.fluxcd.io/decrypt": "Disabled" })
    expect(Exit.isSuccess(Effect.runSyncExit(refuseStillEncrypted([optedOut])))).toBe(true)
  })
})
