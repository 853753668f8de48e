/**
 * What the API server echoes in an error (a field's value) stays out of the traces: the client's request span
 * records the status code and reason, not the message. Against a real kube-apiserver and a real OTLP receiver.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { testKubeconfigPath, testNamespace } from "../../../e2e/support/cluster.ts"
import { telemetryLayer } from "../metrics/telemetry.ts"
import { otlpReceiver } from "../metrics/testing/otlp-receiver.ts"
import { KubeClient } from "./client.ts"
import { CoreResources } from "./resource.ts"

describe("KubeClient tracing", () => {
  it.live("a failed request's span carries the status and reason, never the server's message", () =>
    Effect.gen(function* () {
      const otlp = yield* otlpReceiver
      const ns = yield* testNamespace("tracing").pipe(
        Effect.provide(KubeClient.layer({ _tag: "File", path: testKubeconfigPath() })),
      )
      const value = "Echoed-Secret-Value-7f3a"
      const error = yield* Effect.scoped(
        Effect.gen(function* () {
          const client = yield* KubeClient
          return yield* Effect.flip(
            client.create(CoreResources.configMap, {
              apiVersion: "v1",
              kind: "ConfigMap",
              // An invalid name: the server quotes it back in its error.
              metadata: { name: value, namespace: ns },
            }),
          )
        }).pipe(
          Effect.provide(KubeClient.layer({ _tag: "File", path: testKubeconfigPath() })),
          Effect.provide(telemetryLayer({ serviceName: "kustodian-tracing-test", otlpEndpoint: otlp.url })),
        ),
      )
      // The error itself still says what the server said (the stage redacts it before reporting).
      expect(error.message).toContain(value)
      const all = otlp.bodies.join("\n")
      expect(all).toContain("KubeClient.request")
      expect(all).toContain("422")
      expect(all).not.toContain(value)
    }),
  )
})
