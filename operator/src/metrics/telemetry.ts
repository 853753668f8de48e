import { Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import { fluxLoggerLayer, type LogOptions } from "./flux-logger.ts"

export interface TelemetryOptions {
  readonly serviceName: string
  readonly serviceVersion?: string | undefined
  /** OTLP/HTTP traces endpoint base, e.g. http://collector:4318 (OTEL_EXPORTER_OTLP_ENDPOINT). */
  readonly otlpEndpoint?: string | undefined
  /** `--log-encoding` and `--log-level`. */
  readonly logs?: LogOptions | undefined
}

/**
 * Logs in Flux's shape always (`flux-logger.ts`); OpenTelemetry traces over OTLP/HTTP when an endpoint is
 * configured. Every `Effect.fn` / `withSpan` (one per reconcile, one per stage, one per API request) becomes a span.
 */
export const telemetryLayer = (options: TelemetryOptions): Layer.Layer<never> => {
  const logs = fluxLoggerLayer(options.logs)
  if (options.otlpEndpoint === undefined || options.otlpEndpoint === "") return logs
  const url = `${options.otlpEndpoint.replace(/\/$/, "")}/v1/traces`
  const tracer = OtlpTracer.layer({
    url,
    resource: { serviceName: options.serviceName, serviceVersion: options.serviceVersion },
  }).pipe(Layer.provide(OtlpSerialization.layerJson), Layer.provide(FetchHttpClient.layer))
  return Layer.mergeAll(logs, tracer)
}
