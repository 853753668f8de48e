/**
 * The decryption service a build uses: loads the keys a Kustomization names (its decryption Secret, or
 * the controller-level age Secret), and decrypts files and values with them through the SOPS engine,
 * sharing one data-key cache scoped per Secret identity. Failures become BuildFailed with Flux-style
 * messages that name the object, the file and the key path.
 *
 * @module
 */
import { Context, Effect, Layer, Option } from "effect"
import { defaultLimits, formatLimit, type Limits, limitFlag } from "../../limits.ts"
import { decrypt, type Format, type Keyring, type MacPolicy, type SopsError } from "../../sops/index.ts"
import { ConfigLookup, type SecretData } from "../build/config-lookup.ts"
import { BuildFailed } from "../build/errors.ts"
import type { Decryption } from "../build/spec.ts"
import { type CountingCache, makeCountingCache, withCacheMetrics } from "./data-key-cache.ts"
import { type IgnoredEntry, ignoredHint, keysFromSecret, type ProviderType } from "./keys.ts"
import { KeyProviders, type ProviderRequest, providerNames } from "./providers.ts"

/** The keys of one build. */
export interface DecryptionKeys {
  readonly keyring: Keyring
  /** The Secret they came from, when any (for hints in errors). */
  readonly secret?: { readonly namespace: string; readonly name: string }
  readonly ignored: ReadonlyArray<IgnoredEntry>
  readonly providers: ReadonlyArray<ProviderType>
  /**
   * Values decrypted so far with these keys. `keys` makes one set of keys per build, so this is the build's
   * count against `maxDecryptedValues`.
   */
  readonly decrypted: { values: number }
}

/** The limits the decryption stage enforces (`--max-decryption-size`, `--max-decrypted-values`). */
export type DecryptLimits = Pick<Limits, "maxDecryptionSize" | "maxDecryptedValues">

/**
 * A document larger than `--max-decryption-size` that would be parsed: refused before parsing, naming the
 * file or object, its size, the limit and the flag.
 */
export const tooLarge = (
  request: {
    readonly file: string
    readonly object?: string
    readonly keyPath?: string
    readonly context: string
  },
  size: number,
  limit: number,
) =>
  new BuildFailed({
    message:
      `${request.context}: '${request.file}' is ${size} bytes, more than the ${formatLimit("maxDecryptionSize", limit)} ` +
      `SOPS parses (raise it with ${limitFlag("maxDecryptionSize")})`,
    file: request.file,
    ...(request.object ? { object: request.object } : {}),
    ...(request.keyPath ? { keyPath: request.keyPath } : {}),
    terminal: true,
  })

/** A MAC that did not verify under the `warn` policy: the controller turns it into a Warning event. */
export interface MacWarning {
  readonly reason: "SopsMacMismatch"
  /** Artifact-relative file (or `Kind/ns/name` data key) whose MAC did not verify. */
  readonly file: string
  readonly object?: string
  readonly message: string
}

export interface DecryptRequest {
  readonly bytes: Uint8Array
  readonly format: Format
  readonly outputFormat?: Format
  /** Name used in messages: artifact-relative path, or `Kind/ns/name` for objects. */
  readonly file: string
  readonly object?: string
  readonly keyPath?: string
  /** Prefix of the error message, e.g. `decryption failed for 'Secret/ns/name'`. */
  readonly context: string
  readonly keys: DecryptionKeys
  /** Overrides the configured policy (post-build documents cannot be verified). */
  readonly mac?: MacPolicy
}

export interface DecryptOptions {
  /** `--sops-mac-policy`; default `warn`. */
  readonly macPolicy?: MacPolicy
  /** `--sops-age-secret`: `*.agekey` entries used when a Kustomization has decryption but no secretRef. */
  readonly globalAgeSecret?: { readonly namespace: string; readonly name: string }
  /** Bound of the data-key cache. */
  readonly cacheEntries?: number
  /** Size and count limits; defaults from `limits.ts`. */
  readonly limits?: DecryptLimits
}

