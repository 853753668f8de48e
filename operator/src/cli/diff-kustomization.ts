/**
 * `kustodian diff kustomization NAME --path PATH`: builds as `kustodian build` does, then asks the live cluster
 * (kubeconfig as kubectl finds it) what the operator's apply would do, through the apply stage's own plan —
 * the same preparation, GETs and server-side dry-runs with the operator's field manager, `spec.force`,
 * `spec.ignore` and the `ssa`/`reconcile` annotations, nothing written — and prints per object, as `flux diff`
 * does, `► Kind/namespace/name created|drifted|skipped`, a unified diff of each drifted object (live → after the
 * apply, `managedFields` left out), and `► … deleted` for what prune would remove (`spec.prune` and the live
 * Kustomization's inventory; objects still owned and not `prune: disabled`). Secret values are masked
 * (`secret-mask.ts`), and every decrypted or substituteFrom value is masked wherever else it appears, unless
 * `--show-secrets`. Exit codes as `flux diff`: 0 no changes, 1 changes, 2 errors (usage mistakes too). Colours
 * (green created and added lines, red deleted and removed ones) only on a terminal without `NO_COLOR`.
 *
 * @module
 */

import { Cause, Effect, Exit, Layer, Option } from "effect"
import { timeoutMillis } from "../../../model/kustomization.ts"
import { KubeClient } from "../kube/client.ts"
import { connect } from "../kube/connection.ts"
import { apiVersionOf, formatRef, type KubeObject, type ObjectRef } from "../kube/object.ts"
import { RESTMapper } from "../kube/restmapper.ts"
import { makeRedactor } from "../redaction/redactor.ts"
import { compileIgnoreRules, IgnoreRuleError } from "../stages/apply/ignore-rules.ts"
import { Applier, type PlannedChange } from "../stages/apply/staged-apply.ts"
import { KubeAccess } from "../stages/cluster/impersonation.ts"
import { inventoryId, parseEntry } from "../stages/cluster/inventory.ts"
import { isOwnedBy } from "../stages/cluster/owner.ts"
import { pruneDisabled } from "../stages/cluster/policy.ts"
import { UsageError } from "./args.ts"
import { printYaml } from "./build-kustomization.ts"
import { HelpRequested, reportUsage } from "./command.ts"
import { buildKustomization, KustomizationBuildError, parseKustomizationArgs } from "./kustomization-build.ts"
import { styles } from "./progress.ts"
import { maskPair } from "./secret-mask.ts"
import { unifiedDiff } from "./unified-diff.ts"

/** The object as the diff shows it: without managedFields. */
const shown = (o: KubeObject | undefined): KubeObject | undefined => {
  if (o === undefined) return undefined
  const { managedFields: _m, ...metadata } = o.metadata as KubeObject["metadata"] & {
    managedFields?: unknown
  }
  return { ...o, metadata }
}

/** The text of one drifted object: live → merged, Secret values masked unless `showSecrets`. */
export const driftText = (change: PlannedChange, showSecrets: boolean): string => {
  const live = shown(change.live)
  const merged = shown(change.merged)
  const pair = showSecrets ? { before: live, after: merged } : maskPair(live, merged)
  const name = formatRef(change.ref)
  return unifiedDiff(
    pair.before === undefined ? "" : printYaml([pair.before]).replace(/---\n$/, ""),
    pair.after === undefined ? "" : printYaml([pair.after]).replace(/---\n$/, ""),
    { before: `${name} (live)`, after: `${name} (after apply)` },
  )
}

interface InventoryEntry {
  readonly id: string
  readonly v: string
}

/** What prune would delete: inventory entries the new set lacks whose live object is still ours. */
const prunable = (
  client: KubeClient["Service"],
  mapper: RESTMapper["Service"],
  inventory: ReadonlyArray<InventoryEntry>,
  planned: ReadonlyArray<PlannedChange>,
  owner: { readonly name: string; readonly namespace: string },
) =>
  Effect.gen(function* () {
    const kept = new Set(planned.map((p) => inventoryId(p.ref)))
    const out: Array<ObjectRef> = []
    for (const entry of inventory) {
      if (kept.has(entry.id)) continue
      const ref = parseEntry(entry)
      if (ref === undefined) continue
      const resource = yield* mapper.resolve(apiVersionOf(ref), ref.kind).pipe(Effect.option)
      if (Option.isNone(resource)) continue
      const live = yield* client.getOption<KubeObject>(resource.value, ref.name, ref.namespace || undefined)
      if (Option.isNone(live)) continue
      if (!isOwnedBy(live.value, owner) || pruneDisabled(live.value)) continue
      out.push(ref)
    }
    return out
  })

