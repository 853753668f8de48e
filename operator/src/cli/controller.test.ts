import { describe, expect, it } from "@effect/vitest"
import { UsageError } from "./args.ts"
import { parseControllerFlags } from "./controller.ts"

const parse = (...argv: Array<string>) =>
  parseControllerFlags(argv, { RUNTIME_NAMESPACE: "kustodian-system" })

describe("kustodian controller flags", () => {
  it("boolean flags take Flux's --flag=true and --flag=false forms as well as the bare flag; the last one wins", () => {
    expect(parse("--no-cross-namespace-refs=true", "--no-remote-bases")).toMatchObject({
      noCrossNamespaceRefs: true,
      noRemoteBases: true,
    })
    expect(parse("--no-remote-bases", "--no-remote-bases=false")).toMatchObject({ noRemoteBases: false })
    expect(parse("--no-remote-bases=false", "--no-remote-bases")).toMatchObject({ noRemoteBases: true })
    expect(parse("--enable-leader-election=true").leaderElectionNamespace).toBe("kustodian-system")
    expect(parse()).toMatchObject({ noCrossNamespaceRefs: false, noRemoteBases: false })
    expect(() => parse("--no-remote-bases=yes")).toThrow(UsageError)
    expect(() => parse("--no-remote-bases=yes")).toThrow("--no-remote-bases: expected true or false, got yes")
  })

  it("--sops-age-secret names a Secret in RUNTIME_NAMESPACE, and without one it is refused rather than ignored", () => {
    expect(parse("--sops-age-secret=sops-age-keys").globalAgeSecret).toEqual({
      namespace: "kustodian-system",
      name: "sops-age-keys",
    })
    expect(parse().globalAgeSecret).toBeUndefined()
    expect(() => parseControllerFlags(["--sops-age-secret=sops-age-keys"], {})).toThrow(
      "RUNTIME_NAMESPACE must be set with --sops-age-secret",
    )
  })

  it("spec.kubeConfig's exec plugins and insecure TLS are off unless --insecure-kubeconfig-exec/-tls say so", () => {
    expect(parse().kubeConfigPolicy).toEqual({ allowExec: false, allowInsecureTls: false })
    expect(parse("--insecure-kubeconfig-exec", "--insecure-kubeconfig-tls=true").kubeConfigPolicy).toEqual({
      allowExec: true,
      allowInsecureTls: true,
    })
    expect(parse("--insecure-kubeconfig-exec=false").kubeConfigPolicy?.allowExec).toBe(false)
  })

  it("the artifact server listens on loopback unless told otherwise, and URLs name an address that reaches it", () => {
    expect(parse().source).toMatchObject({ storageAddr: "127.0.0.1:9090", storageAdvAddr: "127.0.0.1:9090" })
    expect(parse("--storage-addr=:9090").source).toMatchObject({
      storageAddr: ":9090",
      storageAdvAddr: "localhost:9090",
    })
    expect(parse("--storage-addr=[::1]:9091").source.storageAdvAddr).toBe("[::1]:9091")
    expect(
      parse("--storage-addr=:9090", "--storage-adv-addr=kustodian-artifacts.gitops.svc.cluster.local.").source
        .storageAdvAddr,
    ).toBe("kustodian-artifacts.gitops.svc.cluster.local.")
  })

  it("--feature-gates=ObjectLevelWorkloadIdentity=true enables serviceAccountName; a default decryption ServiceAccount needs it; unknown gates are refused", () => {
    expect(parse().objectLevelWorkloadIdentity).toBe(false)
    expect(parse("--feature-gates=ObjectLevelWorkloadIdentity=true").objectLevelWorkloadIdentity).toBe(true)
    expect(
      parse("--feature-gates=ObjectLevelWorkloadIdentity=true", "--default-decryption-service-account=kms"),
    ).toMatchObject({ objectLevelWorkloadIdentity: true, defaultDecryptionServiceAccount: "kms" })
    expect(() => parse("--default-decryption-service-account=kms")).toThrow(
      "--default-decryption-service-account needs --feature-gates=ObjectLevelWorkloadIdentity=true",
    )
    expect(() => parse("--feature-gates=NoSuchGate=true")).toThrow(
      "--feature-gates: unknown feature gate NoSuchGate",
    )
    expect(() => parse("--feature-gates=ObjectLevelWorkloadIdentity=maybe")).toThrow(UsageError)
  })

  it("--token-cache-max-size and --token-cache-max-duration as Flux's (an hour at most; 0 turns the cache off)", () => {
    expect(parse().tokenCache).toEqual({ maxSize: 100, maxDurationMs: 3_600_000 })
    expect(parse("--token-cache-max-size=0", "--token-cache-max-duration=30m").tokenCache).toEqual({
      maxSize: 0,
      maxDurationMs: 1_800_000,
    })
    expect(parse("--token-cache-max-duration=2h").tokenCache?.maxDurationMs).toBe(3_600_000)
    expect(parse("--token-cache-max-duration=1h").tokenCache?.maxDurationMs).toBe(3_600_000)
    expect(() => parse("--token-cache-max-size=-1")).toThrow("--token-cache-max-size")
    expect(() => parse("--token-cache-max-duration=soon")).toThrow("--token-cache-max-duration")
  })
})