const nonTerminal = new Set(["DataKeyError"])

/** Names the key providers a failed file needed but this build cannot use. */
const missingProviders = (e: SopsError, available: ReadonlyArray<string>) => {
  if (e._tag !== "DataKeyError") return []
  const types = new Set<string>()
  for (const g of e.groups)
    for (const a of g.attempts) if (a.type !== "age" && a.type !== "pgp") types.add(a.type)
  return [...types].filter((t) => !available.includes(t))
}

export class Decryptor extends Context.Service<
  Decryptor,
  {
    readonly macPolicy: MacPolicy
    readonly limits: DecryptLimits
    /** The cache, exposed for benchmarks and metrics (hits/misses as plain numbers). */
    readonly cache: CountingCache
    /** The keys for a Kustomization in `namespace` with `decryption`. */
    readonly keys: (
      namespace: string,
      decryption: Decryption,
      /** The Kustomization's name (labels the token-cache metrics). */
      name?: string,
    ) => Effect.Effect<DecryptionKeys, BuildFailed>
    /** Decrypts one file or value; a MAC mismatch under `warn` comes back as a warning. */
    readonly decrypt: (
      request: DecryptRequest,
    ) => Effect.Effect<{ readonly plaintext: Uint8Array; readonly warning?: MacWarning }, BuildFailed>
  }
