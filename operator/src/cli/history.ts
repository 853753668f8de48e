/**
 * `kustodian history`: what was applied when, read from the objects' `ReconcileJournal`s in a cluster.
 *
 * - `history kustomization|ks NAME [-n NS]` and `history gitrepository|gitrepo NAME`: one line per journal record,
 *   oldest first — time, how many reconciles it stands for, revision, created/configured/deleted counts, and the
 *   outcome (a failure names its stage, reason and message).
 * - `history --object Kind/namespace/name` (or `Kind/name` when cluster-scoped): which object, at which revision
 *   and when, last changed it.
 *
 * `-o table|json|yaml`, `--since DURATION` (Go's format: `1h`, `30m`), `--kubeconfig`, `--context`. Usage mistakes
 * exit 2 with one line, never a stack trace.
 *
 * @module
 */
import { homedir } from "node:os"
import { join } from "node:path"
import { Data, Effect, Option } from "effect"
import * as YAML from "yaml"
import { parseDuration } from "../../../model/duration.ts"
import { gitRepositoryResource } from "../../../model/gitrepository.ts"
import { type HistoryLine, historyLines, type JournalState } from "../../../model/journal.ts"
import { kustomizationResource } from "../../../model/kustomization.ts"
import { KubeClient } from "../kube/client.ts"
import type { KubeConfigSource } from "../kube/connection.ts"
import type { KubeObject } from "../kube/object.ts"
import { decodeJournal, journalName, journalRef } from "../runtime/journal-store.ts"
import { parseArgs, UsageError, value } from "./args.ts"
import { HelpRequested, parsing } from "./command.ts"

export const historyUsage = `kustodian history kustomization|ks NAME [-n NAMESPACE] [flags]
kustodian history gitrepository|gitrepo NAME [-n NAMESPACE] [flags]
  what each reconcile did, oldest first: time, count of identical reconciles, revision, objects created,
  configured and deleted, and the outcome (a failure with its stage, reason and message)
kustodian history --object KIND/NAMESPACE/NAME [flags]      (KIND/NAME for cluster-scoped objects)
  which Kustomization, at which revision and when, last created, configured or deleted the object

  -n, --namespace NS     the object's namespace (default flux-system)
  -o, --output FORMAT    table (default), json or yaml
  --since DURATION       only reconciles within DURATION before now (e.g. 1h, 30m)
  --kubeconfig PATH      default: $KUBECONFIG, ~/.kube/config
  --context NAME         the kubeconfig context`

const kinds: Readonly<Record<string, string>> = {
  kustomization: kustomizationResource.kind,
  kustomizations: kustomizationResource.kind,
  ks: kustomizationResource.kind,
  gitrepository: gitRepositoryResource.kind,
  gitrepositories: gitRepositoryResource.kind,
  gitrepo: gitRepositoryResource.kind,
}

type Format = "table" | "json" | "yaml"

/** Nothing to show: no journal, or no record of the object (exit 1). */
export class HistoryNotFound extends Data.TaggedError("HistoryNotFound")<{ readonly message: string }> {}

interface Request {
  readonly target:
    | { readonly _tag: "Object"; readonly kind: string; readonly name: string; readonly namespace: string }
    | { readonly _tag: "Changed"; readonly subject: string }
  readonly format: Format
  readonly sinceMs: number | undefined
  readonly source: KubeConfigSource
}

