import { describe, expect, it } from "@effect/vitest"
import { Duration } from "effect"
import type { ObjectRef } from "../../kube/object.ts"
import { toFailure } from "../../runtime/controller.ts"
import { stageFailed } from "../../runtime/stage.ts"
import type { Identity } from "../cluster/impersonation.ts"
import {
  ApplyError,
  ApplyFailed,
  ApplyTimedOut,
  DiscoveryFailed,
  DryRunFailed,
  DuplicateObject,
  IgnoredFieldNotKept,
  NameMissing,
  NamespaceMissing,
  ReadFailed,
  StageNotReady,
  StillTerminating,
  UnknownKind,
} from "./errors.ts"

const ref = (kind: string, namespace: string, name: string, group = "", version = "v1"): ObjectRef => ({
  group,
  version,
  kind,
  namespace,
  name,
})
const web = ref("Deployment", "apps", "web", "apps")
const cm = ref("ConfigMap", "apps", "c")
const deployer: Identity = { _tag: "ServiceAccount", namespace: "apps", name: "deployer" }

// The texts below are the applier's messages as they were when they were built as strings (and as Flux's
// fluxcd/pkg ssa writes them): conditions, Events and the e2e tests depend on them byte for byte.
describe("apply failures", () => {
  it("render a refused dry run as Flux does, with the reason, the ServiceAccount or the transport", () => {
    const invalid = new DryRunFailed({
      object: web,
      immutable: false,
      reason: "Invalid",
      status: 422,
      detail:
        'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0',
    })
    expect(invalid.message).toBe(
      'Deployment/apps/web dry-run failed (Invalid): Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0',
    )
    expect(
      new DryRunFailed({
        object: web,
        immutable: true,
        reason: "Invalid",
        status: 422,
        detail: 'Deployment.apps "web" is invalid: spec.selector: Invalid value: "***": field is immutable',
      }).message,
    ).toBe(
      'Deployment/apps/web dry-run failed (Invalid): Deployment.apps "web" is invalid: spec.selector: Invalid value: "***": field is immutable (immutable field; set spec.force or the kustomize.toolkit.fluxcd.io/force: enabled annotation to recreate)',
    )
    expect(
      new DryRunFailed({
        object: cm,
        immutable: false,
        reason: "Forbidden",
        status: 403,
        forbiddenFor: deployer,
        detail:
          'configmaps "c" is forbidden: User "system:serviceaccount:apps:deployer" cannot patch resource',
      }).message,
    ).toBe(
      'ConfigMap/apps/c dry-run failed is forbidden for ServiceAccount apps/deployer: configmaps "c" is forbidden: User "system:serviceaccount:apps:deployer" cannot patch resource',
    )
    expect(
      new DryRunFailed({ object: cm, immutable: false, detail: "connect ECONNREFUSED 127.0.0.1:6443" })
        .message,
    ).toBe("ConfigMap/apps/c dry-run failed (transport): connect ECONNREFUSED 127.0.0.1:6443")
    expect(invalid.retryable).toBe(false)
  })

  it("render a refused write by its step; only transport errors, 429 and 5xx are retryable", () => {
    const conflict = new ApplyFailed({
      object: cm,
      step: "apply",
      reason: "Conflict",
      status: 409,
      detail: "the object has been modified",
    })
    expect(conflict.message).toBe("ConfigMap/apps/c apply failed (Conflict): the object has been modified")
    expect(conflict.retryable).toBe(false)
    const steps = ["managed fields cleanup", "delete (to recreate)", "recreate"] as const
    expect(
      steps.map(
        (step) =>
          new ApplyFailed({ object: cm, step, reason: "InternalError", status: 500, detail: "etcd timeout" })
            .message,
      ),
    ).toEqual([
      "ConfigMap/apps/c managed fields cleanup failed (InternalError): etcd timeout",
      "ConfigMap/apps/c delete (to recreate) failed (InternalError): etcd timeout",
      "ConfigMap/apps/c recreate failed (InternalError): etcd timeout",
    ])
    expect(
      new ApplyFailed({ object: cm, step: "apply", reason: "InternalError", status: 500, detail: "x" })
        .retryable,
    ).toBe(true)
    expect(
      new ApplyFailed({ object: cm, step: "apply", reason: "TooManyRequests", status: 429, detail: "x" })
        .retryable,
    ).toBe(true)
    const reset = new ApplyFailed({ object: cm, step: "apply", detail: "socket hang up" })
    expect(reset.message).toBe("ConfigMap/apps/c apply failed (transport): socket hang up")
    expect(reset.retryable).toBe(true)
    expect(
      new ApplyFailed({
        object: cm,
        step: "apply",
        reason: "Forbidden",
        status: 403,
        forbiddenFor: deployer,
        detail: "denied",
      }).message,
    ).toBe("ConfigMap/apps/c apply failed is forbidden for ServiceAccount apps/deployer: denied")
  })

  it("render a failed read of the live object without a verb", () => {
    expect(
      new ReadFailed({
        object: cm,
        reason: "Forbidden",
        status: 403,
        forbiddenFor: deployer,
        detail: 'configmaps "c" is forbidden',
      }).message,
    ).toBe('ConfigMap/apps/c is forbidden for ServiceAccount apps/deployer: configmaps "c" is forbidden')
    expect(
      new ReadFailed({ object: cm, reason: "Forbidden", status: 403, detail: 'configmaps "c" is forbidden' })
        .message,
    ).toBe('ConfigMap/apps/c (Forbidden): configmaps "c" is forbidden')
  })

  it("render what is wrong with the set before anything is sent", () => {
    const thing = ref("Thing", "apps", "x", "nope.example.com")
    expect(
      new UnknownKind({ object: thing, apiVersion: "nope.example.com/v1", afterCrd: false }).message,
    ).toBe('Thing/apps/x: no matches for kind "Thing" in version "nope.example.com/v1"')
    expect(
      new UnknownKind({ object: thing, apiVersion: "nope.example.com/v1", afterCrd: true }).message,
    ).toBe(
      'Thing/apps/x: no matches for kind "Thing" in version "nope.example.com/v1" after its CRD was applied',
    )
    expect(new DiscoveryFailed({ object: thing, detail: "the server is unavailable" }).message).toBe(
      "Thing/apps/x: discovery failed: the server is unavailable",
    )
    expect(new NamespaceMissing({ object: ref("ConfigMap", "", "x") }).message).toBe(
      "ConfigMap/x: namespace not specified for a namespaced ConfigMap",
    )
    expect(new NameMissing({ object: ref("ConfigMap", "apps", ""), apiVersion: "v1" }).message).toBe(
      "ConfigMap in v1 has no metadata.name",
    )
    expect(new DuplicateObject({ object: cm }).message).toBe(
      "ConfigMap/apps/c appears more than once in the set",
    )
    expect(new IgnoredFieldNotKept({ object: web, pointer: "/spec/replicas" }).message).toBe(
      "Deployment/apps/web: the live value of the ignored field /spec/replicas cannot be kept in what is applied: the manifests lack its parent, or it is not an object (spec.ignore)",
    )
  })

  it("render the waits: recreate, stage readiness and the deadline, all retryable", () => {
    const terminating = new StillTerminating({ object: cm })
    expect(terminating.message).toBe("ConfigMap/apps/c is still terminating")
    const crd = ref("CustomResourceDefinition", "", "widgets.example.com", "apiextensions.k8s.io")
    const notReady = new StageNotReady({
      stage: "definitions",
      elapsed: Duration.seconds(60),
      pending: [
        { object: crd, status: "InProgress", message: "CRD is not established" },
        { object: ref("Namespace", "", "team"), status: "Terminating", message: "namespace is terminating" },
      ],
    })
    expect(notReady.message).toBe(
      "definitions stage not ready after 1m: CustomResourceDefinition/widgets.example.com status: 'InProgress': CRD is not established, Namespace/team status: 'Terminating': namespace is terminating",
    )
    const late = new ApplyTimedOut({ objects: 1, after: Duration.millis(1) })
    expect(late.message).toBe("apply of 1 objects timed out after 1ms")
    expect([terminating, notReady, late].map((f) => f.retryable)).toEqual([true, true, true])
  })

  it("reach the condition as one ApplyError: Flux's reason, one line per failure, stalled unless all can retry", () => {
    const dry = new DryRunFailed({
      object: web,
      immutable: false,
      reason: "Invalid",
      status: 422,
      detail: "spec.replicas: must be greater than or equal to 0",
    })
    const read = new ReadFailed({ object: cm, reason: "InternalError", status: 500, detail: "etcd timeout" })
    const error = new ApplyError({
      failures: [dry, read, new NameMissing({ object: ref("Secret", "apps", ""), apiVersion: "v1" })],
    })
    expect(error.reason).toBe("ReconciliationFailed")
    expect(error.message).toBe(
      "Deployment/apps/web dry-run failed (Invalid): spec.replicas: must be greater than or equal to 0\nConfigMap/apps/c (InternalError): etcd timeout\nSecret in v1 has no metadata.name",
    )
    expect(error.objects).toEqual(["Deployment/apps/web", "ConfigMap/apps/c"])
    expect(error.terminal).toBe(true)
    expect(toFailure(error)).toEqual({
      reason: "ReconciliationFailed",
      message: error.message,
      terminal: true,
    })

    const retry = new ApplyError({
      failures: [new ApplyFailed({ object: cm, step: "apply", detail: "socket hang up" })],
    })
    expect(retry.retryable).toBe(true)
    expect(toFailure(retry).terminal).toBe(false)

    // The stage boundary keeps the typed error as its cause: the failures stay inspectable after the message.
    const failed = stageFailed("apply", error)
    expect(failed.message).toBe(error.message)
    expect(failed.cause).toBe(error)
    expect((failed.cause as ApplyError).failures.map((f) => f._tag)).toEqual([
      "DryRunFailed",
      "ReadFailed",
      "NameMissing",
    ])
  })
})
