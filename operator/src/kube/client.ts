import * as http from "node:http"
import * as https from "node:https"
import { Context, Effect, Layer, Option, Stream } from "effect"
import { countRequest } from "../metrics/metrics.ts"
import { type Connection, connect, type KubeConfigSource } from "./connection.ts"
import { KubeApiError, type KubeError, KubeTransportError } from "./errors.ts"
import { apiVersionOf, type KubeList, type KubeObject } from "./object.ts"
import { type ResourceRef, resourcePath } from "./resource.ts"

export type Query = Readonly<Record<string, string | number | boolean | undefined>>

export interface RawRequest {
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
  readonly path: string
  readonly query?: Query | undefined
  readonly body?: unknown
  /** Defaults to application/json when a body is sent. */
  readonly contentType?: string | undefined
  /** The verb counted in metrics (get, list, watch, create, apply, patch, update, delete). */
  readonly verb?: string | undefined
}

export type PatchType = "merge" | "json" | "strategic"

const patchContentType: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
  strategic: "application/strategic-merge-patch+json",
}

export interface ApplyOptions {
  readonly fieldManager: string
  /** Take ownership of conflicting fields, as controllers must (`--force-conflicts`). Default true. */
  readonly force?: boolean | undefined
  readonly dryRun?: boolean | undefined
}

export interface ListOptions {
  readonly namespace?: string | undefined
  readonly labelSelector?: string | undefined
  readonly fieldSelector?: string | undefined
  readonly limit?: number | undefined
}

export interface WatchOptions {
  readonly namespace?: string | undefined
  readonly labelSelector?: string | undefined
  readonly fieldSelector?: string | undefined
  readonly resourceVersion?: string | undefined
  /** The server closes the stream after this many seconds; the watcher then resumes. */
  readonly timeoutSeconds?: number | undefined
}

export type WatchEvent =
  | { readonly type: "ADDED" | "MODIFIED" | "DELETED"; readonly object: KubeObject }
  | { readonly type: "BOOKMARK"; readonly object: KubeObject }

/**
 * A thin typed Kubernetes client: raw REST over node:https with the kubeconfig's credentials.
 * Bodies pass through untouched (no generated-model serialisation), apply is server-side apply with
 * `application/apply-patch+yaml`, and every request is counted in `rest_client_requests_total`.
 */
export class KubeClient extends Context.Service<
  KubeClient,
  {
    /** Any request; the decoded JSON body on 2xx, a KubeApiError otherwise. */
    readonly request: (req: RawRequest) => Effect.Effect<unknown, KubeError>
    readonly get: <T extends KubeObject = KubeObject>(
      ref: ResourceRef,
      name: string,
      namespace?: string,
    ) => Effect.Effect<T, KubeError>
    /** `None` when the object does not exist. */
    readonly getOption: <T extends KubeObject = KubeObject>(
      ref: ResourceRef,
      name: string,
      namespace?: string,
    ) => Effect.Effect<Option.Option<T>, KubeError>
    /** All pages of a list; the list's resourceVersion is the one to watch from. */
    readonly list: <T extends KubeObject = KubeObject>(
      ref: ResourceRef,
      options?: ListOptions,
    ) => Effect.Effect<KubeList<T>, KubeError>
    readonly create: <T extends KubeObject = KubeObject>(
      ref: ResourceRef,
      obj: KubeObject,
    ) => Effect.Effect<T, KubeError>
    /** PUT; fails with Conflict when `metadata.resourceVersion` is stale. */
    readonly replace: <T extends KubeObject = KubeObject>(
      ref: ResourceRef,
      obj: KubeObject,
      subresource?: string,
    ) => Effect.Effect<T, KubeError>
    readonly patch: <T extends KubeObject = KubeObject>(
      ref: ResourceRef,
      target: {
        readonly name: string
        readonly namespace?: string | undefined
        readonly subresource?: string | undefined
      },
      patch: unknown,
      type?: PatchType,
    ) => Effect.Effect<T, KubeError>
    /** Server-side apply of `obj` (apiVersion, kind, metadata.name[, namespace] required). */
    readonly apply: <T extends KubeObject = KubeObject>(
      ref: ResourceRef,
      obj: KubeObject,
      options: ApplyOptions,
    ) => Effect.Effect<T, KubeError>
    /** Server-side apply to the status subresource: send only the status fields this manager owns. */
    readonly applyStatus: <T extends KubeObject = KubeObject>(
      ref: ResourceRef,
      obj: KubeObject,
      options: ApplyOptions,
    ) => Effect.Effect<T, KubeError>
    /** Deletes; succeeds with `false` when the object was already gone. */
    readonly delete: (
      ref: ResourceRef,
      name: string,
      namespace?: string,
      options?: {
        readonly propagationPolicy?: "Background" | "Foreground" | "Orphan"
        readonly uid?: string
      },
    ) => Effect.Effect<boolean, KubeError>
    /**
     * One watch request as a stream of events. The stream ends when the server closes it and fails
     * with a KubeApiError (`isGone`) when the resourceVersion is too old. Bookmarks are requested.
     */
    readonly watch: (ref: ResourceRef, options: WatchOptions) => Stream.Stream<WatchEvent, KubeError>
    /** The API server's base URL (for logs and errors). */
    readonly server: string
  }
