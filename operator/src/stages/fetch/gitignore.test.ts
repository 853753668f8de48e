// Differential test of the gitignore matcher against the real git (`git check-ignore --no-index`), plus the
// pathological inputs a hostile repository can write.
import { execFileSync, spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { defaultLimits } from "../../limits.ts"
import { LimitExceededError } from "./errors.ts"
import { gitBinary } from "./git-process.ts"
import { SourceIgnore } from "./source-ignore.ts"

/** The tree every case is checked on: directories end with `/`. */
const tree = [
  "README.md",
  "a.txt",
  "b.TXT",
  "c.txt",
  "x y.txt",
  "trail",
  "#hash",
  "!bang",
  "[br].txt",
  "star*.txt",
  "q?.md",
  "back\\slash",
  "]x",
  "-dash",
  " lead.txt",
  "doc/",
  "doc/readme.md",
  "doc/a.txt",
  "doc/sub/",
  "doc/sub/a.txt",
  "doc/sub/deep/",
  "doc/sub/deep/z.log",
  "build/",
  "build/out.o",
  "build/keep.txt",
  "src/",
  "src/main.c",
  "src/build/",
  "src/build/x.c",
  "src/lib/",
  "src/lib/util.c",
  "logs/",
  "logs/a.log",
  "logs/debug/",
  "logs/debug/b.log",
  "a/",
  "a/b/",
  "a/b/c/",
  "a/b/c/d/",
  "a/b/c/d/e.txt",
  "a/x/",
  "a/x/b/",
  "a/x/b/f.txt",
  "foo/",
  "foo/bar/",
  "foo/bar/baz.txt",
  "foo/baz",
  "fao",
  "file.log",
  "dir.log/",
  "dir.log/inner",
  "aXb",
  "a-b/",
  "a-b/c",
]

/** Pattern files (one string: exact content) checked at the root, or in `base` when given. */
const cases: ReadonlyArray<{ readonly content: string; readonly base?: string }> = [
  ..."*.txt|*.txt\n!a.txt|doc/|/a.txt|doc/*.md|doc/**|doc/**\n!doc/sub/|**/a.txt|**/sub|a/**/e.txt|a/**/b/**"
    .split("|")
    .map((content) => ({ content })),
  ..."**/b/*.txt|**|a/**|**/|***/a.txt|a**b|doc**|**.txt|a/**/**/**/e.txt|**/**|/**/deep|a/**b/f.txt|a\\/**\\/e.txt"
    .split("|")
    .map((content) => ({ content })),
  ...[
    "build/\n!build/keep.txt",
    "build/*\n!build/keep.txt",
    "[ab].txt",
    "[!a].txt",
    "[^a].txt",
    "[a-c].txt",
    "[c-a].txt",
    "[[:alpha:]].txt",
    "[[:digit:][:upper:]]*",
    "[]]*",
    "[!]]*",
    "[[:punct:]]*",
    "[a-]*",
    "[-a]*",
    "[!-/]*",
    "a[!a-z]b",
    "a[/]b",
    "[[:foo:]]*",
    "[abc",
    "[[:alpha:]",
    "[[:a]*",
    "\\[br].txt",
    "[\\]]*",
    "[a\\-z]*",
    "[[]br].txt",
    "\\#hash",
    "#hash",
    "\\!bang",
    "!bang",
    "star\\*.txt",
    "q\\?.md",
    "back\\\\slash",
    "back\\slash",
    "trailing\\",
    "trail   ",
    "trail\\ ",
    "x y.txt",
    "x\\ y.txt",
    "a.txt \\ ",
    "a.txt\\\\ ",
    " lead.txt",
    "*.log\n!logs/",
    "logs/\n!logs/a.log",
    "*.log\n!*/",
    "dir.log",
    "*.log/",
    "foo",
    "foo/",
    "foo/baz",
    "/foo",
    "f?o",
    "*/baz",
    "foo/*/",
    "src/**/x.c",
    "src/*/x.c",
    "src/**/",
    "/src/lib/",
    "lib",
    "!src/main.c\nsrc/",
    "README.md/",
    "doc/sub/deep/",
    "deep/z.log",
    "a/b/",
    "b/",
    "*/",
    "*",
    "!*",
    "*\n!*/\n!*.txt",
    "*.md\r\n*.log\r\n",
    "\uFEFF*.md",
    "\n\n   \n# comment\n*.o",
    "/",
    "!",
    "**/*.txt\n!**/c/**",
    "doc/sub\n!doc/sub/a.txt",
    "a/b/c/d/e.txt/",
    "?",
    "??*",
    "*.[tT][xX][tT]",
  ].map((content) => ({ content })),
  { base: "doc", content: "*.md\n/a.txt\nsub/" },
  { base: "doc", content: "**/a.txt\n!sub/a.txt" },
  { base: "doc/sub", content: "deep\n/a.txt" },
  { base: "a", content: "b/**/e.txt\n/x/" },
]

let repo = ""

beforeAll(() => {
  repo = mkdtempSync(join(tmpdir(), "kustodian-gitignore-"))
  execFileSync(gitBinary(), ["init", "-q", repo])
  for (const p of tree) {
    if (p.endsWith("/")) mkdirSync(join(repo, p), { recursive: true })
    else {
      mkdirSync(dirname(join(repo, p)), { recursive: true })
      writeFileSync(join(repo, p), "x")
    }
  }
})

afterAll(() => rmSync(repo, { recursive: true, force: true }))

const paths = tree.map((p) => (p.endsWith("/") ? p.slice(0, -1) : p))

/** git's verdict for every path of the tree. */
const gitIgnored = (ignoreFile: string, content: string): Set<string> => {
  writeFileSync(join(repo, ignoreFile), content)
  try {
    const run = spawnSync(gitBinary(), ["check-ignore", "--no-index", "-v", "-n", "-z", "--stdin"], {
      cwd: repo,
      input: paths.map((p) => `${p}\0`).join(""),
      env: {
        PATH: process.env.PATH ?? "",
        HOME: repo,
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
      },
    })
    // Exit 1 means "nothing ignored"; anything else is a broken run.
    if (run.status !== 0 && run.status !== 1) throw new Error(`git check-ignore failed: ${run.stderr}`)
    const out = run.stdout.toString("utf8")
    const f = out.split("\0")
    const ignored = new Set<string>()
    for (let i = 0; i + 3 < f.length; i += 4) {
      const [source, , pattern, path] = f.slice(i, i + 4) as [string, string, string, string]
      if (source !== "" && !pattern.startsWith("!")) ignored.add(path)
    }
    return ignored
  } finally {
    rmSync(join(repo, ignoreFile))
  }
}

/** Ours, as the artifact walker applies it: a path inside an ignored directory is never reached. */
const oursIgnored = (rules: SourceIgnore): Set<string> => {
  const ignored = new Set<string>()
  for (const entry of tree) {
    const segs = (entry.endsWith("/") ? entry.slice(0, -1) : entry).split("/")
    let out = false
    for (let i = 1; i < segs.length && !out; i++) out = rules.ignores(`${segs.slice(0, i).join("/")}/`)
    if (!out) out = rules.ignores(entry)
    if (out) ignored.add(entry.endsWith("/") ? entry.slice(0, -1) : entry)
  }
  return ignored
}

describe("gitignore semantics", () => {
  it("agrees with git check-ignore on every pattern of the corpus", () => {
    const disagreements: string[] = []
    for (const { content, base } of cases) {
      const file = base === undefined ? ".gitignore" : `${base}/.gitignore`
      const expected = gitIgnored(file, content)
      const rules = SourceIgnore.forSpec("").withFile(base ?? "", content)
      const actual = oursIgnored(rules)
      const only = (a: Set<string>, b: Set<string>) => [...a].filter((x) => !b.has(x))
      const missing = only(expected, actual)
      const extra = only(actual, expected)
      if (missing.length > 0 || extra.length > 0)
        disagreements.push(
          `${JSON.stringify(content)} in '${base ?? ""}': git only ${missing} / ours only ${extra}`,
        )
    }
    expect(disagreements).toEqual([])
    // The corpus must exercise both verdicts, or agreement proves nothing.
    expect(gitIgnored(".gitignore", "*.txt").size).toBeGreaterThan(3)
  })

  it("applies spec.ignore after .sourceignore files, so it can re-include", () => {
    const rules = SourceIgnore.forSpec("!deploy/keep.yaml\n").withFile("deploy", "*.yaml\n")
    expect(rules.ignores("deploy/keep.yaml")).toBe(false)
    expect(rules.ignores("deploy/other.yaml")).toBe(true)
    expect(SourceIgnore.forSpec(undefined).ignores(".github/")).toBe(true)
    expect(SourceIgnore.forSpec(undefined).ignores("x/.sops.yaml")).toBe(true)
    expect(SourceIgnore.forSpec("").ignores(".git/")).toBe(true)
  })
})

describe("hostile ignore patterns", () => {
  it("matches 14 `**/` segments against a 30-deep directory", () => {
    const deep = `${Array.from({ length: 30 }, (_, i) => `d${i}`).join("/")}`
    const pattern = `${"**/".repeat(14)}*.yaml\n${"**/".repeat(14)}nomatch/x`
    const rules = SourceIgnore.forSpec(pattern)
    expect(rules.ignores(`${deep}/app.yaml`)).toBe(true)
    expect(rules.ignores(`${deep}/app.json`)).toBe(false)
    expect(rules.ignores(`${deep}/`)).toBe(false)
    const stars = SourceIgnore.forSpec(`${"*".repeat(4000)}a`)
    expect(stars.ignores(`${"b".repeat(3000)}`)).toBe(false)
    expect(stars.ignores(`${"b".repeat(3000)}a`)).toBe(true)
  })

  it("handles thousands of patterns, and refuses them past the default cap", () => {
    const patterns = Array.from({ length: 4000 }, (_, i) => `**/d${i}/**/*.p${i}`).join("\n")
    const limits = { ...defaultLimits, maxIgnorePatterns: 5000 }
    const rules = SourceIgnore.forSpec(undefined, { limits }).withFile("sub", patterns)
    expect(rules.ignores("sub/x/d3999/y/z/f.p3999")).toBe(true)
    expect(rules.ignores("sub/x/d3999/y/z/f.p3998")).toBe(false)
    expect(rules.ignores("d3999/y/f.p3999")).toBe(false)
    expect(() => SourceIgnore.forSpec(undefined).withFile("sub", patterns)).toThrow(
      "sub/.sourceignore: too many ignore patterns (limit 1000, raise it with --max-ignore-patterns)",
    )
  })

  it("refuses too many patterns, naming the file and the limit", () => {
    const limits = { ...defaultLimits, maxIgnorePatterns: 100 }
    const fifty = Array.from({ length: 50 }, (_, i) => `p${i}`).join("\n")
    const base = SourceIgnore.forSpec(undefined, { limits, subject: "GitRepository 'ns/repo'" })
    const once = base.withFile("a", fifty).withFile("a/b", fifty)
    expect(once.ignores("a/p1")).toBe(true)
    // The cap counts every file of the checkout, not one path's chain.
    let error: unknown
    try {
      base.withFile("c", fifty)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(LimitExceededError)
    expect((error as LimitExceededError).limit).toBe("maxIgnorePatterns")
    expect((error as LimitExceededError).message).toBe(
      "GitRepository 'ns/repo': c/.sourceignore: too many ignore patterns (limit 100, raise it with --max-ignore-patterns)",
    )
    const exit = Effect.runSyncExit(SourceIgnore.make(`${fifty}\n${fifty}\nx`, { limits }))
    expect(Exit.isFailure(exit)).toBe(true)
    expect(String(exit)).toContain("spec.ignore: too many ignore patterns")
  })

  it("refuses a too long pattern, naming the file and line but not the pattern", () => {
    const secretish = `x${"y".repeat(5000)}`
    let error: unknown
    try {
      SourceIgnore.forSpec(undefined).withFile("", `ok\n# comment ${"z".repeat(9000)}\n${secretish}\n`)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(LimitExceededError)
    expect((error as LimitExceededError).message).toBe(
      ".sourceignore line 3: ignore pattern too long (limit 4 KiB, raise it with --max-ignore-pattern-length)",
    )
  })
})
