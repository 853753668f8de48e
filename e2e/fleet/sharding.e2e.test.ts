/**
 * Flux's sharding: two operator processes, leader election on, `--watch-label-selector` on
 * `sharding.fluxcd.io/key=shard1` and `=shard2`, split the GitRepositories and Kustomizations of one namespace by
 * that label. Each reconciles only its own — told apart by who builds (its kustomize runs), who writes status
 * (kube-apiserver's count of each ServiceAccount's requests), who reports (the Events' reportingInstance) —
 * each holds a Lease of its own, and objects of no shard are left alone.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { requestsBetween } from "./apiserver-requests.ts"
import { appliedRevision } from "./cluster-view.ts"
import { type App, appSpec, fleetWorld, startOperator } from "./fleet.ts"

const shardLabel = "sharding.fluxcd.io/key"

interface Lease {
  readonly metadata: { readonly name: string }
  readonly spec: { readonly holderIdentity?: string }
}

describe("sharding", () => {
  it.live(
    "two shards split GitRepositories and Kustomizations by label, each with its own Lease",
    () =>
      Effect.gen(function* () {
        const f = yield* fleetWorld("fleet-shards")
        const shards = ["shard1", "shard2"] as const
        const operators = yield* Effect.forEach(shards, (shard) =>
          startOperator(f, {
            name: shard,
            flags: ["--enable-leader-election", `--watch-label-selector=${shardLabel}=${shard}`],
            env: { POD_NAME: `kustodian-${shard}` },
          }),
        )
        const before = yield* Effect.forEach(operators, (o) => o.requests.read)

        const key = yield* f.ageKey("shards")
        yield* f.decryptionSecret("sops-age", key)
        // One repository and one Kustomization per shard, and a pair that belongs to no shard.
        const groups = ["shard1", "shard2", "none"] as const
        const apps = Object.fromEntries(
          groups.map((g): [string, App] => [
            g,
            {
              path: `apps/${g}`,
              name: `app-${g}`,
              secret: { password: `${g}-password` },
              config: { shard: g },
              recipients: [key],
            },
          ]),
        )
        for (const g of groups) {
          const app = apps[g] as App
          const labels: Record<string, string> = g === "none" ? {} : { [shardLabel]: g }
          const repo = yield* f.repository(`repo-${g}`, yield* f.appFiles(app), labels)
          yield* f.kustomization(`ks-${g}`, appSpec(app, repo, "sops-age"), labels)
          if (g !== "none")
            yield* f.view.waitFor("kustomization", `ks-${g}`, "Ready", appliedRevision(repo.revision))
        }
        const counts = yield* Effect.forEach(operators, (o, i) =>
          o.requests.settled.pipe(Effect.map((after) => requestsBetween(before[i]!, after))),
        )

        // Neither shard touched the objects of no shard: their status is the CRDs' default.
        for (const name of ["gitrepository/repo-none", "kustomization/ks-none"]) {
          const [kind, n] = name.split("/") as [string, string]
          expect((yield* f.view.get(kind, n))?.status).toEqual({ observedGeneration: -1 })
        }
        expect(yield* f.apps.get("configmap", "app-none-config")).toBeUndefined()

        for (const [i, shard] of shards.entries()) {
          const mine = operators[i]!
          const theirs = shards[1 - i]!
          // It built its own Kustomization and not the other shard's.
          expect(yield* mine.spawns.builds(`apps/${shard}`)).toBeGreaterThan(0)
          expect(yield* mine.spawns.builds(`apps/${theirs}`)).toBe(0)
          expect(yield* mine.spawns.builds("apps/none")).toBe(0)
          // It wrote status (its own objects', which no one else reconciles).
          expect(counts[i]?.["gitrepository-status"]).toBeGreaterThan(0)
          expect(counts[i]?.["kustomization-status"]).toBeGreaterThan(0)
        }

        // Every Event about a shard's objects was reported by that shard's process.
        const events = yield* f.view.events
        for (const g of groups) {
          const about = events.filter((e) => [`repo-${g}`, `ks-${g}`].includes(e.regarding.name))
          if (g === "none") expect(about).toEqual([])
          else {
            expect(about.length).toBeGreaterThan(0)
            expect(new Set(about.map((e) => e.reportingInstance))).toEqual(new Set([`kustodian-${g}`]))
          }
        }

        // A Lease per shard, each held by its process, which says so in its log.
        const leases = JSON.parse(yield* f.view.kube("get", "leases", "-o", "json")) as {
          items: ReadonlyArray<Lease>
        }
        const held = (shard: string) =>
          leases.items
            .filter((l) => l.spec.holderIdentity === `kustodian-${shard}`)
            .map((l) => l.metadata.name)
        const [lease1, lease2] = [held("shard1"), held("shard2")]
        expect(lease1).toHaveLength(1)
        expect(lease2).toHaveLength(1)
        expect(lease1[0]).toMatch(/^kustodian-leader-[0-9a-f]{10}$/)
        expect(lease2[0]).toMatch(/^kustodian-leader-[0-9a-f]{10}$/)
        expect(lease1[0]).not.toBe(lease2[0])
        for (const [i, lease] of [lease1[0], lease2[0]].entries()) {
          const log = readFileSync(operators[i]!.process.logFile, "utf8")
          expect(log).toContain("became leader")
          expect(log).toContain(`${f.ns}/${lease}`)
        }
      }).pipe(Effect.scoped),
    300_000,
  )
})