>()("kustodian/kube/KubeClient") {
  /** A client for the cluster of the given kubeconfig; the connection pool closes with the layer. */
  static readonly layer = (source: KubeConfigSource) =>
    Layer.effect(
      KubeClient,
      Effect.gen(function* () {
        const conn = yield* connect(source)
        return makeClient(conn)
      }),
    )

  /** The client for an already open connection. */
  static readonly fromConnection = (conn: Connection) => Layer.succeed(KubeClient, makeClient(conn))
}

const buildUrl = (conn: Connection, path: string, query: Query | undefined): URL => {
  const url = new URL(path, conn.server)
  // Keep a server path prefix (e.g. a proxy under /k8s) in front of API paths.
  if (conn.server.pathname !== "/" && conn.server.pathname !== "") {
    url.pathname = conn.server.pathname.replace(/\/$/, "") + path
  }
  if (query)
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v))
  return url
}

interface Response {
  readonly status: number
  readonly message: http.IncomingMessage
}

const open = (conn: Connection, req: RawRequest, signal: AbortSignal): Promise<Response> =>
  conn.headers().then(
    (auth) =>
      new Promise<Response>((resolve, reject) => {
        const url = buildUrl(conn, req.path, req.query)
        const body =
          req.body === undefined
            ? undefined
            : typeof req.body === "string"
              ? req.body
              : JSON.stringify(req.body)
        const headers: Record<string, string> = { Accept: "application/json", ...auth }
        if (body !== undefined) {
          headers["Content-Type"] = req.contentType ?? "application/json"
          headers["Content-Length"] = String(Buffer.byteLength(body))
        }
        const lib = url.protocol === "https:" ? https : http
        const r = lib.request(url, { method: req.method, agent: conn.agent, headers, signal }, (message) =>
          resolve({ status: message.statusCode ?? 0, message }),
        )
        r.on("error", reject)
        if (body !== undefined) r.write(body)
        r.end()
      }),
  )

