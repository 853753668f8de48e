import { describe, expect, it } from "@effect/vitest"
import { makeRedactor, serverValuesOnly } from "./redactor.ts"

const b64 = (s: string) => Buffer.from(s).toString("base64")

const deployment = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: "shop", labels: { tier: "frontend-tier" } },
  spec: {
    replicas: 2,
    template: {
      spec: {
        containers: [
          {
            name: "app",
            image: "registry.example/web:1.2",
            env: [
              { name: "DB_URL", value: "postgres://shop:pa55-w0rd@db/shop" },
              { name: "PORT", value: "8443" },
            ],
          },
        ],
      },
    },
  },
}

const secret = {
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: "creds", namespace: "shop" },
  data: { password: b64("hunter22"), pin: b64("42") },
}

describe("Redactor", () => {
  it("masks every content value of the object concerned anywhere, keeping its identity and the field path", () => {
    const r = makeRedactor()
    const msg =
      `deployments.apps "web" is forbidden: admission webhook "policy.example" denied the request: ` +
      `spec.template.spec.containers[0].env[0].value: "postgres://shop:pa55-w0rd@db/shop" is not allowed; ` +
      `image registry.example/web:1.2 on port 8443 in namespace shop, label frontend-tier`
    const out = r.redact(msg, [deployment])
    for (const v of ["pa55-w0rd", "registry.example/web:1.2", "8443", "frontend-tier"])
      expect(out).not.toContain(v)
    expect(out).toContain(`deployments.apps "web" is forbidden`)
    expect(out).toContain(`spec.template.spec.containers[0].env[0].value: "***" is not allowed`)
    expect(out).toContain("in namespace shop")
  })

  it("masks what the server quotes whatever the object, and Secret data decoded or not", () => {
    const r = makeRedactor()
    const msg = `Secret "creds" is invalid: data[password]: Invalid value: "x": raw ${secret.data.password} decoded hunter22, pin "42", port 4242`
    const out = r.redact(msg, [secret])
    expect(out).not.toContain("hunter22")
    expect(out).not.toContain(secret.data.password)
    expect(out).toContain(`pin "***"`)
    // Short values are masked only where quoted, so the rest of the sentence survives.
    expect(out).toContain("port 4242")
    expect(out).toContain(`Secret "creds" is invalid: data[password]: Invalid value: "***"`)
  })

  it("finds the object of a reference among the built objects", () => {
    const r = makeRedactor({ objects: [deployment] })
    const ref = { group: "apps", version: "v1", kind: "Deployment", namespace: "shop", name: "web" }
    const msg = "pod failed: postgres://shop:pa55-w0rd@db/shop"
    expect(r.redact(msg, [ref])).toBe("pod failed: ***")
    // Without the object concerned nothing is guessed: which object a message is about is the caller's to say.
    expect(r.redact(msg)).toBe(msg)
  })

  it("masks sensitive values anywhere, also JSON-escaped, base64-encoded and line by line", () => {
    const pem = "-----BEGIN KEY-----\nMIIBVwIBADANBgkqhkiG\n-----END KEY-----"
    const r = makeRedactor({ sensitive: ["s3cr3t<&>", pem, "abc"] })
    const out = r.redact(
      `a s3cr3t<&> b "s3cr3t\\u003c\\u0026\\u003e" c ${b64("s3cr3t<&>")} d MIIBVwIBADANBgkqhkiG e abc`,
    )
    expect(out).toBe(`a *** b "***" c *** d *** e abc`)
  })

  it("does not mask a value that is public: an object's name, or inside the server's wording", () => {
    const cm = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "app-config", namespace: "shop" },
      data: { ref: "app-config", word: "value", other: "config" },
    }
    const r = makeRedactor({ objects: [cm] })
    const out = r.redact(`ConfigMap "app-config" is invalid: data[x]: Invalid value: "y": config is wrong`, [
      cm,
    ])
    expect(out).toBe(`ConfigMap "app-config" is invalid: data[x]: Invalid value: "***": *** is wrong`)
  })

  it("keeps the list-item keys of a server-side apply path, unless they are sensitive", () => {
    const msg = `.spec.template.spec.containers[name="app"].env[name="PORT"].value: expected string, got &value.valueUnstructured{Value:8443}`
    expect(makeRedactor().redact(msg, [deployment])).toBe(
      `.spec.template.spec.containers[name="app"].env[name="PORT"].value: expected string, got ***`,
    )
    expect(makeRedactor({ sensitive: ["PORT"] }).redact(msg, [deployment])).toContain(`env[name="***"]`)
  })

  it("masks overlapping values as one", () => {
    const r = makeRedactor({ sensitive: ["hunter22", "ter22-x"] })
    expect(r.redact("p=hunter22-x!")).toBe("p=***!")
  })

  it("without objects or sensitive values still masks what the server quoted", () => {
    expect(serverValuesOnly.redact(`spec.x: Invalid value: "pa55-w0rd": bad`)).toBe(
      `spec.x: Invalid value: "***": bad`,
    )
  })
})

