/**
 * Recognizes the API server's refusal to change a field that can only be set at creation (a Job's pod
 * template, a Deployment's selector, a Service's clusterIP, an immutable ConfigMap…). Such objects can
 * only be recreated, which `spec.force` or `kustomize.toolkit.fluxcd.io/force: enabled` allows.
 */
import type { KubeApiError } from "../../kube/errors.ts"

const patterns: ReadonlyArray<RegExp> = [
  /field is immutable/i,
  /is immutable/i,
  /immutable field/i,
  /may not change once set/i,
  /Forbidden: updates to .* are forbidden/i,
]

export const isImmutableError = (e: KubeApiError): boolean =>
  (e.code === 422 || e.code === 409 || e.reason === "Invalid" || e.reason === "Conflict") &&
  patterns.some((p) => p.test(e.message))