const readAll = async (
  message: http.IncomingMessage,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<string> => {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of message) {
    size += (chunk as Buffer).length
    if (size > maxBytes) {
      message.destroy()
      throw new Error(`the answer is larger than ${maxBytes} bytes`)
    }
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString("utf8")
}

const toApiError = (verb: string, path: string, status: number, text: string): KubeApiError => {
  let reason = http.STATUS_CODES[status] ?? "Unknown"
  let message = text.slice(0, 500)
  try {
    const parsed = JSON.parse(text) as { kind?: string; reason?: string; message?: string }
    if (parsed.kind === "Status") {
      reason = parsed.reason ?? reason
      message = parsed.message ?? message
    }
  } catch {
    // Not JSON: keep the raw (truncated) text.
  }
  return new KubeApiError({ verb, path, code: status, reason, message })
}

const transportError = (verb: string, path: string) => (cause: unknown) =>
  new KubeTransportError({ verb, path, message: cause instanceof Error ? cause.message : String(cause) })

const verbOf = (req: RawRequest): string =>
  req.verb ??
  (req.method === "GET"
    ? "get"
    : req.method === "POST"
      ? "create"
      : req.method === "PUT"
        ? "update"
        : req.method.toLowerCase())

/** `item` with the `apiVersion` and `kind` of the resource it was listed from. */
const withType = <T extends KubeObject>(item: T, ref: ResourceRef): T => ({
  ...item,
  apiVersion: item.apiVersion ?? apiVersionOf(ref),
  kind: item.kind ?? ref.kind,
})

const makeClient = (conn: Connection): KubeClient["Service"] => {
  const send = (req: RawRequest, verb: string) =>
    Effect.gen(function* () {
      const limits = conn.limits
      const exchange = Effect.tryPromise({
        try: async (signal) => {
          const res = await open(conn, req, signal)
          return { status: res.status, text: await readAll(res.message, limits?.maxResponseBytes) }
        },
        catch: transportError(verb, req.path),
      })
      const result = yield* (
        limits === undefined
          ? exchange
          : exchange.pipe(
              // Interrupting aborts the request (its signal), so a server that never finishes costs nothing more.
              Effect.timeoutOrElse({
                duration: limits.requestTimeoutMs,
                orElse: () =>
                  Effect.fail(
                    new KubeTransportError({
                      verb,
                      path: req.path,
                      message: `no complete answer within ${limits.requestTimeoutMs / 1000} s`,
                    }),
                  ),
              }),
            )
      ).pipe(Effect.tapError(() => countRequest(verb, "error")))
      yield* countRequest(verb, result.status)
      yield* Effect.annotateCurrentSpan({ "http.status_code": result.status })
      if (result.status < 200 || result.status >= 300) {
        return yield* toApiError(verb, req.path, result.status, result.text)
      }
      if (result.text === "") return undefined
      try {
        return JSON.parse(result.text) as unknown
      } catch {
        // Never the parser's message: V8 quotes the start of the text, and the server may not be an API server.
        return yield* new KubeTransportError({
          verb,
          path: req.path,
          message: `the server answered ${result.status} with a body that is not JSON`,
        })
      }
    })

  /**
   * The span ends with the request's result, not its error: the API server's message echoes field values (a
   * Secret's, a ConfigMap's), and a failed span would carry that text into the traces. The span records the
   * status code and reason; the error itself goes on to the stage, which redacts what it reports.
   */
  const traced = Effect.fn("KubeClient.request")(function* (req: RawRequest) {
    const verb = verbOf(req)
    yield* Effect.annotateCurrentSpan({ "http.method": req.method, "k8s.path": req.path })
    const result = yield* Effect.result(send(req, verb))
    if (result._tag === "Failure")
      yield* Effect.annotateCurrentSpan({
        "k8s.error": result.failure._tag,
        ...("reason" in result.failure ? { "k8s.reason": String(result.failure.reason) } : {}),
      })
    return result
  })

  const request = (req: RawRequest): Effect.Effect<unknown, KubeError> =>
    Effect.flatMap(traced(req), (r) =>
      r._tag === "Success" ? Effect.succeed(r.success) : Effect.fail(r.failure),
    )

  const get = <T extends KubeObject>(ref: ResourceRef, name: string, namespace?: string) =>
    request({ method: "GET", path: resourcePath(ref, { namespace, name }) }) as Effect.Effect<T, KubeError>

  const getOption = <T extends KubeObject>(ref: ResourceRef, name: string, namespace?: string) =>
    get<T>(ref, name, namespace).pipe(
      Effect.map(Option.some),
      Effect.catchTag("KubeApiError", (e) =>
        e.isNotFound ? Effect.succeed(Option.none<T>()) : Effect.fail(e),
      ),
    )

  const list = Effect.fn("KubeClient.list")(function* <T extends KubeObject>(
    ref: ResourceRef,
    options: ListOptions = {},
  ) {
    const items: T[] = []
    let continueToken: string | undefined
    let resourceVersion: string | undefined
    do {
      const page = (yield* request({
        method: "GET",
        verb: "list",
        path: resourcePath(ref, { namespace: options.namespace }),
        query: {
          labelSelector: options.labelSelector,
          fieldSelector: options.fieldSelector,
          limit: options.limit ?? 500,
          continue: continueToken,
        },
      })) as KubeList<T>
      // The API server leaves `apiVersion` and `kind` out of the items of built-in kinds' lists; every
      // `KubeObject` has them (as client-go's unstructured lists give them), so the items get the list's.
      for (const item of page.items)
        items.push(item.apiVersion === undefined || item.kind === undefined ? withType(item, ref) : item)
      continueToken = page.metadata.continue || undefined
      resourceVersion = page.metadata.resourceVersion
    } while (continueToken !== undefined)
    return { metadata: { resourceVersion }, items } satisfies KubeList<T>
  })

  const create = <T extends KubeObject>(ref: ResourceRef, obj: KubeObject) =>
    request({
      method: "POST",
      path: resourcePath(ref, { namespace: obj.metadata.namespace }),
      body: obj,
    }) as Effect.Effect<T, KubeError>

  const replace = <T extends KubeObject>(ref: ResourceRef, obj: KubeObject, subresource?: string) =>
    request({
      method: "PUT",
      path: resourcePath(ref, { namespace: obj.metadata.namespace, name: obj.metadata.name, subresource }),
      body: obj,
    }) as Effect.Effect<T, KubeError>

  const patch = <T extends KubeObject>(
    ref: ResourceRef,
    target: {
      readonly name: string
      readonly namespace?: string | undefined
      readonly subresource?: string | undefined
    },
    body: unknown,
    type: PatchType = "merge",
  ) =>
    request({
      method: "PATCH",
      verb: "patch",
      path: resourcePath(ref, target),
      body,
      contentType: patchContentType[type],
    }) as Effect.Effect<T, KubeError>

  const applyTo =
    (subresource: string | undefined) =>
    <T extends KubeObject>(ref: ResourceRef, obj: KubeObject, options: ApplyOptions) =>
      request({
        method: "PATCH",
        verb: "apply",
        path: resourcePath(ref, { namespace: obj.metadata.namespace, name: obj.metadata.name, subresource }),
        query: {
          fieldManager: options.fieldManager,
          force: options.force ?? true,
          dryRun: options.dryRun ? "All" : undefined,
        },
        // JSON is valid YAML, so the apply patch type accepts it as is.
        body: obj,
        contentType: "application/apply-patch+yaml",
      }) as Effect.Effect<T, KubeError>

  const del = (
    ref: ResourceRef,
    name: string,
    namespace?: string,
    options: {
      readonly propagationPolicy?: "Background" | "Foreground" | "Orphan"
      readonly uid?: string
    } = {},
  ) =>
    request({
      method: "DELETE",
      path: resourcePath(ref, { namespace, name }),
      body: {
        apiVersion: "v1",
        kind: "DeleteOptions",
        ...(options.propagationPolicy ? { propagationPolicy: options.propagationPolicy } : {}),
        ...(options.uid ? { preconditions: { uid: options.uid } } : {}),
      },
    }).pipe(
      Effect.as(true),
      Effect.catchTag("KubeApiError", (e) => (e.isNotFound ? Effect.succeed(false) : Effect.fail(e))),
    )

  const watch = (ref: ResourceRef, options: WatchOptions): Stream.Stream<WatchEvent, KubeError> => {
    const path = resourcePath(ref, { namespace: options.namespace })
    const req: RawRequest = {
      method: "GET",
      verb: "watch",
      path,
      query: {
        watch: true,
        allowWatchBookmarks: true,
        resourceVersion: options.resourceVersion,
        timeoutSeconds: options.timeoutSeconds,
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
      },
    }
    const opened = Effect.acquireRelease(
      Effect.gen(function* () {
        const controller = new AbortController()
        const res = yield* Effect.tryPromise({
          try: () => open(conn, req, controller.signal),
          catch: transportError("watch", path),
        }).pipe(Effect.tapError(() => countRequest("watch", "error")))
        yield* countRequest("watch", res.status)
        return { res, controller }
      }),
      ({ controller, res }) =>
        Effect.sync(() => {
          controller.abort()
          res.message.destroy()
        }),
    )
    return Stream.unwrap(
      Effect.gen(function* () {
        const { res } = yield* opened
        if (res.status < 200 || res.status >= 300) {
          const text = yield* Effect.tryPromise({
            try: () => readAll(res.message),
            catch: transportError("watch", path),
          })
          return yield* toApiError("watch", path, res.status, text)
        }
        return Stream.fromAsyncIterable(
          res.message as AsyncIterable<Uint8Array>,
          transportError("watch", path),
        ).pipe(
          Stream.decodeText,
          Stream.splitLines,
          Stream.filter((line) => line.trim() !== ""),
          Stream.mapEffect((line) => parseWatchLine(path, line)),
        )
      }),
    )
  }

  return {
    request,
    get,
    getOption,
    list,
    create,
    replace,
    patch,
    apply: applyTo(undefined),
    applyStatus: applyTo("status"),
    delete: del,
    watch,
    server: conn.server.toString(),
  } as KubeClient["Service"]
}

const parseWatchLine = (path: string, line: string): Effect.Effect<WatchEvent, KubeError> => {
  let event: { type?: string; object?: unknown }
  try {
    event = JSON.parse(line) as { type?: string; object?: unknown }
  } catch {
    return Effect.fail(new KubeTransportError({ verb: "watch", path, message: "malformed watch event" }))
  }
  if (event.type === "ERROR") {
    const status = event.object as { code?: number; reason?: string; message?: string }
    return Effect.fail(
      new KubeApiError({
        verb: "watch",
        path,
        code: status.code ?? 500,
        reason: status.reason ?? "Unknown",
        message: status.message ?? "watch error",
      }),
    )
  }
  return Effect.succeed(event as WatchEvent)
}
