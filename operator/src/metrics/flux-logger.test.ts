import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, References } from "effect"
import { fluxLogger } from "./flux-logger.ts"

/** Runs `program` with the Flux logger writing into an array, at the given minimum level. */
const capture = (
  program: Effect.Effect<void>,
  encoding: "json" | "console" = "json",
  minimum: "Debug" | "Info" | "Warn" = "Info",
) =>
  Effect.gen(function* () {
    const lines: string[] = []
    yield* program.pipe(
      Effect.provide(Logger.layer([fluxLogger(encoding, (l) => void lines.push(l))])),
      Effect.provideService(References.MinimumLogLevel, minimum),
    )
    return lines
  })

describe("Flux-shaped logs", () => {
  it.effect(
    "a reconcile line as controller-runtime writes it: level, ts, msg, then the reconciler's fields",
    () =>
      Effect.gen(function* () {
        const lines = yield* capture(
          Effect.logInfo("Reconciliation finished in 1.2s, next run in 10m0s").pipe(
            Effect.annotateLogs({ revision: "main@sha1:abc" }),
            Effect.annotateLogs({
              controller: "kustomization",
              controllerGroup: "kustomize.toolkit.fluxcd.io",
              controllerKind: "Kustomization",
              Kustomization: { name: "app", namespace: "apps" },
              namespace: "apps",
              name: "app",
              reconcileID: "5f0c0f5e-0000-4000-8000-000000000000",
            }),
          ),
        )
        expect(lines).toHaveLength(1)
        expect(lines[0]!.endsWith("\n")).toBe(true)
        const entry = JSON.parse(lines[0]!) as Record<string, unknown>
        expect(Object.keys(entry).slice(0, 3)).toEqual(["level", "ts", "msg"])
        expect(entry).toMatchObject({
          level: "info",
          msg: "Reconciliation finished in 1.2s, next run in 10m0s",
          controller: "kustomization",
          controllerGroup: "kustomize.toolkit.fluxcd.io",
          controllerKind: "Kustomization",
          Kustomization: { name: "app", namespace: "apps" },
          name: "app",
          namespace: "apps",
          revision: "main@sha1:abc",
        })
        // zapcore.ISO8601TimeEncoder, in UTC.
        expect(entry.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      }),
  )

  it.effect(
    "errors: level error with an `error` field; Warning is error too (logr has no warn); debug only when asked",
    () =>
      Effect.gen(function* () {
        const lines = yield* capture(
          Effect.gen(function* () {
            yield* Effect.logError("Reconciliation failed after 2s, next try in 1m0s").pipe(
              Effect.annotateLogs({
                error: 'Secret "db" is invalid: data.password: Invalid value: "hunter2-very-secret": nope',
              }),
            )
            yield* Effect.logWarning("runtime write failed; retrying")
            yield* Effect.logDebug("not shown at info")
          }),
        )
        const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
        expect(entries.map((e) => e.level)).toEqual(["error", "error"])
        expect(entries[0]!.msg).toBe("Reconciliation failed after 2s, next try in 1m0s")
        expect(typeof entries[0]!.error).toBe("string")
        // The server-values net: a value the API server quotes back never reaches the log.
        expect(lines[0]).not.toContain("hunter2-very-secret")
        const debug = yield* capture(Effect.logDebug("shown at debug"), "json", "Debug")
        expect(JSON.parse(debug[0]!)).toMatchObject({ level: "debug", msg: "shown at debug" })
        // --log-level=error: only what went wrong.
        expect(yield* capture(Effect.logInfo("hidden"), "json", "Warn")).toEqual([])
      }),
  )

  it.effect("console encoding: zap's tab-separated line", () =>
    Effect.gen(function* () {
      const lines = yield* capture(
        Effect.logInfo("serving probes").pipe(Effect.annotateLogs({ port: 8080 })),
        "console",
      )
      expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z\tINFO\tserving probes\t\{"port":8080\}\n$/)
    }),
  )
})
