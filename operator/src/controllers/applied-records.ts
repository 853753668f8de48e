/**
 * What the Kustomization controller remembers between reconciles, so that one whose inputs are unchanged runs
 * no fetch, extraction, decryption or kustomize: only a drift check (`stages/apply/drift-check.ts`).
 *
 * The inputs are everything a build reads: the artifact digest, the Kustomization's generation (every spec
 * field), the decryption Secret's and every `substituteFrom` object's uid and resourceVersion, and the kubeconfig
 * Secret's for a remote cluster (a changed kubeconfig re-applies everything there). The record holds
 * what the status needs to say again (revision, build digest, counts, inventory) and one signature per applied
 * object — digests only, never a value: no plaintext outlives the reconcile that decrypted it, as in Flux.
 *
 * A record exists only after a reconcile that fully succeeded; any failure drops it, so the next reconcile takes
 * the full path. Records live as long as the process (a restart starts with full reconciles) and are dropped
 * with their Kustomization.
 *
 * @module
 */
import { createHash } from "node:crypto"
import { Effect, Option } from "effect"
import type { Kustomization } from "../../../model/kustomization.ts"
import type { ObjectKey } from "../kube/resource.ts"
import type { AppliedSignature } from "../stages/apply/drift-check.ts"
import { ConfigLookup } from "../stages/build/config-lookup.ts"
import type { Inventory } from "../stages/cluster/inventory.ts"

export interface AppliedRecord {
  /** The Kustomization's uid: a re-created object with the same name starts afresh. */
  readonly uid: string
  /** {@link buildInputs} of the reconcile that applied. */
  readonly inputs: string
  readonly revision: string
  readonly digest: string
  readonly objects: number
  readonly decrypted: number
  readonly inventory: Inventory
  readonly signatures: ReadonlyArray<AppliedSignature>
}

/** The records of one controller, keyed by Kustomization. */
export const makeAppliedRecords = () => new Map<ObjectKey, AppliedRecord>()

const version = (o: Option.Option<{ readonly uid?: string; readonly resourceVersion?: string }>) =>
  Option.match(o, { onNone: () => "absent", onSome: (v) => `${v.uid ?? ""}@${v.resourceVersion ?? ""}` })

/**
 * The fingerprint of a build's inputs: one GET for the decryption Secret and one per `substituteFrom` object
 * (the same reads a build does; unlabelled Secrets are not watched, so their versions are read here).
 */
export const buildInputs = Effect.fn("buildInputs")(function* (
  ks: Kustomization,
  digest: string,
  /** The remote cluster's kubeconfig Secret version (`remote-cluster.ts`); none for the controller's cluster. */
  cluster?: string,
) {
  const lookup = yield* ConfigLookup
  const namespace = ks.metadata.namespace ?? ""
  const parts: Array<string> = [`digest=${digest}`, `generation=${ks.metadata.generation ?? 0}`]
  if (cluster !== undefined) parts.push(`kubeconfig=${cluster}`)
  const secretRef = ks.spec.decryption?.secretRef?.name
  if (secretRef !== undefined) parts.push(`decryption=${version(yield* lookup.secret(namespace, secretRef))}`)
  for (const ref of ks.spec.postBuild?.substituteFrom ?? []) {
    const found =
      ref.kind === "Secret"
        ? yield* lookup.secret(namespace, ref.name)
        : yield* lookup.configMap(namespace, ref.name)
    parts.push(`${ref.kind}/${ref.name}=${version(found)}`)
  }
  return createHash("sha256").update(parts.join("\n")).digest("hex")
})