const diffProgram = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv, cwd: string) =>
  Effect.gen(function* () {
    if (argv.length === 0)
      return yield* Effect.fail(new UsageError("missing kind: kustodian diff kustomization NAME --path PATH"))
    const args = yield* Effect.try({
      try: () => parseKustomizationArgs("diff", argv, cwd, env),
      catch: (e) => (e instanceof HelpRequested || e instanceof UsageError ? e : new UsageError(String(e))),
    })
    const conn = yield* connect(args.source).pipe(
      Effect.mapError(
        (e) => new KustomizationBuildError({ message: `cannot reach the cluster: ${e.message}` }),
      ),
    )
    const client = yield* Effect.service(KubeClient).pipe(Effect.provide(KubeClient.fromConnection(conn)))
    const built = yield* buildKustomization(args, env, cwd, client, (line) =>
      process.stderr.write(`${line}\n`),
    )
    const spec = built.kustomization?.spec
    if (spec?.kubeConfig !== undefined)
      return yield* new KustomizationBuildError({
        message: "spec.kubeConfig: diff against a remote cluster is not supported; point --kubeconfig at it",
      })
    const ignore = compileIgnoreRules(spec?.ignore)
    if (ignore instanceof IgnoreRuleError)
      return yield* new KustomizationBuildError({ message: `${ignore.field}: ${ignore.message}` })
    const owner = { name: args.name, namespace: built.namespace }
    const services = Applier.layer.pipe(
      Layer.provideMerge(RESTMapper.layer),
      Layer.provide(Layer.mergeAll(KubeAccess.fromConnection(conn), KubeClient.fromConnection(conn))),
    )
    const redactor = makeRedactor({
      sensitive: built.sensitive,
      objects: built.objects,
      identities: [owner.name, owner.namespace],
    })
    const { planned, mapper } = yield* Effect.gen(function* () {
      const applier = yield* Applier
      const mapper = yield* RESTMapper
      const planned = yield* applier.plan({
        objects: built.objects,
        owner,
        force: spec?.force,
        ignore,
        redactor,
        ...(spec === undefined ? {} : { timeout: `${timeoutMillis(spec)} millis` as const }),
      })
      return { planned, mapper }
    }).pipe(Effect.provide(services))
    const values = makeRedactor({ sensitive: built.sensitive })
    const style = styles(process.stdout, env)
    const colourDiff = (text: string) =>
      text
        .split("\n")
        .map((l) =>
          l.startsWith("+") && !l.startsWith("+++")
            ? style.green(l)
            : l.startsWith("-") && !l.startsWith("---")
              ? style.red(l)
              : l,
        )
        .join("\n")
    let changed = false
    const out: Array<string> = []
    for (const change of planned) {
      const name = formatRef(change.ref)
      if (change.action === "skipped") out.push(`► ${name} skipped\n`)
      else if (change.action === "created") {
        out.push(`${style.green(`► ${name} created`)}\n`)
        changed = true
      } else if (change.action === "configured") {
        out.push(`► ${name} drifted\n`)
        const text = driftText(change, args.showSecrets)
        out.push(colourDiff(args.showSecrets ? text : values.redact(text, [])))
        changed = true
      }
    }
    const inventory = (
      built.live?.status as { inventory?: { entries?: ReadonlyArray<InventoryEntry> } } | undefined
    )?.inventory?.entries
    if (spec?.prune === true && inventory !== undefined) {
      const stale = yield* prunable(client, mapper, inventory, planned, owner).pipe(
        Effect.mapError(
          (e) => new KustomizationBuildError({ message: `reading the inventory's objects: ${e.message}` }),
        ),
      )
      for (const ref of stale) {
        out.push(`${style.red(`► ${formatRef(ref)} deleted`)}\n`)
        changed = true
      }
    }
    process.stdout.write(out.join(""))
    return changed
  }).pipe(Effect.scoped)

/** Runs `diff`; resolves with flux diff's exit code. */
export const diffCommand = async (
  argv: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<number> => {
  const exit = await Effect.runPromiseExit(diffProgram(argv, env, cwd))
  if (Exit.isSuccess(exit)) return exit.value ? 1 : 0
  const failure = Cause.findErrorOption(exit.cause)
  if (failure._tag === "Some") {
    const e = failure.value as { message: string }
    if (e instanceof HelpRequested) {
      process.stdout.write(`${e.usage}\n`)
      return 0
    }
    // flux diff's code for every failure is 2, which is also the code of a usage mistake
    if (e instanceof UsageError) return reportUsage("diff", e.message)
    process.stderr.write(`kustodian: ${e.message.split("\n")[0]}\n`)
    return 2
  }
  process.stderr.write(`kustodian: internal error: ${Cause.pretty(exit.cause).split("\n")[0]}\n`)
  return 2
}
