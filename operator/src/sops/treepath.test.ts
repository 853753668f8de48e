/**
 * sops' index paths and tree edits (`TreeBranch.Set`/`Unset`) and key strings (`MasterKey.ToString`), with the
 * cases the CLI tests against the real sops do not reach (KMS keys, comments in lists, quirks of the parser).
 */
import { describe, expect, it } from "vitest"
import { diffKeyGroups, keyString } from "./keydiff.ts"
import { branch, comment, float, list } from "./tree.ts"
import { KeyNotFound, parseTreePath, setPath, TreePathError, unsetPath, valueFromJson } from "./treepath.ts"

describe("parseTreePath", () => {
  it("reads keys and indices as sops does", () => {
    expect(parseTreePath("[\"a\"][0]['b']")).toEqual(["a", 0, "b"])
    expect(parseTreePath("")).toEqual([])
    for (const bad of ["a", '["a"', "[x]", "[-1]", '["a"]x'])
      expect(() => parseTreePath(bad)).toThrow(TreePathError)
  })
})

describe("set and unset", () => {
  const doc = branch([
    { key: "a", value: "x" },
    { key: "l", value: list([comment(" c"), "one"]) },
  ])
  it("counts comments in list positions, appends past the end, reports changes", () => {
    const [d1, c1] = setPath(doc, ["l", 1], "ONE")
    expect(c1).toBe(true)
    expect(d1.items[1]!.value).toEqual(list([comment(" c"), "ONE"]))
    const [, same] = setPath(doc, ["a"], "x")
    expect(same).toBe(false)
    const [d2] = setPath(doc, ["l", 9], "two")
    expect(d2.items[1]!.value).toEqual(list([comment(" c"), "one", "two"]))
    // an int and a float are different values, as Go's interface comparison says
    const [, changed] = setPath(branch([{ key: "n", value: 5n }]), ["n"], float(5))
    expect(changed).toBe(true)
  })
  it("unsets, and names what is missing", () => {
    expect(unsetPath(doc, ["a"]).items.map((i) => i.key)).toEqual(["l"])
    expect(() => unsetPath(doc, ["zz"])).toThrow(new KeyNotFound("Key not found: zz"))
    expect(() => unsetPath(doc, ["l", 5])).toThrow(new KeyNotFound("Index 5 out of bounds"))
    expect(() => unsetPath(doc, ["a", "b"])).toThrow("Unsupported type: string for item 'b'")
  })
  it("reads JSON values as sops: numbers as floats, mappings through the JSON store, lists refused", () => {
    expect(valueFromJson("5")).toEqual(float(5))
    expect(valueFromJson('"s"')).toBe("s")
    expect(valueFromJson("null")).toBe(null)
    expect(valueFromJson('{"i": 1}')).toEqual(branch([{ key: "i", value: 1n }]))
    expect(() => valueFromJson("[1]")).toThrow("Invalid --set value format")
    expect(() => valueFromJson("nope")).toThrow("Value for --set is not valid JSON")
  })
})

describe("keyString and diffKeyGroups", () => {
  it("names keys as sops' ToString, KMS with sorted context and profile", () => {
    expect(
      keyString({
        type: "kms",
        arn: "arn:aws:kms:eu-west-1:1:key/k",
        role: "arn:aws:iam::1:role/r",
        context: { b: "2", a: "1" },
        awsProfile: "",
      }),
    ).toBe("arn:aws:kms:eu-west-1:1:key/k+arn:aws:iam::1:role/r|a:1,b:2")
    expect(keyString({ type: "kms", arn: "arn:k", role: "", context: {}, awsProfile: "dev" })).toBe(
      "arn:k||dev",
    )
    expect(
      keyString({ type: "hc_vault", vaultAddress: "https://v:8200", enginePath: "transit", keyName: "k" }),
    ).toBe("https://v:8200/v1/transit/keys/k")
  })
  it("diffs group by group up to the longer list", () => {
    const a = { type: "age" as const, recipient: "age1a" }
    const b = { type: "age" as const, recipient: "age1b" }
    expect(diffKeyGroups([[a]], [[a, b], [b]])).toEqual([
      { common: [a], added: [b], removed: [] },
      { common: [], added: [b], removed: [] },
    ])
  })
})