const parseRequest = (argv: ReadonlyArray<string>): Request => {
  const p = parseArgs(argv, {
    values: ["namespace", "output", "since", "kubeconfig", "context", "object"],
    flags: ["help"],
    aliases: { n: "namespace", o: "output", h: "help" },
  })
  if (p.flags.has("help")) throw new HelpRequested(historyUsage)
  const format = value(p, "output") ?? "table"
  if (format !== "table" && format !== "json" && format !== "yaml")
    throw new UsageError(`--output must be table, json or yaml, not ${JSON.stringify(format)}`)
  const since = value(p, "since")
  const sinceMs = since === undefined ? undefined : parseDuration(since)
  if (since !== undefined && sinceMs === undefined)
    throw new UsageError(`--since ${JSON.stringify(since)} is not a duration (e.g. 1h, 30m, 90s)`)
  const context = value(p, "context")
  const kubeconfig =
    value(p, "kubeconfig") ??
    (context === undefined
      ? undefined
      : process.env.KUBECONFIG?.split(":")[0] || join(homedir(), ".kube", "config"))
  const source: KubeConfigSource =
    kubeconfig === undefined ? { _tag: "Default" } : { _tag: "File", path: kubeconfig, context }
  const object = value(p, "object")
  if (object !== undefined) {
    if (p.positional.length > 0) throw new UsageError("--object takes no KIND NAME arguments")
    if (value(p, "namespace") !== undefined)
      throw new UsageError("--object names its namespace: KIND/NAMESPACE/NAME")
    const parts = object.split("/")
    if (parts.length < 2 || parts.length > 3 || parts.some((x) => x === ""))
      throw new UsageError(`--object ${JSON.stringify(object)}: expected KIND/NAMESPACE/NAME or KIND/NAME`)
    return { target: { _tag: "Changed", subject: object }, format, sinceMs, source }
  }
  const [kindArg, name, ...extra] = p.positional
  if (kindArg === undefined) throw new UsageError("history needs KIND NAME or --object")
  const kind = kinds[kindArg.toLowerCase()]
  if (kind === undefined)
    throw new UsageError(`unknown kind ${JSON.stringify(kindArg)}: kustomization or gitrepository`)
  if (name === undefined) throw new UsageError(`history ${kindArg} needs a NAME`)
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`)
  return {
    target: { _tag: "Object", kind, name, namespace: value(p, "namespace") ?? "flux-system" },
    format,
    sinceMs,
    source,
  }
}

const within = (line: HistoryLine, sinceMs: number | undefined, now: number) =>
  sinceMs === undefined || Date.parse(line.lastAt) >= now - sinceMs

/** The lines as JSON-ready data (what `-o json|yaml` print). */
const asData = (line: HistoryLine) => ({
  time: line.lastAt,
  ...(line.count > 1 ? { firstTime: line.firstAt, count: line.count } : {}),
  ...(line.revision !== undefined ? { revision: line.revision } : {}),
  created: line.created,
  configured: line.configured,
  deleted: line.deleted,
  outcome: line.outcome,
  ...(line.failure !== undefined ? { failure: line.failure } : {}),
  ...(line.changes.length > 0 ? { changes: line.changes } : {}),
})

const shorten = (revision: string | undefined) => {
  if (revision === undefined) return "-"
  const m = /^(.*@sha(?:1|256):)([0-9a-f]+)$/.exec(revision)
  return m ? `${m[1]}${m[2]!.slice(0, 8)}` : revision
}

/** A table in kubectl's style: upper-case headers, columns three spaces apart. */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return `${rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("   ")).join("\n")}\n`
}

export const historyTable = (lines: ReadonlyArray<HistoryLine>): string =>
  table([
    ["TIME", "COUNT", "REVISION", "CREATED", "CONFIGURED", "DELETED", "STATUS"],
    ...lines.map((l) => [
      l.lastAt,
      String(l.count),
      shorten(l.revision),
      String(l.created),
      String(l.configured),
      String(l.deleted),
      l.failure !== undefined
        ? `${l.failure.reason} in ${l.failure.stage}: ${l.failure.message.split("\n")[0]}`
        : l.outcome,
    ]),
  ])

const print = (format: Format, data: unknown, text: () => string) =>
  Effect.sync(() =>
    process.stdout.write(
      format === "json"
        ? `${JSON.stringify(data, null, 2)}\n`
        : format === "yaml"
          ? YAML.stringify(data)
          : text(),
    ),
  )

const journalState = (obj: KubeObject, where: string): Effect.Effect<JournalState, HistoryNotFound> => {
  const state = decodeJournal(obj)
  return state === undefined
    ? Effect.fail(new HistoryNotFound({ message: `${where}: not a journal this version reads` }))
    : Effect.succeed(state)
}

const resourceOf = (kind: string) =>
  kind === kustomizationResource.kind ? kustomizationResource : gitRepositoryResource

const objectHistory = (target: Extract<Request["target"], { _tag: "Object" }>, request: Request) =>
  Effect.gen(function* () {
    const client = yield* KubeClient
    const name = journalName(target.kind, target.name)
    const where = `ReconcileJournal ${target.namespace}/${name}`
    const found = yield* client.getOption(journalRef, name, target.namespace)
    if (Option.isNone(found)) {
      const r = resourceOf(target.kind)
      return yield* Effect.fail(
        new HistoryNotFound({
          message: `no history for ${r.kind} ${target.namespace}/${target.name}: ${where} not found (never reconciled by Kustodian?)`,
        }),
      )
    }
    const state = yield* journalState(found.value, where)
    const now = Date.now()
    const lines = historyLines(state).filter((l) => within(l, request.sinceMs, now))
    const kind = target.kind
    yield* print(
      request.format,
      {
        apiVersion: `${resourceOf(kind).group}/${resourceOf(kind).version}`,
        kind,
        namespace: target.namespace,
        name: target.name,
        compacted: state.compacted,
        entries: lines.map(asData),
      },
      () =>
        lines.length === 0
          ? `no reconciles${request.sinceMs !== undefined ? " in that time" : ""} (${state.compacted} compacted)\n`
          : historyTable(lines),
    )
  })

/** The newest record anywhere that created, configured or deleted `subject`. */
const changedBy = (subject: string, request: Request) =>
  Effect.gen(function* () {
    const client = yield* KubeClient
    const journals = yield* client.list(journalRef)
    const now = Date.now()
    let best:
      | {
          readonly owner: { kind: string; namespace: string; name: string }
          readonly line: HistoryLine
          readonly action: string
        }
      | undefined
    for (const j of journals.items) {
      const state = decodeJournal(j)
      const owner = (j.spec as { subject?: { kind?: string; name?: string } } | undefined)?.subject
      if (state === undefined || owner?.kind === undefined || owner.name === undefined) continue
      for (const line of historyLines(state)) {
        if (!within(line, request.sinceMs, now)) continue
        const change = line.changes.find((c) => c.subject === subject)
        if (change === undefined) continue
        if (best === undefined || line.lastAt >= best.line.lastAt)
          best = {
            owner: { kind: owner.kind, namespace: j.metadata.namespace ?? "", name: owner.name },
            line,
            action: change.action,
          }
      }
    }
    if (best === undefined)
      return yield* Effect.fail(
        new HistoryNotFound({
          message: `no journal records a change of ${subject}${request.sinceMs !== undefined ? " in that time" : ""}`,
        }),
      )
    const b = best
    const data = {
      object: subject,
      action: b.action,
      by: b.owner,
      ...(b.line.revision !== undefined ? { revision: b.line.revision } : {}),
      time: b.line.firstAt,
      outcome: b.line.outcome,
    }
    yield* print(request.format, data, () =>
      table([
        ["OBJECT", "ACTION", "BY", "REVISION", "TIME"],
        [
          subject,
          b.action,
          `${b.owner.kind}/${b.owner.namespace}/${b.owner.name}`,
          b.line.revision ?? "-",
          b.line.firstAt,
        ],
      ]),
    )
  })

export const historyCommand = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const request = yield* parsing(() => parseRequest(argv))
    const target = request.target
    yield* (
      target._tag === "Object" ? objectHistory(target, request) : changedBy(target.subject, request)
    ).pipe(Effect.provide(KubeClient.layer(request.source)), Effect.scoped)
  })
