/**
 * The Tiltfile, checked without Tilt where Tilt cannot be had: the manifests it loads declare each object once
 * (Tilt refuses duplicates; the first Tiltfile applied the CRDs twice), the build context it sends holds every
 * path the Dockerfile copies, and no live update syncs into the image (which runs bundled JavaScript on a
 * read-only root filesystem). With a `tilt` binary on PATH (it is not served by the Go module proxy, so not here),
 * `tilt alpha tiltfile-result` must load it without errors.
 */
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { parseAllDocuments } from "yaml"
import { repoRoot } from "../e2e/support/tools.ts"

const tiltfile = readFileSync(join(repoRoot, "Tiltfile"), "utf8")

/** The string arguments of every call of `fn` in the Tiltfile (a string or a list of strings). */
const stringArgs = (fn: string): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (const m of tiltfile.matchAll(new RegExp(`^${fn}\\(\\s*(\\[[^\\]]*\\]|"[^"]*")`, "gmu")))
    for (const s of m[1]!.matchAll(/"([^"]*)"/gu)) out.push(s[1]!)
  return out
}

const onPath = (name: string): boolean =>
  (process.env.PATH ?? "").split(":").some((d) => d !== "" && existsSync(join(d, name)))

describe("Tiltfile", () => {
  it("loads each Kubernetes object once", () => {
    const files = stringArgs("k8s_yaml")
    expect(files).toEqual(["dist/install.yaml"])
    const ids = files.flatMap((f) =>
      parseAllDocuments(readFileSync(join(repoRoot, f), "utf8"))
        .map(
          (d) =>
            d.toJSON() as {
              apiVersion: string
              kind: string
              metadata: { name: string; namespace?: string }
            },
        )
        .filter((o) => o !== null)
        .map(
          (o) => `${o.apiVersion.split("/")[0]} ${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`,
        ),
    )
    expect(ids.length).toBeGreaterThan(10)
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([])
  })

  it("sends the image build every path the Dockerfile copies, and syncs nothing into the image", () => {
    const only = /only=\[([^\]]*)\]/u.exec(tiltfile)?.[1]
    expect(only).toBeDefined()
    const sent = [...only!.matchAll(/"([^"]*)"/gu)].map((m) => m[1]!)
    const dockerfile = readFileSync(join(repoRoot, "Dockerfile"), "utf8")
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gmu)].flatMap((m) =>
      m[1]!.split(/\s+/u),
    )
    expect(copied.length).toBeGreaterThan(3)
    for (const path of copied) {
      expect(sent.some((s) => path === s || path.startsWith(`${s}/`))).toBe(true)
      expect(existsSync(join(repoRoot, path))).toBe(true)
    }
    expect(tiltfile).not.toMatch(/live_update|sync\(/u)
  })

  it.skipIf(!onPath("tilt"))("loads with the real tilt", () => {
    execFileSync("tilt", ["alpha", "tiltfile-result", "--file", join(repoRoot, "Tiltfile")], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 120_000,
    })
  })
})
