/**
 * Two Kustomizations on one artifact, each decrypting with its own age key in its own directory, never see
 * each other's decrypted files. `a` lists `../b/secret.yaml` among its resources (allowed: it is inside the
 * artifact) but holds only its own key, so its build fails naming that file; `b` builds. While both build,
 * again and again, `b`'s plaintext never appears in a tree that holds `a` (the shared extracted artifact or
 * `a`'s build view) anywhere under the operator's temp directory, and between reconciles nowhere at all.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { appliedRevision, conditionOf } from "./cluster-view.ts"
import { type App, appSpec, fleet } from "./fleet.ts"
import { holds, scanForPlaintext } from "./plaintext-scan.ts"

const bPlaintext = "b-only-plaintext-7f3c"

describe("two Kustomizations sharing an artifact", () => {
  it.live(
    "never see each other's decrypted files: a fails naming b's file, b builds, b's plaintext stays in b's view",
    () =>
      Effect.gen(function* () {
        const f = yield* fleet("fleet-isolation")
        const keyA = yield* f.ageKey("a")
        const keyB = yield* f.ageKey("b")
        yield* f.decryptionSecret("a-sops-age", keyA)
        yield* f.decryptionSecret("b-sops-age", keyB)
        const a: App = {
          path: "a",
          name: "a",
          secret: { password: "a-plaintext" },
          config: { tenant: "a" },
          recipients: [keyA],
          extraResources: ["../b/secret.yaml"],
        }
        const b: App = {
          path: "b",
          name: "b",
          secret: { password: bPlaintext },
          config: { tenant: "b" },
          recipients: [keyB],
        }
        const repo = yield* f.repository("shared", {
          ...(yield* f.appFiles(a)),
          ...(yield* f.appFiles(b)),
        })

        // The Secret manifest carries base64 data: its decrypted file holds that, the API the plain value.
        const needles = [bPlaintext, Buffer.from(bPlaintext).toString("base64")]
        const scan = yield* scanForPlaintext(f.operator.tmpdir, needles, holds(a.path))

        yield* f.kustomization("a", appSpec(a, repo, "a-sops-age"))
        yield* f.kustomization("b", appSpec(b, repo, "b-sops-age"))

        const failedAt = (revision: string) =>
          f.view.waitFor(
            "kustomization",
            "a",
            `Ready=False at ${revision}`,
            (o) =>
              conditionOf(o, "Ready")?.status === "False" && o.status?.lastAttemptedRevision === revision,
          )
        yield* f.view.waitFor("kustomization", "b", "Ready", appliedRevision(repo.revision))
        const failed = yield* failedAt(repo.revision)
        const ready = conditionOf(failed, "Ready")
        expect(ready?.reason).toBe("BuildFailed")
        expect(ready?.message).toContain("b/secret.yaml")
        for (const n of needles) expect(ready?.message).not.toContain(n)
        expect(failed.status?.lastAppliedRevision).toBeUndefined()
        const secret = yield* f.apps.get("secret", "b-secret")
        expect(Buffer.from(secret?.data?.password ?? "", "base64").toString()).toBe(bPlaintext)
        expect(yield* f.apps.get("secret", "a-secret")).toBeUndefined()

        // More builds of both at once: every commit changes the digest both build from.
        for (const n of [1, 2, 3]) {
          const revision = yield* repo.push({ [`docs/${n}.md`]: `change ${n}\n` })
          yield* f.view.waitFor("kustomization", "b", `Ready at ${revision}`, appliedRevision(revision))
          yield* failedAt(revision)
        }

        const { findings, scans } = yield* scan.stop
        expect(scans).toBeGreaterThan(0)
        expect(findings.filter((x) => x.foreign)).toEqual([])
        // Seen in b's own view while it built, if a scan happened to run then (not guaranteed: it is brief).
        console.log(
          `plaintext scan: ${scans} scans, b's plaintext seen in ${findings.length} files of b's views`,
        )

        // Between reconciles no decrypted file is left anywhere.
        yield* f.operator.requests.settled
        expect(yield* scan.now).toEqual([])
        const events = yield* f.view.events
        for (const e of events) for (const n of needles) expect(e.note ?? "").not.toContain(n)
      }).pipe(Effect.scoped),
    300_000,
  )
})
