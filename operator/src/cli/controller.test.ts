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
})
