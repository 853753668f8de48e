/**
 * `kustodian history`: usage (exit 2, one line, no stack trace) and the table of a journal. The commands against a
 * cluster are exercised by the seed e2e (`e2e/seed.e2e.test.ts`).
 */
import { describe, expect, it } from "@effect/vitest"
import type { Recorded } from "../../../model/events.ts"
import { appendReconcile, emptyJournal, historyLines } from "../../../model/journal.ts"
import { historyTable } from "./history.ts"
import { runKustodian } from "./testing/kustodian-process.ts"

const env = { PATH: process.env.PATH, HOME: process.env.HOME }

describe("kustodian history", () => {
  it("prints its usage with --help and through kustodian help history", () => {
    for (const args of [
      ["history", "--help"],
      ["help", "history"],
    ]) {
      const r = runKustodian(args, { env })
      expect(r.code).toBe(0)
      expect(r.stdout).toContain("kustodian history kustomization|ks NAME")
      expect(r.stdout).toContain("--object KIND/NAMESPACE/NAME")
    }
  })

  it.each([
    [[], "history needs KIND NAME or --object"],
    [["kustomization"], "history kustomization needs a NAME"],
    [["helmrelease", "x"], 'unknown kind "helmrelease"'],
    [["ks", "x", "-o", "wide"], "--output must be table, json or yaml"],
    [["ks", "x", "--since", "yesterday"], '--since "yesterday" is not a duration'],
    [["ks", "x", "--bogus"], "unknown flag --bogus"],
    [["--object", "Secret"], "expected KIND/NAMESPACE/NAME or KIND/NAME"],
    [["--object", "Secret/ns/x", "-n", "ns"], "--object names its namespace"],
  ])("refuses %j with exit 2, one line and a hint", (args, message) => {
    const r = runKustodian(["history", ...args], { env })
    expect(r.code).toBe(2)
    const [line, hint, end] = r.stderr.split("\n")
    expect([hint, end]).toEqual(["see: kustodian history --help", ""])
    expect(line).toMatch(/^kustodian history[: ]/u)
    expect(r.stderr).toContain(message)
    expect(r.stderr).not.toContain("    at ")
  })

  it("lays out one line per record: time, count, revision, change counts, outcome with the failure", () => {
    const started = (at: string): Recorded => ({ at, event: { _tag: "ReconcileStarted", generation: 1 } })
    const rev = "master@sha1:4ca22e8e0123456789abcdef0123456789abcdef"
    let state = emptyJournal()
    let status = {}
    for (const entries of [
      [
        started("2026-12-07T10:00:00Z"),
        { at: "2026-12-07T10:00:00Z", event: { _tag: "ArtifactFetched", revision: rev } },
        {
          at: "2026-12-07T10:00:01Z",
          event: {
            _tag: "Applied",
            changes: [
              { subject: "Secret/default/basic-auth", action: "created" },
              { subject: "ConfigMap/default/c", action: "configured" },
            ],
          },
        },
        { at: "2026-12-07T10:00:01Z", event: { _tag: "Succeeded", message: `Applied revision: ${rev}` } },
      ],
      [
        started("2026-12-07T10:10:00Z"),
        {
          at: "2026-12-07T10:10:01Z",
          event: {
            _tag: "StageFailed",
            stage: "build",
            reason: "BuildFailed",
            message: "decryption failed for 'basic-auth.yaml'",
            terminal: false,
          },
        },
      ],
    ] as ReadonlyArray<ReadonlyArray<Recorded>>) {
      ;({ state, status } = appendReconcile(state, status, entries))
    }
    expect(historyTable(historyLines(state))).toBe(
      [
        "TIME                   COUNT   REVISION               CREATED   CONFIGURED   DELETED   STATUS",
        "2026-12-07T10:00:00Z   1       master@sha1:4ca22e8e   1         1            0         Succeeded",
        "2026-12-07T10:10:00Z   1       -                      0         0            0         BuildFailed in build: decryption failed for 'basic-auth.yaml'",
        "",
      ].join("\n"),
    )
  })
})
