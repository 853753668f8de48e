import { describe, expect, it } from "@effect/vitest"
import { UsageError } from "./args.ts"
import { controllerUsage, parseControllerFlags } from "./controller.ts"

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

  it("--leader-pod-label labels $POD_NAME in $RUNTIME_NAMESPACE, and without them it is refused rather than ignored", () => {
    const env = { RUNTIME_NAMESPACE: "kustodian-system", POD_NAME: "kustodian-controller-7c9-x2" }
    expect(parseControllerFlags(["--leader-pod-label"], env).leaderPod).toEqual({
      namespace: "kustodian-system",
      name: "kustodian-controller-7c9-x2",
    })
    expect(parseControllerFlags(["--leader-pod-label=false"], env).leaderPod).toBeUndefined()
    expect(parse().leaderPod).toBeUndefined()
    expect(() => parse("--leader-pod-label")).toThrow(
      "POD_NAME and RUNTIME_NAMESPACE must be set with --leader-pod-label",
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

  it("accepts the args of Flux 2.9's kustomize-controller and source-controller Deployments", () => {
    const kustomizeController = parse(
      "--events-addr=http://notification-controller.flux-system.svc.cluster.local./",
      "--watch-all-namespaces",
      "--log-level=info",
      "--log-encoding=json",
      "--enable-leader-election",
    )
    expect(kustomizeController).toMatchObject({
      eventsAddr: "http://notification-controller.flux-system.svc.cluster.local./",
      namespace: undefined,
      logs: { level: "info", encoding: "json" },
      leaderElectionNamespace: "kustodian-system",
    })
    const sourceController = parse(
      "--events-addr=http://notification-controller.flux-system.svc.cluster.local./",
      "--watch-all-namespaces=true",
      "--log-level=debug",
      "--log-encoding=console",
      "--enable-leader-election",
      "--storage-path=/data",
      "--storage-adv-addr=source-controller.flux-system.svc.cluster.local.",
    )
    expect(sourceController).toMatchObject({
      logs: { level: "debug", encoding: "console" },
      source: { storagePath: "/data", storageAdvAddr: "source-controller.flux-system.svc.cluster.local." },
    })
    expect(parse("--watch-all-namespaces=false").namespace).toBe("kustodian-system")
    expect(parse("--requeue-dependency=5s").requeueDependencyMs).toBe(5_000)
    expect(parse("--concurrent=20").workers).toBe(20)
    // Flux's layout: metrics on :8080, probes on :9440.
    expect(parse("--metrics-addr=:8080", "--health-addr=:9440")).toMatchObject({
      probes: { port: 9440 },
      metrics: { port: 8080 },
    })
    expect(parse("--metrics-addr=:8080").metrics).toBeUndefined()
    // Flux's manifests may leave it empty (no notification-controller): nothing is forwarded.
    expect(parse("--events-addr=").eventsAddr).toBeUndefined()
  })

  it("refuses what it does not implement with one line naming the flag", () => {
    expect(() => parse("--kube-api-qps=500")).toThrow(
      "--kube-api-qps: a flag of Flux's controllers that Kustodian does not implement",
    )
    expect(() => parse("--feature-gates=CacheSecretsAndConfigMaps=true")).toThrow("--feature-gates")
    expect(() => parse("--log-level=warn")).toThrow(
      "--log-level: expected trace, debug, info or error, got warn",
    )
    expect(() => parse("--log-encoding=text")).toThrow("--log-encoding: expected json or console, got text")
    expect(() => parse("--events-addr=notification-controller")).toThrow(
      "--events-addr: expected an http(s) URL",
    )
    expect(() => parse("--requeue-dependency=soon")).toThrow("--requeue-dependency")
  })

  it("--help lists every flag it accepts", () => {
    for (const flag of [
      "events-addr",
      "log-encoding",
      "log-level",
      "watch-all-namespaces",
      "watch-label-selector",
      "concurrent",
      "requeue-dependency",
      "default-service-account",
      "no-cross-namespace-refs",
      "no-remote-bases",
      "storage-adv-addr",
      "storage-path",
      "storage-addr",
      "health-addr",
      "metrics-addr",
      "enable-leader-election",
      "otlp-endpoint",
    ])
      expect(controllerUsage).toMatch(new RegExp(`^  --${flag}[ [=]`, "m"))
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
    // Flux's other gates, with Flux's defaults.
    expect(parse()).toMatchObject({
      cancelHealthCheckOnNewRevision: false,
      additiveCelDependencyCheck: false,
      strictPostBuildSubstitutions: true,
    })
    expect(
      parse(
        "--feature-gates=CancelHealthCheckOnNewRevision=true,AdditiveCELDependencyCheck=true",
        "--feature-gates=StrictPostBuildSubstitutions=false",
      ),
    ).toMatchObject({
      cancelHealthCheckOnNewRevision: true,
      additiveCelDependencyCheck: true,
      strictPostBuildSubstitutions: false,
    })
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
