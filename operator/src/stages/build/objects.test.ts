/**
 * The object cap and the off-thread parser: documents are counted before anything is parsed, a kustomize
 * diamond is refused from its graph before kustomize runs (20 levels) and from its output (8 levels, real
 * kustomize), and the worker's result equals the inline parse, including when a parse is interrupted.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { hasTool, toolPath } from "../../../../e2e/support/tools.ts"
import { defaultLimits } from "../../limits.ts"
import { walkKustomizations } from "./kustomization-graph.ts"
import { estimateObjects, refuseObjectExplosion } from "./object-estimate.ts"
import { countDocuments, parseObjects, TooManyObjects } from "./objects.ts"
import { inlineParseLimit, parseObjectsOffThread } from "./parse-pool.ts"

const configMap = (i: number, data = "v") =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${i}\n  namespace: default\ndata:\n  k: ${data}\n`

const stream = (n: number) => Array.from({ length: n }, (_, i) => configMap(i)).join("---\n")

const tempDir = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "kustodian-objects-test-"))),
  (d) => Effect.promise(() => fs.rm(d, { recursive: true, force: true })),
)

/** `levels` of a diamond: each level lists its two halves, each half (own name prefix) the level below. */
const writeDiamond = async (root: string, levels: number) => {
  const write = async (rel: string, text: string) => {
    await fs.mkdir(path.join(root, path.dirname(rel)), { recursive: true })
    await fs.writeFile(path.join(root, rel), text)
  }
  await write("l0/cm.yaml", configMap(0))
  await write("l0/kustomization.yaml", "resources: [cm.yaml]\n")
  for (let k = 1; k <= levels; k++) {
    await write(`l${k}/kustomization.yaml`, "resources: [a, b]\n")
    for (const half of ["a", "b"])
      await write(`l${k}/${half}/kustomization.yaml`, `namePrefix: ${half}-\nresources: [../../l${k - 1}]\n`)
  }
  return path.join(root, `l${levels}`)
}

describe("counting documents before parsing", () => {
  it("counts markers at line starts only", () => {
    expect(countDocuments("a: 1\n")).toBe(1)
    expect(countDocuments(stream(5))).toBe(5)
    expect(countDocuments("---\na: 1\n---\nb: 2\n--- \n")).toBe(4)
    // Content, not markers: `----`, `---x`, indented block scalar lines.
    expect(countDocuments("a: |\n  ---\n  x\nb: ----\n---x: 1\n")).toBe(1)
  })

  it("refuses more documents than the cap before parsing any of them", () => {
    // The last document is invalid YAML: the cap's refusal comes first, so nothing was parsed.
    const text = `${stream(5)}---\n{{{ not yaml\n`
    expect(() => parseObjects(text, { maxObjects: 3 })).toThrow(TooManyObjects)
    expect(() => parseObjects(text, { maxObjects: 3 })).toThrow(
      /more than 3 objects \(raise it with --max-build-objects/,
    )
    expect(() => parseObjects(text)).toThrow(/invalid YAML/)
    expect(parseObjects(stream(5), { maxObjects: 5 })).toHaveLength(5)
  })
})

describe("kustomize diamonds", () => {
  it.live("a 20-level diamond is refused from its graph, naming the base it multiplies", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      const top = yield* Effect.promise(() => writeDiamond(root, 20))
      const nodes = yield* walkKustomizations(root, top)
      const estimate = yield* estimateObjects(root, nodes)
      expect(estimate.objects).toBe(2 ** 20)
      const refused = yield* Effect.flip(refuseObjectExplosion(root, nodes, defaultLimits.maxBuildObjects))
      expect(refused._tag).toBe("BuildFailed")
      expect(refused.terminal).toBe(true)
      expect(refused.file).toBe("l20/kustomization.yaml")
      expect(refused.message).toBe(
        "the build would produce 1048576 objects, more than the limit of 20000 (raise it with " +
          "--max-build-objects); 'l0' is included 1048576 times through the resources of the kustomizations above it",
      )
    }).pipe(Effect.scoped),
  )

  it.live.skipIf(!hasTool("kustomize"))(
    "an 8-level diamond builds 256 objects with real kustomize; the output cap refuses it below that",
    () =>
      Effect.gen(function* () {
        const root = yield* tempDir
        const top = yield* Effect.promise(() => writeDiamond(root, 8))
        const nodes = yield* walkKustomizations(root, top)
        expect((yield* estimateObjects(root, nodes)).objects).toBe(256)
        const out = yield* Effect.promise(() =>
          promisify(execFile)(toolPath("kustomize"), ["build", top], { maxBuffer: 64 * 1024 * 1024 }),
        )
        expect(yield* parseObjectsOffThread(out.stdout, { maxObjects: 256 })).toHaveLength(256)
        const refused = yield* Effect.flip(parseObjectsOffThread(out.stdout, { maxObjects: 100 }))
        expect(refused.terminal).toBe(true)
        expect(refused.message).toMatch(/more than 100 objects/)
      }).pipe(Effect.scoped),
  )
})

describe("parsing off the event loop", () => {
  it.live("gives what the inline parse gives, and typed errors without content", () =>
    Effect.gen(function* () {
      const text = stream(2000)
      expect(text.length).toBeGreaterThan(inlineParseLimit)
      expect(yield* parseObjectsOffThread(text)).toEqual(parseObjects(text))
      const big = configMap(1, "x".repeat(2 * 1024 * 1024))
      expect((yield* parseObjectsOffThread(big))[0]?.data).toEqual({ k: "x".repeat(2 * 1024 * 1024) })
      const secret = "hunter2-very-secret"
      const broken = yield* Effect.flip(parseObjectsOffThread(`${stream(2000)}---\nkey: [${secret}\n`))
      expect(broken.message).toMatch(/^failed to parse kustomize output: invalid YAML/)
      expect(broken.message).not.toContain(secret)
    }),
  )

  it.live("an interrupted parse stops its worker, and the pool goes on", () =>
    Effect.gen(function* () {
      const huge = stream(60_000)
      const timedOut = yield* parseObjectsOffThread(huge).pipe(Effect.timeout("1 millis"), Effect.flip)
      expect(timedOut._tag).toBe("TimeoutError")
      const text = stream(1000)
      expect(yield* parseObjectsOffThread(text)).toHaveLength(1000)
    }),
  )
})