/** The Job's immutable-template error: the new template as JSON, with every env value in it. */
const jobMessage = `Job.batch "redact-job" is invalid: spec.template: Invalid value: {"labels":{"batch.kubernetes.io/controller-uid":"9df2d4ae-1b32-4d63-a971-0579779b4367","batch.kubernetes.io/job-name":"redact-job","controller-uid":"9df2d4ae-1b32-4d63-a971-0579779b4367","job-name":"redact-job"},"Spec":{"Volumes":null,"InitContainers":null,"Containers":[{"Name":"migrate","Image":"registry.example/migrate:1","Command":null,"Args":null,"WorkingDir":"","Ports":null,"EnvFrom":null,"Env":[{"Name":"DB_PASSWORD","Value":"jobleak-v2-0a1b2c3d","ValueFrom":null}],"Resources":{"Limits":null,"Requests":null,"Claims":null},"ResizePolicy":null,"RestartPolicy":null,"RestartPolicyRules":null,"VolumeMounts":null,"VolumeDevices":null,"LivenessProbe":null,"ReadinessProbe":null,"StartupProbe":null,"Lifecycle":null,"TerminationMessagePath":"/dev/termination-log","TerminationMessagePolicy":"File","ImagePullPolicy":"IfNotPresent","SecurityContext":null,"Stdin":false,"StdinOnce":false,"TTY":false}],"EphemeralContainers":null,"RestartPolicy":"Never","TerminationGracePeriodSeconds":30,"ActiveDeadlineSeconds":null,"DNSPolicy":"ClusterFirst","NodeSelector":null,"ServiceAccountName":"","DeprecatedServiceAccount":"","AutomountServiceAccountToken":null,"NodeName":"","HostNetwork":false,"HostPID":false,"HostIPC":false,"ShareProcessNamespace":null,"SecurityContext":{"SELinuxOptions":null,"WindowsOptions":null,"RunAsUser":null,"RunAsGroup":null,"RunAsNonRoot":null,"SupplementalGroups":null,"SupplementalGroupsPolicy":null,"FSGroup":null,"Sysctls":null,"FSGroupChangePolicy":null,"SeccompProfile":null,"AppArmorProfile":null,"SELinuxChangePolicy":null},"ImagePullSecrets":null,"Hostname":"","Subdomain":"","Affinity":null,"SchedulerName":"default-scheduler","Tolerations":null,"HostAliases":null,"PriorityClassName":"","Priority":null,"DNSConfig":null,"ReadinessGates":null,"RuntimeClassName":null,"EnableServiceLinks":null,"PreemptionPolicy":null,"Overhead":null,"TopologySpreadConstraints":null,"SetHostnameAsFQDN":null,"OS":null,"HostUsers":null,"SchedulingGates":null,"ResourceClaims":null,"Resources":null,"HostnameOverride":null,"SchedulingGroup":null,"EvictionResponders":null}}: field is immutable`