>()("kustodian/stages/decrypt/Decryptor") {
  static layer(options: DecryptOptions = {}) {
    return Layer.effect(
      Decryptor,
      Effect.gen(function* () {
        const lookup = yield* ConfigLookup
        const providers = yield* KeyProviders
        const cache = makeCountingCache(options.cacheEntries)
        const macPolicy = options.macPolicy ?? "warn"
        const limits: DecryptLimits = options.limits ?? defaultLimits

        const fromSecret = Effect.fn("Decryptor.fromSecret")(function* (
          secret: SecretData,
          ageOnly: boolean,
          request: Omit<ProviderRequest, "credentials">,
        ) {
          const k = yield* keysFromSecret(secret)
          // The global age Secret's other entries are not read (as in Flux); KMS then uses the ServiceAccount or
          // the controller's identity.
          const made = providers.services({ ...request, credentials: ageOnly ? [] : k.providers })
          return {
            keyring: {
              // A new resourceVersion (rotated keys) or a re-created Secret (new uid) starts a cold scope; keys
              // opened through a workload identity are scoped to it as well.
              scope: `${secret.uid || `${secret.namespace}/${secret.name}`}@${secret.resourceVersion}${made.identity === "secret" ? "" : `+${made.identity}`}`,
              age: k.age,
              pgp: ageOnly ? [] : k.pgp,
              providers: made.services,
            },
            secret: { namespace: secret.namespace, name: secret.name },
            ignored: k.ignored,
            providers: made.services.map((s) => s.type as ProviderType),
            decrypted: { values: 0 },
          } satisfies DecryptionKeys as DecryptionKeys
        })

        const getSecret = (namespace: string, name: string) =>
          lookup.secret(namespace, name).pipe(
            Effect.mapError(
              (e) =>
                new BuildFailed({
                  message: `cannot get sops decryption Secret '${namespace}/${name}': ${e.message}`,
                  object: `Secret/${namespace}/${name}`,
                  terminal: false,
                }),
            ),
            Effect.flatMap(
              Option.match({
                onNone: () =>
                  Effect.fail(
                    new BuildFailed({
                      message: `cannot get sops decryption Secret '${namespace}/${name}': secrets "${name}" not found`,
                      object: `Secret/${namespace}/${name}`,
                      terminal: false,
                    }),
                  ),
                onSome: Effect.succeed,
              }),
            ),
          )

        return Decryptor.of({
          macPolicy,
          limits,
          cache,
          keys: Effect.fn("Decryptor.keys")(function* (namespace: string, decryption: Decryption, name = "") {
            if (decryption.serviceAccountName && !providers.objectLevelWorkloadIdentity) {
              // Flux's message when its gate is off.
              return yield* new BuildFailed({
                message:
                  "to use spec.decryption.serviceAccountName for decryption authentication please enable the ObjectLevelWorkloadIdentity feature gate in the controller",
                keyPath: "spec.decryption.serviceAccountName",
                terminal: true,
              })
            }
            const request = { namespace, name, serviceAccountName: decryption.serviceAccountName }
            if (decryption.secretRef)
              return yield* fromSecret(yield* getSecret(namespace, decryption.secretRef.name), false, request)
            if (options.globalAgeSecret) {
              const g = options.globalAgeSecret
              return yield* fromSecret(yield* getSecret(g.namespace, g.name), true, request)
            }
            const made = providers.services({ ...request, credentials: [] })
            return {
              keyring: { scope: `<no keys>+${made.identity}`, age: [], pgp: [], providers: made.services },
              ignored: [],
              providers: made.services.map((s) => s.type as ProviderType),
              decrypted: { values: 0 },
            } as DecryptionKeys
          }),
          decrypt: Effect.fn("Decryptor.decrypt")(function* (request: DecryptRequest) {
            const mac = request.mac ?? macPolicy
            // Every caller's bytes are bounded here, before the engine parses them.
            if (request.bytes.byteLength > limits.maxDecryptionSize)
              return yield* tooLarge(request, request.bytes.byteLength, limits.maxDecryptionSize)
            const budget = request.keys.decrypted
            const result = yield* withCacheMetrics(cache, (view) =>
              decrypt({
                bytes: request.bytes,
                format: request.format,
                ...(request.outputFormat ? { outputFormat: request.outputFormat } : {}),
                file: request.file,
                keyring: request.keys.keyring,
                mac,
                cache: view,
                maxValues: Math.max(0, limits.maxDecryptedValues - budget.values),
              }),
            ).pipe(
              Effect.mapError((e) => {
                if (e._tag === "TooManyValues")
                  return new BuildFailed({
                    message:
                      `${request.context}: '${request.file}' holds ${e.values} encrypted values; with the ` +
                      `${budget.values} decrypted before it this build would decrypt more than ` +
                      `${formatLimit("maxDecryptedValues", limits.maxDecryptedValues)} ` +
                      `(raise it with ${limitFlag("maxDecryptedValues")})`,
                    file: request.file,
                    ...(request.object ? { object: request.object } : {}),
                    ...(request.keyPath ? { keyPath: request.keyPath } : {}),
                    terminal: true,
                  })
                const missing = missingProviders(e, request.keys.providers)
                const needs =
                  missing.length === 0
                    ? ""
                    : `; the file needs the ${missing.map((t) => providerNames[t] ?? t).join(", ")} key provider, which this operator does not have yet`
                const hint = request.keys.secret ? ignoredHint(request.keys.secret, request.keys.ignored) : ""
                return new BuildFailed({
                  message: `${request.context}: ${e.message}${needs}${hint}`,
                  file: request.file,
                  ...(request.object ? { object: request.object } : {}),
                  ...(request.keyPath ? { keyPath: request.keyPath } : {}),
                  terminal: !nonTerminal.has(e._tag),
                })
              }),
            )
            budget.values += result.values
            if (!result.macMismatch) return { plaintext: result.plaintext }
            const warning: MacWarning = {
              reason: "SopsMacMismatch",
              file: request.file,
              ...(request.object ? { object: request.object } : {}),
              message: `MAC mismatch in '${request.file}': the file was changed after it was encrypted; decrypted anyway (--sops-mac-policy=warn)`,
            }
            return { plaintext: result.plaintext, warning }
          }),
        })
      }),
    )
  }
}
