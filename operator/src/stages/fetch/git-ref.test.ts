import { describe, expect, it } from "@effect/vitest"
import { InvalidSpecError } from "./errors.ts"
import { commitOfRevision, parseLsRemote, resolveRef, revisionOf, selectRef, tagVersion } from "./git-ref.ts"

const sha = (c: string) => c.repeat(40)

describe("selectRef", () => {
  it("applies Flux's precedence commit > name > semver > tag > branch", () => {
    const all = { branch: "dev", tag: "v1", semver: ">=1", name: "refs/heads/x", commit: sha("a") }
    expect(selectRef(all)).toMatchObject({ kind: "commit", commit: sha("a"), branch: "dev" })
    expect(selectRef({ ...all, commit: undefined })).toMatchObject({ kind: "name", name: "refs/heads/x" })
    expect(selectRef({ ...all, commit: undefined, name: undefined })).toMatchObject({ kind: "semver" })
    expect(selectRef({ branch: "dev", tag: "v1" })).toMatchObject({ kind: "tag", tag: "v1" })
    expect(selectRef({ branch: "dev" })).toMatchObject({ kind: "branch", branch: "dev" })
  })

  it("defaults to branch master", () => {
    expect(selectRef(undefined)).toEqual({ kind: "branch", branch: "master" })
    expect(selectRef({ branch: "" })).toEqual({ kind: "branch", branch: "master" })
  })

  it("names the field of an invalid ref", () => {
    const bad = [
      [{ commit: "abc" }, "spec.ref.commit"],
      [{ name: "main" }, "spec.ref.name"],
      [{ semver: "not a range!!" }, "spec.ref.semver"],
    ] as const
    for (const [ref, field] of bad) {
      const r = selectRef(ref)
      expect(r).toBeInstanceOf(InvalidSpecError)
      expect((r as InvalidSpecError).field).toBe(field)
      expect((r as InvalidSpecError).message).toContain(field)
    }
  })

  it("accepts Masterminds-style comma ranges", () => {
    expect(selectRef({ semver: ">= 1.0, < 2.0" })).toEqual({ kind: "semver", range: ">= 1.0 < 2.0" })
  })
})

describe("resolveRef", () => {
  const refs = parseLsRemote(
    [
      `${sha("1")}\trefs/heads/main`,
      `${sha("2")}\trefs/tags/v1.0.0`,
      `${sha("3")}\trefs/tags/v1.0.0^{}`,
      `${sha("4")}\trefs/tags/v1.2.0`,
      `${sha("5")}\trefs/tags/v2.0.0`,
      `${sha("6")}\trefs/tags/v1.3.0-rc.1`,
      `${sha("7")}\trefs/tags/not-a-version`,
      `${sha("8")}\trefs/pull/4/head`,
    ].join("\n"),
  )

  it("peels annotated tags to their commit", () => {
    expect(resolveRef({ kind: "tag", tag: "v1.0.0" }, refs)).toMatchObject({
      commit: sha("3"),
      display: "v1.0.0",
    })
  })

  it("picks the highest tag in a semver range, skipping pre-releases", () => {
    expect(resolveRef({ kind: "semver", range: "^1.0.0" }, refs)).toMatchObject({
      commit: sha("4"),
      display: "v1.2.0",
      fetchRef: "refs/tags/v1.2.0",
    })
    expect(resolveRef({ kind: "semver", range: ">=3" }, refs)).toBeUndefined()
  })

  it("keeps the full name for ref.name and resolves branches", () => {
    expect(resolveRef({ kind: "name", name: "refs/pull/4/head" }, refs)).toMatchObject({
      commit: sha("8"),
      display: "refs/pull/4/head",
    })
    expect(resolveRef({ kind: "branch", branch: "main" }, refs)).toMatchObject({ commit: sha("1") })
    expect(resolveRef({ kind: "branch", branch: "nope" }, refs)).toBeUndefined()
  })
})

describe("revisions", () => {
  it("are written in Flux's form", () => {
    expect(revisionOf("main", sha("a"))).toBe(`main@sha1:${sha("a")}`)
    expect(revisionOf("refs/heads/main", sha("a"))).toBe(`refs/heads/main@sha1:${sha("a")}`)
    expect(revisionOf(undefined, sha("a"))).toBe(`sha1:${sha("a")}`)
    expect(revisionOf(undefined, "b".repeat(64))).toBe(`sha256:${"b".repeat(64)}`)
  })

  it("give back their commit", () => {
    expect(commitOfRevision(`main@sha1:${sha("a")}`)).toBe(sha("a"))
    expect(commitOfRevision(`sha1:${sha("b")}`)).toBe(sha("b"))
    expect(commitOfRevision(`main/${sha("c")}`)).toBe(sha("c"))
  })

  it("read tags like Flux's semver library", () => {
    expect(tagVersion("v1.2")).toBe("1.2.0")
    expect(tagVersion("1.2.3-rc.1")).toBe("1.2.3-rc.1")
    expect(tagVersion("release-1")).toBeUndefined()
  })
})