// Status messages as kube-apiserver v1.37.2 sent them to the operator (redaction.e2e.test.ts provokes each; only
// the run's random suffix and uids are fixed here). Each must keep the object, the field and the reason.
describe("Redactor on messages captured from a real API server", () => {
  const ns = "redact-70036e94"
  const deploy = (name: string, env: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: ns },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: "app", image: "registry.example/app:1", env: [env], ...extra }] },
      },
    },
  })
  const cases: ReadonlyArray<{
    readonly what: string
    readonly about: object
    readonly sensitive?: ReadonlyArray<string>
    readonly message: string
    readonly expected: string
  }> = [
    {
      what: "an invalid ConfigMap reference (field-error quote)",
      about: deploy(
        "redact-ref",
        { name: "API_TOKEN", value: "envleak-0a1b2c3d" },
        { envFrom: [{ configMapRef: { name: "Refleak_0a1b2c3d" } }] },
      ),
      message: `Deployment.apps "redact-ref" is invalid: spec.template.spec.containers[0].envFrom[0].configMapRef.name: Invalid value: "Refleak_0a1b2c3d": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
      expected: `Deployment.apps "redact-ref" is invalid: spec.template.spec.containers[0].envFrom[0].configMapRef.name: Invalid value: "***": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
    },
    {
      what: "a number where an env value must be a string (structured-merge-diff)",
      about: deploy("redact-port", { name: "PORT", value: 70221603 }),
      message: `failed to create typed patch object (${ns}/redact-port; apps/v1, Kind=Deployment): .spec.template.spec.containers[name="app"].env[name="PORT"].value: expected string, got &value.valueUnstructured{Value:70221603}`,
      expected: `failed to create typed patch object (${ns}/redact-port; apps/v1, Kind=Deployment): .spec.template.spec.containers[name="app"].env[name="PORT"].value: expected string, got ***`,
    },
    {
      what: "an admission policy quoting an env value",
      about: deploy("redact-vap", { name: "MODE", value: "vapleak-0a1b2c3d" }),
      message: `deployments.apps "redact-vap" is forbidden: ValidatingAdmissionPolicy 'redaction-${ns}' with binding 'redaction-${ns}' denied request: env value vapleak-0a1b2c3d is not allowed`,
      expected: `deployments.apps "redact-vap" is forbidden: ValidatingAdmissionPolicy 'redaction-${ns}' with binding 'redaction-${ns}' denied request: env value *** is not allowed`,
    },
    {
      what: "an admission policy quoting part of a substituteFrom value",
      about: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "redact-subst", namespace: ns },
        data: { url: "https://substleak-0a1b2c3d@example.com" },
      },
      sensitive: ["substleak-0a1b2c3d"],
      message: `configmaps "redact-subst" is forbidden: ValidatingAdmissionPolicy 'redaction-${ns}' with binding 'redaction-${ns}' denied request: token substleak-0a1b2c3d must not be in a URL`,
      expected: `configmaps "redact-subst" is forbidden: ValidatingAdmissionPolicy 'redaction-${ns}' with binding 'redaction-${ns}' denied request: token *** must not be in a URL`,
    },
    {
      what: "an admission policy quoting a decrypted Secret's data",
      about: {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "redact-sops", namespace: ns },
        data: { password: b64("sopsleak-361a3029") },
      },
      message: `secrets "redact-sops" is forbidden: ValidatingAdmissionPolicy 'redaction-${ns}' with binding 'redaction-${ns}' denied request: password c29wc2xlYWstMzYxYTMwMjk= is too weak`,
      expected: `secrets "redact-sops" is forbidden: ValidatingAdmissionPolicy 'redaction-${ns}' with binding 'redaction-${ns}' denied request: password *** is too weak`,
    },
    {
      what: "a changed Job template (the whole new template, JSON)",
      about: {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: "redact-job", namespace: ns },
        spec: {
          template: {
            spec: {
              containers: [{ name: "migrate", env: [{ name: "DB_PASSWORD", value: "jobleak-v2-0a1b2c3d" }] }],
            },
          },
        },
      },
      message: jobMessage,
      expected: `Job.batch "redact-job" is invalid: spec.template: Invalid value: ***: field is immutable`,
    },
    {
      what: "a changed immutable ConfigMap (no value quoted)",
      about: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "redact-frozen", namespace: ns },
        immutable: true,
        data: { password: "frozenleak-v2-0a1b2c3d" },
      },
      message:
        'ConfigMap "redact-frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set',
      expected:
        'ConfigMap "redact-frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set',
    },
  ]
  for (const c of cases)
    it(c.what, () => {
      expect(makeRedactor({ sensitive: c.sensitive }).redact(c.message, [c.about])).toBe(c.expected)
    })
})
